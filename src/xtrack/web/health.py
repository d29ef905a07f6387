"""Liveness of the process and its database."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from xtrack import __version__
from xtrack.db import get_database

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Process and database health")
async def healthz() -> JSONResponse:
    database_ok = True
    try:
        async with get_database().engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception:  # any failure means "not healthy"; the reason is not for the public
        database_ok = False
    body = {
        "status": "ok" if database_ok else "error",
        "version": __version__,
        "database": "ok" if database_ok else "error",
    }
    return JSONResponse(body, status_code=200 if database_ok else 503)

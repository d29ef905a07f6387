"""Liveness (``/healthz``), readiness (``/readyz``) and Prometheus metrics (``/metrics``)."""

from __future__ import annotations

import asyncio
import ipaddress
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy import text

from xtrack import __version__, metrics
from xtrack.config import Settings
from xtrack.db import utcnow
from xtrack.ops import gauges, probes
from xtrack.web.deps import database_of

router = APIRouter(tags=["health"])

# Headers a reverse proxy adds: a request that carries one did not come from this host.
FORWARDED_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


@router.get("/healthz", summary="Process and database health")
async def healthz(request: Request) -> JSONResponse:
    database_ok = True
    try:
        async with database_of(request).engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception:  # any failure means "not healthy"; the reason is not for the public
        database_ok = False
    body = {
        "status": "ok" if database_ok else "error",
        "version": __version__,
        "database": "ok" if database_ok else "error",
    }
    return JSONResponse(body, status_code=200 if database_ok else 503)


@router.get(
    "/readyz",
    summary="Ready to serve: database, broker (celery) and a live scheduler",
    responses={503: {"description": "Something the service needs is down; the body names it"}},
)
async def readyz(request: Request) -> JSONResponse:
    """200 when the database answers, the broker accepts a connection (XTRACK_EXECUTOR=celery) and a
    scheduler ticked recently; otherwise 503 with ``failed`` naming each check that did not pass.
    Reasons are generic for the public; the operator's view is ``xtrack doctor``."""
    settings: Settings = request.app.state.settings
    database = database_of(request)
    now = utcnow()
    checks: dict[str, asyncio.Task[str | None]] = {"database": asyncio.create_task(probes.database(database))}
    if settings.executor == "celery" and settings.broker_url:
        checks["broker"] = asyncio.create_task(probes.broker(settings.broker_url))
    checks["scheduler"] = asyncio.create_task(probes.scheduler(database, settings, now=now))
    await asyncio.gather(*checks.values())
    results = {name: task.result() for name, task in checks.items()}
    failed = sorted(name for name, problem in results.items() if problem is not None)
    body: dict[str, object] = {
        "status": "ok" if not failed else "error",
        "version": __version__,
        "checks": {name: "ok" if problem is None else "error" for name, problem in results.items()},
    }
    if failed:
        body["failed"] = failed
        if "scheduler" in failed and results["scheduler"] and "database" not in failed:
            body["scheduler"] = results["scheduler"]  # only ages, never secrets
    return JSONResponse(body, status_code=200 if not failed else 503)


def _is_loopback(request: Request) -> bool:
    if any(name in request.headers for name in FORWARDED_HEADERS):
        return False
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def metrics_refusal(request: Request, settings: Settings) -> Response | None:
    """None when the caller may read /metrics (see ``xtrack.metrics``), else the refusal."""
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and secrets.compare_digest(given.strip().encode(), token.encode()):
            return None
        return JSONResponse(
            {"detail": "Send 'Authorization: Bearer <XTRACK_METRICS_TOKEN>'."},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    if _is_loopback(request):
        return None
    return JSONResponse({"detail": "Not Found"}, status_code=404)


@router.get(
    "/metrics",
    summary="Prometheus metrics (bearer XTRACK_METRICS_TOKEN, or loopback only when unset)",
    response_class=PlainTextResponse,
    responses={401: {"description": "Wrong or missing metrics token"}, 404: {"description": "Not here"}},
    include_in_schema=False,
)
async def metrics_endpoint(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    refusal = metrics_refusal(request, settings)
    if refusal is not None:
        return refusal
    body = await gauges.render(database_of(request), now=utcnow())
    return Response(body, media_type=metrics.CONTENT_TYPE, headers={"Cache-Control": "no-store"})

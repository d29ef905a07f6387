"""The FastAPI application: pages and the JSON API over the same services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from xtrack import __version__
from xtrack.config import Settings, get_settings
from xtrack.db import Database
from xtrack.runtime import Runtime
from xtrack.web import health, pages, routes
from xtrack.web.body_limit import BodyLimitMiddleware
from xtrack.web.docs import install_docs
from xtrack.web.errors import install_error_handlers
from xtrack.web.methods import AllowMiddleware
from xtrack.web.security import SecurityHeadersMiddleware

STATIC_DIR = Path(__file__).parent / "static"


# Any API call can meet a database that is restarting or out of connections: the client is told to
# come back (docs/guarantees.md), so every operation declares it.
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {
        "description": "The database is unavailable for a moment or busy: try again after Retry-After",
        "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
    }
}


def _api_router() -> APIRouter:
    api = APIRouter(prefix="/api/v1", responses=UNAVAILABLE)
    for router in routes.API_ROUTERS:
        api.include_router(router)
    return api


def create_app(
    settings: Settings | None = None, *, database: Database | None = None, background: bool = False
) -> FastAPI:
    """Build the app. Its lifespan opens the process's runtime: ``background=True`` (``xtrack
    serve``) also runs the scheduler and the local executor inside this process. A caller that owns
    a ``database`` (tests, benchmarks) passes it: the app uses it from the start and leaves it open.
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await Runtime.open(settings, database=database, scheduler=background)
        app.state.database = runtime.database
        app.state.executor = runtime.executor  # manual runs are handed out at once
        try:
            yield
        finally:
            await runtime.close()

    app = FastAPI(
        title="XTrack",
        version=__version__,
        description="Follow X accounts and get topic-focused summaries on a schedule.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.executor = None
    # The last added is the outermost: the 413 of an oversized body gets the security headers too.
    app.add_middleware(AllowMiddleware, routes=app.router.routes)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.env == "production")
    install_error_handlers(app)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    install_docs(app)
    app.include_router(health.router)
    app.include_router(_api_router())
    for router in routes.PAGE_ROUTERS:
        app.include_router(router)
    app.include_router(pages.router)
    return app

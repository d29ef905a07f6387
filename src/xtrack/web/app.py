"""The FastAPI application: pages and the JSON API over the same services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from xtrack import __version__
from xtrack.config import Settings, get_settings
from xtrack.db import get_database, init_database, set_database
from xtrack.web import health, pages, routes
from xtrack.web.docs import install_docs
from xtrack.web.errors import install_error_handlers
from xtrack.web.security import SecurityHeadersMiddleware

STATIC_DIR = Path(__file__).parent / "static"


def _api_router() -> APIRouter:
    api = APIRouter(prefix="/api/v1")
    for router in routes.API_ROUTERS:
        api.include_router(router)
    return api


def create_app(
    settings: Settings | None = None, *, manage_database: bool = True, background: bool = False
) -> FastAPI:
    """Build the app.

    ``manage_database=False`` when the caller (a test) owns the engine; ``background=True`` (``xtrack
    serve``) also runs the scheduler and the local executor inside this process.
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if manage_database:
            init_database(settings.database_url)
        engine_loop = None
        if background:
            from xtrack.executions.background import Background

            engine_loop = Background(get_database(), settings)
            await engine_loop.start()
            app.state.executor = engine_loop.executor  # manual runs are handed out at once
        broker = None
        if not background and settings.executor == "celery":
            # ``xtrack web`` with Celery workers: manual runs go to the broker at once rather than
            # waiting for a scheduler tick.
            from xtrack.executions.executors import get_executor

            broker = app.state.executor = get_executor(settings)
        try:
            yield
        finally:
            if broker is not None:
                await broker.stop()
            if engine_loop is not None:
                await engine_loop.stop()
            if manage_database:
                await get_database().dispose()
                set_database(None)

    app = FastAPI(
        title="XTrack",
        version=__version__,
        description="Follow X accounts and get topic-focused summaries on a schedule.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.add_middleware(SecurityHeadersMiddleware)
    install_error_handlers(app)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    install_docs(app)
    app.include_router(health.router)
    app.include_router(_api_router())
    for router in routes.PAGE_ROUTERS:
        app.include_router(router)
    app.include_router(pages.router)
    return app

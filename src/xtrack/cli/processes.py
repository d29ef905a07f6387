"""The long-running processes: ``xtrack serve`` (all in one), ``web``, ``scheduler`` and ``worker``.
Each opens its resources through the runtime and closes them on SIGTERM or Ctrl-C."""

# The CLI imports what a command needs inside that command: `xtrack --help` or `xtrack users list`
# should not load the web app, Celery, Alembic and the engine (0.7 s instead of 2.5 s per command).
from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from xtrack import __version__
from xtrack.cli.base import app, err_console, fail, migrate_or_exit, schema_or_exit, settings_or_exit
from xtrack.config import LOG_LEVELS, Settings
from xtrack.observability import setup_logging


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (XTRACK_HOST).")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port to listen on (XTRACK_PORT).")
    ] = None,
) -> None:
    """Migrate, then run everything in one process: web, scheduler and local executor."""
    settings = settings_or_exit()
    migrate_or_exit(settings)
    _run_web(settings, host or settings.host, port or settings.port, background=True)


@app.command()
def web(
    host: Annotated[str | None, typer.Option(help="Address to bind (XTRACK_HOST).")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port to listen on (XTRACK_PORT).")
    ] = None,
) -> None:
    """Run the web process only (pages and API); schedulers and workers run separately."""
    settings = settings_or_exit()
    if settings.env == "production" and not settings.redis_url:
        # Several web processes must share sign-in rate limits: in-process memory would not.
        raise fail(
            "XTRACK_REDIS_URL is required when XTRACK_ENV=production "
            "(rate limits are shared by every web process)",
            code=2,
        )
    schema_or_exit(settings)
    _run_web(settings, host or settings.host, port or settings.port, background=False)


def _exit_cleanly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _check_address_free(host: str, port: int) -> None:
    """One line and exit 1 when the address cannot be bound (uvicorn would log a start, the error and a
    shutdown, and exit 3)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror} (XTRACK_HOST, --host)") from None
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            raise fail(
                f"cannot listen on {host}:{port}: {(exc.strerror or str(exc)).lower()} "
                "(another process has it? choose another with --port or XTRACK_PORT)"
            ) from None


def _run_web(settings: Settings, host: str, port: int, *, background: bool) -> None:
    import uvicorn

    from xtrack.web.app import create_app

    setup_logging(settings.log_format, settings.log_level)
    _check_address_free(host, port)
    application = create_app(settings, background=background)
    err_console.print(f"XTrack {__version__} listening on http://{host}:{port}", highlight=False)
    # SIGTERM/SIGINT: uvicorn stops accepting, finishes the requests in flight (at most 30 s) and runs
    # the shutdown, then re-raises the signal to the handler found at start: exit 0, like the others.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_cleanly)
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
        # The client address behind a load balancer: rate limits count clients, not the proxy.
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )


@app.command()
def scheduler() -> None:
    """Run the dispatcher and the reaper until SIGTERM/SIGINT; with XTRACK_EXECUTOR=local the
    executions run in this process too. Any number of schedulers may run at once."""
    from xtrack.runtime import Runtime

    settings = settings_or_exit()
    setup_logging(settings.log_format, settings.log_level)
    schema_or_exit(settings)

    async def run_scheduler() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        runtime = await Runtime.open(settings, scheduler=True)
        try:
            err_console.print(
                f"XTrack scheduler running (executor {settings.executor}, "
                f"tick {settings.scheduler_tick_seconds:g} s); Ctrl-C or SIGTERM stops it",
                highlight=False,
            )
            await stop.wait()
            err_console.print("stopping: finishing or releasing runs in flight", highlight=False)
        finally:
            await runtime.close()

    try:
        asyncio.run(run_scheduler())
    except OSError as exc:
        raise fail(f"cannot reach the database ({exc})") from None


def _log_level(value: str | None) -> str | None:
    """Typer callback: the level upper-cased, or a usage error listing the levels."""
    if value is None or value.upper() in LOG_LEVELS:
        return None if value is None else value.upper()
    raise typer.BadParameter(f"{value!r} is not one of {', '.join(LOG_LEVELS)}")


@app.command()
def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Executions in flight in this process (XTRACK_EXECUTOR_CONCURRENCY)."),
    ] = None,
    loglevel: Annotated[
        str | None,
        typer.Option(callback=_log_level, help="DEBUG, INFO, WARNING or ERROR (XTRACK_LOG_LEVEL)."),
    ] = None,
) -> None:
    """Run a Celery worker (XTRACK_EXECUTOR=celery) until SIGTERM/SIGINT: a warm shutdown lets the
    runs in flight finish. Any number of workers may run, on any number of machines."""
    from xtrack.worker import run_worker

    settings = settings_or_exit()
    if settings.executor != "celery":
        raise fail(
            "XTRACK_EXECUTOR must be celery for `xtrack worker` "
            "(with local, the scheduler runs the executions itself)",
            code=2,
        )
    level = (loglevel or settings.log_level).upper()
    setup_logging(settings.log_format, level)
    schema_or_exit(settings)
    try:
        code = run_worker(settings, concurrency=concurrency, loglevel=level)
    except OSError as exc:
        raise fail(f"cannot reach the database ({exc})") from None
    if code:
        raise typer.Exit(code)

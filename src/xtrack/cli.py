"""The ``xtrack`` command: a thin shell over the services."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import DBAPIError

from xtrack import __version__
from xtrack.config import ConfigError, Settings, get_settings
from xtrack.db import Database, create_engine
from xtrack.errors import XTrackError

T = TypeVar("T")

app = typer.Typer(
    name="xtrack",
    help="Follow X accounts and get topic-focused summaries on a schedule.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one line to stderr and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def settings_or_exit() -> Settings:
    try:
        return get_settings()
    except ConfigError as exc:
        raise fail(f"configuration: {exc}", code=2) from None


def run_with_database(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``work`` with a database, turning domain errors into one-line messages."""

    async def runner() -> T:
        database = Database(create_engine(settings.database_url, pool_size=2))
        from xtrack.db import set_database

        set_database(database)
        try:
            return await work(database)
        finally:
            set_database(None)
            await database.dispose()

    try:
        return asyncio.run(runner())
    except XTrackError as exc:
        raise fail(exc.message) from None
    except OSError as exc:
        raise fail(f"cannot reach the database ({exc})") from None
    except DBAPIError as exc:
        raise fail(database_error(exc)) from None


def database_error(exc: DBAPIError) -> str:
    """One line for a database error a command cannot go on from (never a traceback)."""
    text = str(exc.orig or exc).strip()
    detail = text.splitlines()[0] if text else type(exc).__name__
    if "no such table" in detail or ("relation" in detail and "does not exist" in detail):
        return f"the database has no XTrack tables yet: run `xtrack db upgrade` ({detail})"
    return f"database error: {detail}"


def migrate_or_exit(settings: Settings) -> None:
    from xtrack import migrate

    try:
        migrate.upgrade(settings.database_url)
    except OSError as exc:
        raise fail(f"cannot reach the database at XTRACK_DATABASE_URL ({exc})") from None
    except Exception as exc:  # alembic/driver errors: one line, never a traceback
        raise fail(f"migration failed: {type(exc).__name__}: {exc}".splitlines()[0]) from None


def version_callback(value: bool) -> None:
    if value:
        console.print(f"xtrack {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """XTrack command line."""


def schema_or_exit(settings: Settings) -> None:
    """Refuse to start a long-running process on a database that is not migrated (it would log a
    traceback on every request or tick): one line saying what to run."""
    from xtrack import migrate

    try:
        behind = migrate.pending(settings.database_url)
    except OSError as exc:
        raise fail(f"cannot reach the database at XTRACK_DATABASE_URL ({exc})") from None
    except DBAPIError as exc:
        raise fail(database_error(exc)) from None
    if behind is not None:
        raise fail(f"the database is not migrated ({behind}): run `xtrack db upgrade`")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (XTRACK_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (XTRACK_PORT).")] = None,
) -> None:
    """Migrate, then run everything in one process: web, scheduler and local executor."""
    settings = settings_or_exit()
    migrate_or_exit(settings)
    _run_web(settings, host or settings.host, port or settings.port, background=True)


@app.command()
def web(
    host: Annotated[str | None, typer.Option(help="Address to bind (XTRACK_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (XTRACK_PORT).")] = None,
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


def _run_web(settings: Settings, host: str, port: int, *, background: bool) -> None:
    import uvicorn

    from xtrack.observability import setup_logging
    from xtrack.web.app import create_app

    setup_logging(settings.log_format, settings.log_level)
    application = create_app(settings, background=background)
    err_console.print(f"XTrack {__version__} listening on http://{host}:{port}", highlight=False)
    # SIGTERM/SIGINT: uvicorn stops accepting, finishes the requests in flight (at most 30 s) and runs
    # the shutdown, then re-raises the signal to the handler found at start: exit 0, like the others.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_cleanly)
    uvicorn.run(
        application, host=host, port=port, log_config=None, access_log=False, timeout_graceful_shutdown=30
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    settings = settings_or_exit()
    migrate_or_exit(settings)
    console.print("database is up to date")


@db_app.command("check")
def db_check() -> None:
    """Fail when the models and the migrations disagree."""
    from alembic.util import AutogenerateDiffsDetected

    from xtrack import migrate

    settings = settings_or_exit()
    try:
        migrate.check(settings.database_url)
    except AutogenerateDiffsDetected as exc:
        raise fail(f"models and migrations disagree: {exc}".splitlines()[0]) from None
    except Exception as exc:
        raise fail(f"check failed: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    console.print("models and migrations agree")


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@users_app.command("create")
def users_create(
    email: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an administrator.")] = False,
) -> None:
    """Create an ACTIVE user (password prompted, or read with --password-stdin)."""
    from xtrack.users import service as users_service
    from xtrack.users.models import UserStatus

    settings = settings_or_exit()
    try:
        normalized = users_service.normalize_email(email)
    except XTrackError as exc:
        raise fail(exc.message) from None
    password = _read_password(password_stdin)

    async def work(database: Database) -> int:
        async with database.session() as session:
            user = await users_service.create(
                session, email=normalized, password=password, status=UserStatus.ACTIVE, is_admin=admin
            )
            return user.id

    user_id = run_with_database(settings, work)
    console.print(f"created user {normalized} (id {user_id}, ACTIVE{', admin' if admin else ''})")


@users_app.command("list")
def users_list(search: Annotated[str | None, typer.Option(help="Filter by email.")] = None) -> None:
    """List users."""
    from xtrack.users import service as users_service

    settings = settings_or_exit()

    async def work(database: Database) -> list[tuple[str, ...]]:
        async with database.session() as session:
            users = await users_service.list_users(session, search=search)
            return [
                (str(u.id), u.email, u.status, "yes" if u.is_admin else "", u.created_at.strftime("%Y-%m-%d"))
                for u in users
            ]

    rows = run_with_database(settings, work)
    table = Table("id", "email", "status", "admin", "created")
    for row in rows:
        table.add_row(*row)
    console.print(table if rows else "no users yet")


def _change_user(email: str, change: str) -> str:
    """Apply ``change`` (suspend, activate, make-admin) to the user with ``email``; the line to print."""
    from xtrack.users import service as users_service

    settings = settings_or_exit()

    async def work(database: Database) -> str:
        async with database.session() as session:
            user = await users_service.get_by_email_or_404(session, email)
            if change == "suspend":
                await users_service.suspend(session, user=user)
                return f"suspended {user.email}: every session and API token is revoked"
            if change == "activate":
                await users_service.activate(session, user=user)
                return f"activated {user.email} (ACTIVE)"
            await users_service.make_admin(session, user=user)
            return f"{user.email} is now an administrator"

    return run_with_database(settings, work)


@users_app.command("suspend")
def users_suspend(email: str) -> None:
    """Suspend a user: they cannot sign in, and their sessions and API tokens stop working at once."""
    console.print(_change_user(email, "suspend"))


@users_app.command("activate")
def users_activate(email: str) -> None:
    """Make a user ACTIVE (lifts a suspension, or confirms an unverified email)."""
    console.print(_change_user(email, "activate"))


@users_app.command("make-admin")
def users_make_admin(email: str) -> None:
    """Give a user the administrator role (the /admin pages)."""
    console.print(_change_user(email, "make-admin"))


@app.command()
def scheduler() -> None:
    """Run the dispatcher and the reaper until SIGTERM/SIGINT; with XTRACK_EXECUTOR=local the
    executions run in this process too. Any number of schedulers may run at once."""
    import signal

    from xtrack.observability import setup_logging

    settings = settings_or_exit()
    setup_logging(settings.log_format, settings.log_level)
    schema_or_exit(settings)

    async def run_scheduler() -> None:
        from xtrack.db import set_database
        from xtrack.executions.background import Background

        database = Database(
            create_engine(settings.database_url, pool_size=max(2, min(50, settings.executor_concurrency)))
        )
        set_database(database)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        engine = Background(database, settings)
        try:
            await engine.start()
            err_console.print(
                f"XTrack scheduler running (executor {settings.executor}, "
                f"tick {settings.scheduler_tick_seconds:g} s); Ctrl-C or SIGTERM stops it",
                highlight=False,
            )
            await stop.wait()
            err_console.print("stopping: finishing or releasing runs in flight", highlight=False)
        finally:
            await engine.stop()
            set_database(None)
            await database.dispose()

    try:
        asyncio.run(run_scheduler())
    except OSError as exc:
        raise fail(f"cannot reach the database ({exc})") from None


@app.command()
def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Executions in flight in this process (XTRACK_EXECUTOR_CONCURRENCY)."),
    ] = None,
    loglevel: Annotated[
        str | None, typer.Option(help="DEBUG, INFO, WARNING or ERROR (XTRACK_LOG_LEVEL).")
    ] = None,
) -> None:
    """Run a Celery worker (XTRACK_EXECUTOR=celery) until SIGTERM/SIGINT: a warm shutdown lets the
    runs in flight finish. Any number of workers may run, on any number of machines."""
    from xtrack.observability import setup_logging

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
    from xtrack.executions.executors.celery import run_worker

    try:
        code = run_worker(settings, concurrency=concurrency, loglevel=level)
    except OSError as exc:
        raise fail(f"cannot reach the database ({exc})") from None
    if code:
        raise typer.Exit(code)


@app.command()
def demo() -> None:
    """Create a demo user with three jobs and their first runs (once); print how to sign in."""
    from xtrack.ops.demo import ensure_demo

    settings = settings_or_exit()
    migrate_or_exit(settings)
    result = run_with_database(settings, lambda database: ensure_demo(database, settings))
    console.print("[bold]XTrack demo[/] [dim](demo data on the offline demo source; not a real account)[/]")
    console.print(f"  Address:   {settings.base_url}", highlight=False)
    console.print(f"  Email:     {result.email}", highlight=False)
    if result.password is not None:
        console.print(
            f"  Password:  {result.password}   [dim](shown once: it is stored hashed)[/]", highlight=False
        )
    else:
        console.print(
            "  Password:  [dim](set when the demo was created; use the sign-in link)[/]", highlight=False
        )
    console.print(
        f"  Sign in:   {result.login_url}   [dim](single use, 24 h)[/]", highlight=False, soft_wrap=True
    )
    if result.created:
        console.print(
            f"  Created {result.jobs} jobs and ran {result.executions} first executions.", highlight=False
        )
    else:
        console.print("  The demo already exists: nothing new was created.", highlight=False)


_PLAYGROUND_OPTIONS = {
    "x_username": "USERNAME",
    "topics": "--topics",
    "hours_back": "--hours",
    "language": "--language",
}


@app.command()
def playground(
    username: Annotated[str, typer.Argument(help="The X account to read, with or without @.")],
    topics: Annotated[str, typer.Option("--topics", help="Comma-separated topics, e.g. ai,chips.")] = "",
    hours: Annotated[int, typer.Option("--hours", help="How far back to read, in hours (1-168).")] = 24,
    language: Annotated[str, typer.Option("--language", help="Language of the summary.")] = "en",
    user: Annotated[
        str | None,
        typer.Option("--user", help="Run as this user: in their history, counted in their quota."),
    ] = None,
) -> None:
    """Run the pipeline once on an account and print the summary (recorded as a playground run;
    without --user it runs as the local operator: no quota, in nobody's history)."""
    from pydantic import ValidationError
    from rich.markdown import Markdown
    from rich.text import Text

    from xtrack.executions.models import ExecutionStatus
    from xtrack.observability import setup_logging
    from xtrack.playground.schemas import PlaygroundRunCreate
    from xtrack.playground.service import PlaygroundRun
    from xtrack.playground.tasks import run_once
    from xtrack.web.presenters import format_cost, format_tokens, pluralize

    settings = settings_or_exit()
    try:
        data = PlaygroundRunCreate(
            x_username=username, topics=topics.split(","), hours_back=hours, language=language
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        option = _PLAYGROUND_OPTIONS.get(str(first["loc"][0]) if first["loc"] else "", "input")
        raise fail(f"{option}: {str(first['msg']).removeprefix('Value error, ')}", code=2) from None

    # The terminal shows the spinner and the result; the run's log lines only when debugging.
    setup_logging(settings.log_format, "DEBUG" if settings.log_level.upper() == "DEBUG" else "ERROR")
    migrate_or_exit(settings)  # as `serve` and `demo`: on a laptop this may be the first command

    async def work(database: Database) -> PlaygroundRun:
        with err_console.status(f"Reading @{data.x_username} and summarizing…"):
            return await run_once(database, settings, data=data, user_email=user)

    run = run_with_database(settings, work)
    name = f"@{data.x_username}"
    if run.status != ExecutionStatus.COMPLETED.value:
        reason = " ".join((run.error_message or run.status.lower()).split())
        if name.lower() not in reason.lower():
            reason = f"{name}: {reason}"
        raise fail(f"{reason} ({run.error_kind or run.status.lower()})")
    if run.summary is None:
        console.print(f"{name} posted nothing in the last {pluralize(hours, 'hour')}.", highlight=False)
        return
    summary = run.summary
    facts = [pluralize(run.tweets_fetched, "post"), summary.model or "unknown model"]
    if summary.input_tokens or summary.output_tokens:
        facts.append(f"{format_tokens(summary.input_tokens, summary.output_tokens)} tokens")
    facts += [format_cost(summary.cost), f"run {run.id}"]
    console.print(Markdown(summary.content))
    console.print()
    console.print(Text(" · ".join(facts), style="dim"))


maintenance_app = typer.Typer(help="Housekeeping: retention.", no_args_is_help=True)
app.add_typer(maintenance_app, name="maintenance")


@maintenance_app.command("prune")
def maintenance_prune() -> None:
    """Apply the retention settings now: old executions and unneeded posts (summaries are kept)."""
    from xtrack.db import utcnow
    from xtrack.ops.maintenance import prune

    settings = settings_or_exit()
    result = run_with_database(settings, lambda database: prune(database, settings, now=utcnow()))
    console.print(
        f"pruned {result.executions_deleted} executions (older than {settings.retention_days} days or "
        f"beyond {settings.retention_max_runs_per_job} per job), {result.posts_deleted} posts (older than "
        f"{settings.post_retention_days} days, no job needing them; {result.accounts_advanced} accounts "
        f"moved their coverage), {result.heartbeats_deleted} old scheduler heartbeats",
        highlight=False,
    )


@app.command("export")
def export_command(
    user: Annotated[str, typer.Option("--user", help="Email of the user whose summaries to export.")],
    fmt: Annotated[str, typer.Option("--format", help="json or md (Markdown).")] = "json",
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="File to write (default: standard output).")
    ] = None,
    job: Annotated[int | None, typer.Option("--job", help="Only this job's summaries.")] = None,
) -> None:
    """Export a user's summaries as JSON or Markdown, newest first."""
    from pathlib import Path

    from xtrack.db import utcnow
    from xtrack.summaries import export
    from xtrack.summaries.service import SummaryFilters
    from xtrack.users import service as users_service

    if fmt not in ("json", "md"):
        raise fail(f"--format must be json or md, not {fmt!r}", code=2)
    settings = settings_or_exit()

    async def work(database: Database) -> int:
        async with database.session() as session:
            owner = await users_service.get_by_email_or_404(session, user)
            owner_id, email = owner.id, owner.email
        chunks = export.stream(
            "json" if fmt == "json" else "md",
            database,
            owner_id=owner_id,
            email=email,
            filters=SummaryFilters(job_id=job),
            now=utcnow(),
        )
        written = 0
        if output is None:
            async for chunk in chunks:
                sys.stdout.buffer.write(chunk)
                written += len(chunk)
            sys.stdout.buffer.flush()
            return written
        with Path(output).open("wb") as file:  # noqa: ASYNC230 - a local file, written chunk by chunk
            async for chunk in chunks:
                file.write(chunk)
                written += len(chunk)
        return written

    written = run_with_database(settings, work)
    if output is not None:
        err_console.print(f"wrote {written} bytes to {output}", highlight=False)


@app.command()
def doctor() -> None:
    """Check the configuration, database, broker, source, LLM and SMTP; exit 1 if something required fails."""
    from rich.markup import escape

    from xtrack.ops import doctor as doctor_checks

    report = asyncio.run(doctor_checks.run())
    table = Table("", "Check", "Result", "Hint", title="XTrack doctor", title_justify="left")
    for check in report.checks:
        table.add_row(
            doctor_checks.SYMBOLS[check.mark], escape(check.name), escape(check.detail), escape(check.hint)
        )
    console.print(table, highlight=False)
    if report.ok:
        console.print("[green]everything XTrack needs is in order[/]")
        return
    failed = ", ".join(check.name for check in report.checks if check.failed)
    raise fail(f"failed: {failed}")


def main() -> None:
    app()

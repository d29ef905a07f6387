"""``xtrack doctor``: is this installation able to work? One line per check, each with a hint.

Checks, in order: configuration, secret key, data directory, database, migrations, broker (celery),
scheduler heartbeat, post source credentials (one cheap call), LLM reachability, SMTP (connect,
EHLO, STARTTLS and login when configured; no mail is sent), and the open networks (Bluesky, each
Mastodon server) that active jobs follow (``ops.networks``). A check that cannot run because an
earlier one failed is skipped. ``ok`` is False when a required check failed.

Nothing printed contains a secret: messages from clients and servers go through ``redact_text``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

import aiosmtplib
import httpx
from alembic.script import ScriptDirectory
from sqlalchemy import text

from xtrack.config import ConfigError, Settings, load_settings
from xtrack.db import Database, create_engine
from xtrack.mail import parse_smtp_url
from xtrack.migrate import alembic_config
from xtrack.observability import redact_text
from xtrack.ops import probes
from xtrack.ops.networks import accounts_in_use, check_networks
from xtrack.posts import limits as posts_limits
from xtrack.sources.base import (
    AccountInfo,
    AccountNotFound,
    AccountUnavailable,
    BadCredentials,
    QuotaExhausted,
    SourceRateLimited,
    TransientSourceError,
)
from xtrack.sources.handles import Network
from xtrack.sources.registry import build_source
from xtrack.summarize.anthropic import ANTHROPIC_VERSION, AnthropicSummarizer
from xtrack.summarize.openai import OpenAISummarizer

SOURCE_PROBE_USERNAME = "XDevelopers"
HTTP_TIMEOUT = 10.0


class Mark(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


SYMBOLS = {
    Mark.OK: "[green]✓[/]",
    Mark.WARN: "[yellow]![/]",
    Mark.FAIL: "[bold red]✗[/]",
    Mark.SKIP: "[dim]\u2013[/]",
}


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    mark: Mark
    detail: str
    hint: str = ""
    required: bool = True

    @property
    def failed(self) -> bool:
        return self.mark is Mark.FAIL and self.required


@dataclass(slots=True)
class Report:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(check.failed for check in self.checks)

    def add(self, check: Check) -> Check:
        self.checks.append(check)
        return check


def _clean(message: object) -> str:
    return redact_text(" ".join(str(message).split()))[:300]


def _error(exc: BaseException) -> str:
    text_ = _clean(exc)
    return f"{type(exc).__name__}: {text_}" if text_ else type(exc).__name__


# Individual checks --------------------------------------------------------------------------------


def check_secret_key(settings: Settings) -> Check:
    if settings.secret_key is not None:
        return Check("Secret key", Mark.OK, "XTRACK_SECRET_KEY is set", required=False)
    if settings.env == "production":  # refused by the settings already; kept for completeness
        return Check("Secret key", Mark.FAIL, "not set", "set XTRACK_SECRET_KEY to 32+ random characters")
    return Check(
        "Secret key",
        Mark.WARN,
        f"generated into {settings.data_dir / 'secret_key'} (development)",
        "set XTRACK_SECRET_KEY before running more than one process or in production",
        required=False,
    )


def check_data_dir(settings: Settings) -> Check:
    directory = settings.data_dir
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".doctor-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        return Check(
            "Data directory",
            Mark.FAIL,
            f"{directory}: {exc.strerror or exc}",
            "set XTRACK_DATA_DIR to a writable directory",
        )
    return Check("Data directory", Mark.OK, f"{directory} is writable", required=False)


def _sqlite_file(url: str) -> Path | None:
    if not url.startswith("sqlite") or ":memory:" in url:
        return None
    path = url.split(":///", 1)[-1]
    return Path(path) if path else None


async def check_database(database: Database, url: str) -> Check:
    file = _sqlite_file(url)
    if file is not None and not file.exists():
        # Connecting would create an empty file: say so instead.
        return Check(
            "Database", Mark.FAIL, f"{file} does not exist", "run `xtrack db upgrade` (or `xtrack serve`)"
        )
    problem = await probes.database(database, seconds=5.0)
    if problem is not None:
        return Check(
            "Database",
            Mark.FAIL,
            problem,
            "check XTRACK_DATABASE_URL (host, port, user, database) and that the server is running",
        )
    return Check("Database", Mark.OK, f"{database.dialect} answers")


def _head_revisions(url: str) -> set[str]:

    return set(ScriptDirectory.from_config(alembic_config(url)).get_heads())


async def check_migrations(database: Database, url: str) -> Check:
    heads = _head_revisions(url)
    try:
        async with database.engine.connect() as connection:
            current = set(
                (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars()
            )
    except Exception:
        current = set()
    if not current:
        return Check(
            "Migrations", Mark.FAIL, "the database has no XTrack schema yet", "run `xtrack db upgrade`"
        )
    if current != heads:
        return Check(
            "Migrations",
            Mark.FAIL,
            f"at {', '.join(sorted(current))}, the code expects {', '.join(sorted(heads))}",
            "run `xtrack db upgrade`",
        )
    return Check("Migrations", Mark.OK, f"at head ({', '.join(sorted(heads))})")


async def check_broker(settings: Settings) -> Check:
    if settings.executor != "celery" or not settings.broker_url:
        return Check("Broker", Mark.SKIP, "not used (XTRACK_EXECUTOR=local)", required=False)
    problem = await probes.broker(settings.broker_url, seconds=5.0)
    if problem is not None:
        return Check(
            "Broker", Mark.FAIL, problem, "check XTRACK_BROKER_URL and that Redis or RabbitMQ is running"
        )
    return Check("Broker", Mark.OK, f"{redact_text(settings.broker_url)} accepts connections")


async def check_scheduler(database: Database, settings: Settings, *, now: datetime) -> Check:
    problem = await probes.scheduler(database, settings, now=now)
    if problem is not None:
        return Check(
            "Scheduler",
            Mark.WARN,
            problem,
            "runs are only dispatched while `xtrack serve` or `xtrack scheduler` is running",
            required=False,
        )
    return Check("Scheduler", Mark.OK, "a scheduler ticked recently", required=False)


async def check_source_pause(database: Database, settings: Settings, *, now: datetime) -> Check:
    """A source paused because its quota is used up: every run fails fast until the reset."""
    async with database.session() as session:
        paused = await posts_limits.source_pauses(session, now=now)
    if not paused:
        return Check("Source quota", Mark.OK, "no source is paused", required=False)
    detail = "; ".join(
        f"{row.source}: {row.pause_reason or 'paused'} (paused until {row.paused_until:%Y-%m-%d %H:%M} UTC)"
        for row in paused
    )
    names = " ".join(row.source for row in paused)
    return Check(
        "Source quota",
        Mark.WARN,
        detail,
        f"top up the account, then `xtrack sources resume {names}` (or wait for the reset)",
        required=False,
    )


SOURCE_VARIABLES = {
    "x": (
        "XTRACK_X_BEARER_TOKEN",
        "XTRACK_X_API_URL",
        "an app-only bearer token from the X developer portal",
    ),
    "twitterapi": (
        "XTRACK_TWITTERAPI_KEY",
        "XTRACK_TWITTERAPI_URL",
        "the API key of your twitterapi.io account",
    ),
    "rss": ("XTRACK_RSS_URL_TEMPLATE", "XTRACK_RSS_URL_TEMPLATE", "a feed URL with {username}"),
}


async def check_source(settings: Settings) -> Check:
    name = f"Source ({settings.source})"
    if settings.source == "demo":
        return Check(name, Mark.OK, "offline demo posts, no credentials needed")
    credential, url_variable, what = SOURCE_VARIABLES[settings.source]
    quick = settings.model_copy(
        update={
            "source_max_retries": 0,
            "source_timeout_seconds": min(settings.source_timeout_seconds, HTTP_TIMEOUT),
        }
    )
    source = build_source(quick)
    try:
        if settings.source == "rss":
            await source.fetch(
                AccountInfo(SOURCE_PROBE_USERNAME, SOURCE_PROBE_USERNAME),
                since_id=None,
                start_time=datetime.now(UTC) - timedelta(hours=1),
            )
        else:
            await source.resolve(SOURCE_PROBE_USERNAME)
    except BadCredentials as exc:
        return Check(name, Mark.FAIL, _clean(exc.message), f"check {credential}: {what}")
    except (AccountNotFound, AccountUnavailable):
        pass  # the call was accepted: the credentials work
    except QuotaExhausted as exc:
        return Check(
            name,
            Mark.WARN,
            f"{_clean(exc.message)} (the credentials were accepted)",
            f"top up the account, then `xtrack sources resume {settings.source}`",
            required=False,
        )
    except SourceRateLimited as exc:
        return Check(
            name,
            Mark.WARN,
            f"rate limited until {exc.reset_at:%H:%M:%S} UTC (the credentials were accepted)",
            "wait for the reset; runs resume by themselves",
            required=False,
        )
    except TransientSourceError as exc:
        return Check(name, Mark.FAIL, _clean(exc.message), f"check {url_variable} and the network")
    except Exception as exc:
        return Check(name, Mark.FAIL, _error(exc), f"check {url_variable} points at the right service")
    finally:
        await source.aclose()
    return Check(name, Mark.OK, f"credentials accepted (looked up @{SOURCE_PROBE_USERNAME})")


async def check_llm(settings: Settings) -> Check:

    name = f"LLM ({settings.summarizer})"
    if settings.summarizer == "extractive":
        return Check(name, Mark.OK, "offline extractive summaries, no LLM needed")
    summarizer: OpenAISummarizer | AnthropicSummarizer
    if settings.summarizer == "openai":
        summarizer = OpenAISummarizer(settings)
        url = f"{summarizer.base_url}/models"
        headers = summarizer.headers()
    else:
        summarizer = AnthropicSummarizer(settings)
        url = f"{summarizer.base_url}/v1/models"
        headers = {**summarizer.headers(), "anthropic-version": ANTHROPIC_VERSION}
    try:
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as client:
            response = await client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        return Check(
            name,
            Mark.FAIL,
            f"{redact_text(url)} unreachable ({type(exc).__name__})",
            "check XTRACK_LLM_URL and the network",
        )
    if response.status_code in (401, 403):
        return Check(
            name,
            Mark.FAIL,
            f"the provider refused the credentials (HTTP {response.status_code})",
            "check XTRACK_LLM_API_KEY",
        )
    if response.status_code >= 400:
        return Check(
            name,
            Mark.FAIL,
            f"{redact_text(url)} answered HTTP {response.status_code}",
            "check XTRACK_LLM_URL (an OpenAI-compatible base URL usually ends in /v1)",
        )
    listed = ""
    try:
        models = {str(item.get("id")) for item in response.json().get("data", []) if isinstance(item, dict)}
        if models:
            known = "listed" if summarizer.model in models else "not in the provider's list"
            listed = f"; model {summarizer.model} {known}"
    except (ValueError, AttributeError):
        pass
    return Check(name, Mark.OK, f"reachable{listed}")


async def check_smtp(settings: Settings) -> Check:
    if not settings.smtp_url:
        return Check(
            "SMTP",
            Mark.SKIP,
            f"not set: emails are printed and kept under {settings.data_dir / 'mail'}",
            "set XTRACK_SMTP_URL to send emails",
            required=False,
        )

    try:
        config = parse_smtp_url(settings.smtp_url)
    except ValueError as exc:
        return Check(
            "SMTP", Mark.FAIL, _clean(exc), "write it as smtp://user:password@host:587?starttls=true"
        )
    where = f"{config.hostname}:{config.port}"
    client = aiosmtplib.SMTP(
        hostname=config.hostname,
        port=config.port,
        use_tls=config.use_tls,
        start_tls=config.start_tls,
        timeout=HTTP_TIMEOUT,
    )
    try:
        await client.connect()
        await client.ehlo()
        if config.username and config.password:
            await client.login(config.username, config.password)
    except aiosmtplib.SMTPAuthenticationError:
        return Check(
            "SMTP", Mark.FAIL, f"{where} refused the login", "check the user and password in XTRACK_SMTP_URL"
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        return Check(
            "SMTP",
            Mark.FAIL,
            f"{where}: {_error(exc)}",
            "check the host and port in XTRACK_SMTP_URL, and ?starttls=true or ?ssl=true",
        )
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()
    tls = " over TLS" if config.use_tls else " with STARTTLS" if config.start_tls else ""
    login = ", login accepted" if config.username else ""
    return Check("SMTP", Mark.OK, f"{where} answers{tls}{login}")


# The run ------------------------------------------------------------------------------------------


async def _guarded(name: str, work: Callable[[], Awaitable[Check]]) -> Check:
    """A check that raised is a failed line, never a traceback."""
    try:
        return await work()
    except Exception as exc:
        return Check(name, Mark.FAIL, _error(exc), "unexpected error: run with XTRACK_LOG_LEVEL=DEBUG")


async def run(settings: Settings | None = None) -> Report:
    """Every check; ``settings`` None reads them from the environment (the configuration check)."""
    report = Report()
    if settings is None:
        try:
            settings = load_settings()
        except ConfigError as exc:
            report.add(Check("Configuration", Mark.FAIL, _clean(exc), "fix that variable (see .env.example)"))
            for name in ("Database", "Migrations", "Source", "LLM", "SMTP"):
                report.add(Check(name, Mark.SKIP, "needs a valid configuration", required=False))
            return report
    report.add(
        Check(
            "Configuration",
            Mark.OK,
            f"env {settings.env}, executor {settings.executor}, source {settings.source}, "
            f"summarizer {settings.summarizer}",
        )
    )
    report.add(check_secret_key(settings))
    report.add(check_data_dir(settings))
    database = Database(create_engine(settings.database_url, pool_size=1))
    accounts: dict[Network, list[str]] = {}
    try:
        db_check = report.add(
            await _guarded("Database", lambda: check_database(database, settings.database_url))
        )
        if db_check.mark is Mark.OK:
            migrations = report.add(
                await _guarded("Migrations", lambda: check_migrations(database, settings.database_url))
            )
            if migrations.mark is Mark.OK:
                now = datetime.now(UTC)
                report.add(await _guarded("Scheduler", lambda: check_scheduler(database, settings, now=now)))
                report.add(
                    await _guarded("Source quota", lambda: check_source_pause(database, settings, now=now))
                )
                async with database.session() as session:
                    accounts = await accounts_in_use(session)
        else:
            report.add(Check("Migrations", Mark.SKIP, "needs the database", required=False))
    finally:
        await database.dispose()
    remote = await asyncio.gather(
        _guarded("Broker", lambda: check_broker(settings)),
        _guarded(f"Source ({settings.source})", lambda: check_source(settings)),
        _guarded(f"LLM ({settings.summarizer})", lambda: check_llm(settings)),
        _guarded("SMTP", lambda: check_smtp(settings)),
    )
    for check in remote:
        report.add(check)
    # The open networks active jobs follow: reachable? (a Mastodon server is the user's choice, so
    # one that is down is reported, not a failure of this installation)
    for line in await check_networks(settings, accounts):
        report.add(
            Check(line.name, Mark.OK if line.ok else Mark.FAIL, line.detail, line.hint, required=False)
        )
    return report

"""Settings: every knob is an ``XTRACK_*`` environment variable (or a line in ``.env``)."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Literal

from limits import parse as parse_rate_limit
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret", "dev", "xtrack"}
NOTIFY_SEND_TIMEOUTS = 4  # a send's whole duration is bounded by this many XTRACK_NOTIFY_TIMEOUT_SECONDS
DEFAULT_LEASE_SECONDS = 60.0  # how long a run or a delivery may be silent before another process takes it
_PRICE_ENTRY_SEPARATORS = re.compile(r"[,;\n]")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(Exception):
    """Configuration that cannot work; the message is one line naming the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="XTRACK_",
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,  # "XTRACK_SMTP_URL=" in .env means "not set"
        extra="ignore",
    )

    env: Literal["development", "production", "test"] = "development"
    database_url: str = "sqlite+aiosqlite:///./xtrack.db"
    data_dir: Path = Path("./data")
    secret_key: SecretStr | None = None
    # Keys that encrypt notification target URLs, comma-separated, newest first; unset: the secret key
    encryption_key: SecretStr | None = None
    base_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    executor: Literal["local", "celery"] = "local"
    broker_url: str | None = None
    celery_queue: str = Field(default="xtrack", min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")
    redis_url: str | None = None

    source: Literal["demo", "x", "twitterapi", "rss"] = "demo"
    x_bearer_token: SecretStr | None = None
    x_api_url: str = "https://api.x.com"
    twitterapi_key: SecretStr | None = None
    twitterapi_url: str = "https://api.twitterapi.io"
    rss_url_template: str | None = None
    # The open networks (no key): Bluesky's public AppView, and Mastodon accounts read on their
    # own servers unless this one server is set (it looks remote accounts up as user@host).
    bluesky_api_url: str = "https://public.api.bsky.app"
    mastodon_base_url: str | None = None
    source_timeout_seconds: float = Field(default=20.0, gt=0)
    source_max_retries: int = Field(default=3, ge=0, le=10)
    source_max_connections: int = Field(default=1000, ge=1)
    # One poll of twitterapi.io stops after this many pages (each billed) and says the run has a gap.
    twitterapi_max_pages: int = Field(default=20, ge=1, le=500)
    # The estimated upstream cost of a run (US dollars): X pay-per-use bills each post read and each
    # user lookup, twitterapi.io per 1,000 posts returned; RSS bridges cost nothing.
    x_price_per_post_usd: float = Field(default=0.005, ge=0)
    x_price_per_user_lookup_usd: float = Field(default=0.010, ge=0)
    twitterapi_price_per_1000_posts_usd: float = Field(default=0.15, ge=0)
    # Budgets (US dollars a calendar month): a new user's default (None: no limit) and the whole
    # instance's ceiling (None: none); what happens when one is reached is each user's budget_action.
    default_monthly_budget_usd: float | None = Field(default=None, ge=0)
    monthly_budget_usd: float | None = Field(default=None, ge=0)
    # A playground run or a new job's first run whose estimate may cost more asks to confirm first.
    confirm_above_usd: float = Field(default=0.05, ge=0)

    summarizer: Literal["extractive", "openai", "anthropic"] = "extractive"
    # A run with fewer new posts is summarized offline (extractive, no tokens) even with an LLM set.
    llm_min_posts: int = Field(default=3, ge=0)
    llm_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model: str | None = None
    llm_timeout_seconds: float = Field(default=60.0, gt=0)
    llm_max_retries: int = Field(default=3, ge=0, le=10)
    llm_context_tokens: int = Field(default=100_000, ge=500)
    llm_prices: str = ""  # "model=input/output[/cached_input]" USD per million tokens, comma-separated
    llm_max_output_tokens: int = Field(default=1024, ge=64)
    llm_retry_base_seconds: float = Field(default=1.0, gt=0)
    llm_max_retry_wait_seconds: float = Field(default=60.0, ge=0)
    llm_max_connections: int = Field(default=1000, ge=1)

    smtp_url: str | None = None
    email_from: str = "XTrack <xtrack@localhost>"

    log_format: Literal["console", "json"] = "console"
    log_level: str = "INFO"

    max_jobs_per_user: int = Field(default=50, ge=1)
    playground_daily_quota: int = Field(default=20, ge=0)
    playground_max_concurrent: int = Field(default=2, ge=1)

    lease_seconds: float = Field(default=DEFAULT_LEASE_SECONDS, gt=0)
    scheduler_tick_seconds: float = Field(default=5.0, gt=0)
    executor_concurrency: int = Field(default=1000, ge=1)
    max_attempts: int = Field(default=5, ge=1)
    notify_max_attempts: int = Field(default=5, ge=1)
    # First wait before a failed delivery is tried again (doubling up to an hour, with jitter).
    notify_retry_base_seconds: float = Field(default=60.0, gt=0, le=3600)
    # One socket operation of a send (connect, or waiting for the answer); a whole send may take up to
    # NOTIFY_SEND_TIMEOUTS of these, and the outbox lease must outlast that (no second send meanwhile).
    notify_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    notify_lease_seconds: float = Field(default=300.0, gt=0)
    # None: allowed in development and test, refused in production (``allow_private_outbound``)
    outbound_allow_private: bool | None = None
    retention_days: int = Field(default=90, ge=1)
    post_retention_days: int = Field(default=30, ge=1)
    retention_max_runs_per_job: int = Field(default=1000, ge=1)
    metrics_token: SecretStr | None = None

    session_idle_minutes: int = Field(default=60 * 24 * 7, ge=5)
    session_max_days: int = Field(default=30, ge=1)
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    signin_rate_limit: str = "10/minute"  # per (email, client address): sign-in, API tokens, password change
    signin_address_rate_limit: str = "30/minute"  # every sign-in attempt from one client address
    register_rate_limit: str = "10/hour"  # per IP and per email
    email_rate_limit: str = "5/hour"  # verification resends and password resets, per IP and per email
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)  # larger request bodies are answered 413
    manual_run_limit: str = "30/hour"  # "Run now" and retries per user
    forwarded_allow_ips: str = "127.0.0.1"  # proxies whose X-Forwarded-For/-Proto uvicorn trusts ("*": any)
    notify_test_rate_limit: str = "10/minute"  # "Send test" to a notification target, per IP and per email

    @field_validator("database_url")
    @classmethod
    def _database_url_parses(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL ({exc})") from None
        if url.drivername not in {"sqlite+aiosqlite", "postgresql+asyncpg"}:
            raise ValueError(
                f"driver '{url.drivername}' is not supported: use sqlite+aiosqlite:///path.db "
                "or postgresql+asyncpg://user@host/db"
            )
        return value

    @field_validator("base_url", "x_api_url", "twitterapi_url", "bluesky_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("mastodon_base_url")
    @classmethod
    def _optional_http_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else None

    @field_validator("llm_url")
    @classmethod
    def _llm_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else None

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}, not {value!r}")
        return level

    @field_validator("llm_prices")
    @classmethod
    def _llm_prices(cls, value: str) -> str:
        parse_llm_prices(value)  # raises ValueError naming the bad entry
        return value

    @field_validator(
        "signin_rate_limit",
        "signin_address_rate_limit",
        "register_rate_limit",
        "email_rate_limit",
        "manual_run_limit",
        "notify_test_rate_limit",
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        try:
            parse_rate_limit(value)
        except ValueError:
            raise ValueError("not a rate limit: write e.g. '10/minute' or '5 per 2 seconds'") from None
        return value

    @field_validator("encryption_key")
    @classmethod
    def _encryption_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        keys = [key.strip() for key in value.get_secret_value().split(",")]
        if not any(keys) or any(len(key) < 32 or key.lower() in PLACEHOLDER_SECRETS for key in keys):
            raise ValueError(
                "each comma-separated key must be a random value of at least 32 characters (newest first)"
            )
        return value

    @field_validator("rss_url_template")
    @classmethod
    def _rss_template(cls, value: str | None) -> str | None:
        if value and "{username}" not in value:
            raise ValueError("must contain {username}")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        if self.executor == "celery" and not self.broker_url:
            raise ValueError("XTRACK_BROKER_URL is required when XTRACK_EXECUTOR=celery")
        if self.source == "x" and not self.x_bearer_token:
            raise ValueError("XTRACK_X_BEARER_TOKEN is required when XTRACK_SOURCE=x")
        if self.source == "twitterapi" and not self.twitterapi_key:
            raise ValueError("XTRACK_TWITTERAPI_KEY is required when XTRACK_SOURCE=twitterapi")
        if self.source == "rss" and not self.rss_url_template:
            raise ValueError("XTRACK_RSS_URL_TEMPLATE is required when XTRACK_SOURCE=rss")
        if self.env == "production":
            self._production_ready()
        return self

    def _production_ready(self) -> None:
        """What a server open to strangers cannot do without; one line naming the variable."""
        key = self.secret_key.get_secret_value() if self.secret_key else ""
        if key.lower() in PLACEHOLDER_SECRETS or len(key) < 32:
            raise ValueError(
                "XTRACK_SECRET_KEY must be set to a random value of at least 32 characters "
                "when XTRACK_ENV=production"
            )
        if not self.smtp_url:
            # Without it, verification and password-reset links would be printed to the log.
            raise ValueError(
                "XTRACK_SMTP_URL is required when XTRACK_ENV=production (emails carry sign-in links)"
            )
        if not self.base_url.startswith("https://"):
            raise ValueError(
                "XTRACK_BASE_URL must start with https:// when XTRACK_ENV=production "
                "(over http the session cookie is not Secure)"
            )

    @model_validator(mode="after")
    def _notify_lease_outlasts_a_send(self) -> Settings:
        if self.notify_lease_seconds <= self.notify_send_timeout_seconds:
            raise ValueError(
                f"XTRACK_NOTIFY_LEASE_SECONDS must be longer than {NOTIFY_SEND_TIMEOUTS} x "
                f"XTRACK_NOTIFY_TIMEOUT_SECONDS ({self.notify_send_timeout_seconds:g} s), the longest a "
                "send may take: a shorter lease lets another sender send the same message meanwhile"
            )
        return self

    @property
    def notify_send_timeout_seconds(self) -> float:
        """The longest one send may take before it counts as failed (and is retried later)."""
        return self.notify_timeout_seconds * NOTIFY_SEND_TIMEOUTS

    @model_validator(mode="after")
    def _llm_coherent(self) -> Settings:
        if self.summarizer == "anthropic" and not self.llm_api_key:
            raise ValueError("XTRACK_LLM_API_KEY is required when XTRACK_SUMMARIZER=anthropic")
        if self.summarizer == "openai" and not self.llm_api_key and not self.llm_url:
            raise ValueError(
                "XTRACK_LLM_API_KEY is required when XTRACK_SUMMARIZER=openai talks to api.openai.com "
                "(set XTRACK_LLM_URL for a local server such as Ollama)"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def allow_private_outbound(self) -> bool:
        """Whether user-chosen hosts (notification targets) may be private or loopback addresses:
        XTRACK_OUTBOUND_ALLOW_PRIVATE, by default only outside production (a laptop's local webhook)."""
        if self.outbound_allow_private is not None:
            return self.outbound_allow_private
        return self.env != "production"

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")

    def signing_key(self) -> str:
        """The secret key; in development one is generated once into the data directory."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        key_file = self.data_dir / "secret_key"
        if key_file.exists():
            return key_file.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        key_file.write_text(key)
        key_file.chmod(0o600)
        return key


def parse_llm_prices(text: str) -> dict[str, tuple[float, float, float | None]]:
    """``XTRACK_LLM_PRICES``: ``model=input/output[/cached_input]`` entries (US dollars per million
    tokens) by lower-case model name; raise ValueError naming a bad entry."""
    table: dict[str, tuple[float, float, float | None]] = {}
    for raw_entry in _PRICE_ENTRY_SEPARATORS.split(text or ""):
        entry = raw_entry.strip()
        if not entry:
            continue
        name, sep, numbers = entry.partition("=")
        parts = [part.strip() for part in numbers.split("/")]
        try:
            if not sep or not name.strip() or len(parts) not in (2, 3):
                raise ValueError
            values = [float(part) for part in parts]
        except ValueError:
            raise ValueError(
                f"bad price entry '{entry}': expected model=input/output[/cached_input] "
                "in US dollars per million tokens"
            ) from None
        if any(value < 0 or value != value for value in values):
            raise ValueError(f"bad price entry '{entry}': prices must be non-negative numbers")
        table[name.strip().lower()] = (values[0], values[1], values[2] if len(values) == 3 else None)
    return table


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming the variable and what is wrong with it."""
    first = exc.errors()[0]
    location = [str(part) for part in first.get("loc", ()) if part]
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    if location:
        return f"XTRACK_{location[0].upper()}: {message}"
    return message


def load_settings() -> Settings:
    """Read the settings, turning validation errors into a one-line ConfigError."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None


_settings: Settings | None = None


def get_settings() -> Settings:
    """The process's settings, read once."""
    global _settings
    if _settings is None:
        _settings = load_settings()
    return _settings


def set_settings(settings: Settings | None) -> None:
    """Replace the process's settings (tests, and commands that build their own)."""
    global _settings
    _settings = settings

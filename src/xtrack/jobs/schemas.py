"""Jobs in and out of the API. Validation errors name the field and say what is allowed."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    WithJsonSchema,
    model_validator,
)
from pydantic.config import JsonDict

from xtrack.jobs.filters import PostFilters
from xtrack.jobs.schedule import (
    DAY_NAMES,
    MAX_FREQUENCY_MINUTES,
    MIN_FREQUENCY_MINUTES,
    PRESETS,
    format_frequency,
    parse_daily_at,
    parse_frequency,
)
from xtrack.sources.handles import ACCOUNT_PATTERN, parse_handle
from xtrack.text import SINGLE_LINE_PATTERN, check_single_line

MAX_ACCOUNTS = 50
MAX_TOPICS = 20
MAX_TOPIC_LENGTH = 50
# What ``clean_days`` accepts in a list: a day's first three letters, any case, then anything.
_DAY_PATTERN = r"^\s*(?:" + "|".join("".join(f"[{c}{c.upper()}]" for c in day) for day in DAY_NAMES) + ")"
_DAY_SETS = ("weekdays", "weekends", "daily")
# What ``parse_frequency`` accepts as a string: minutes from 15 to 43,200 (an "m" after them allowed)
# or a preset, any case, spaces around.
_MINUTES = r"0*(?:1[5-9]|[2-9][0-9]|[1-9][0-9]{2,3}|[1-3][0-9]{4}|4[0-2][0-9]{3}|43[01][0-9]{2}|43200)[Mm]?"
_PRESET = "|".join("".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in p) for p in PRESETS)
_SPACES = r"[^\S\x00-\x1f\x7f]*"  # whitespace that is no control character (those are refused)
FREQUENCY_PATTERN = rf"^{_SPACES}(?:{_MINUTES}|{_PRESET}){_SPACES}$"
DAILY_AT_PATTERN = rf"^{_SPACES}(?:[01]?[0-9]|2[0-3]):[0-5][0-9]{_SPACES}$"  # ``parse_daily_at``
LANGUAGE_PATTERN = r"^\s*[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*\s*$"  # ``clean_language``
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{2,8})*")


def clean_username(value: object) -> str:
    """An account on X (``@alice``, 1-15 letters, digits or underscores; a leading @ is dropped),
    Bluesky (``alice.bsky.social``) or Mastodon (``@bob@mastodon.social``), or a profile URL on one
    of them: its stored form (``sources.handles``)."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    handle = parse_handle(check_single_line(value))
    if handle is None:
        raise ValueError(
            "must be an account: an X username (1 to 15 letters, digits or underscores, e.g. @alice), "
            "a Bluesky handle (alice.bsky.social), @user@server on Mastodon, or a profile URL"
        )
    return handle.account


def clean_accounts(value: object) -> list[str]:
    """1 to 50 X handles, order kept, repeats (any case) folded into the first."""
    if not isinstance(value, list | tuple):
        raise ValueError("must be a list of accounts")
    if len(value) > MAX_ACCOUNTS:  # counted as sent, as the schema's maxItems counts them
        raise ValueError(f"at most {MAX_ACCOUNTS} accounts")
    accounts: list[str] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        try:
            name = clean_username(item)
        except ValueError as exc:
            raise ValueError(f"item {index + 1} ({str(item)[:20]!r}) {exc}") from None
        if name.lower() not in seen:
            seen.add(name.lower())
            accounts.append(name)
    if not accounts:
        raise ValueError("must name at least one account")
    if len(accounts) > MAX_ACCOUNTS:
        raise ValueError(f"at most {MAX_ACCOUNTS} accounts")
    return accounts


_HANDLE_SPLIT = re.compile(r"[\s,;]+")
_PROFILE_URL = re.compile(r"^(?:https?://)?(?:www\.|mobile\.)?(?:x|twitter)\.com/@?([^/?#]+)", re.IGNORECASE)


def split_handles(text: str) -> list[str]:
    """Handles pasted as one text: separated by spaces, commas or new lines, each with or without
    ``@``, or as a profile URL (``https://x.com/alice``, ``twitter.com/alice/status/1``). Order
    kept; validation (and folding repeats) is the schema's."""
    handles: list[str] = []
    for token in _HANDLE_SPLIT.split(text or ""):
        token = token.strip()
        if not token:
            continue
        url = _PROFILE_URL.match(token)
        if url:
            handles.append(url.group(1))
            continue
        handle = parse_handle(token)
        handles.append(handle.account if handle is not None else token.removeprefix("@"))
    return handles


def clean_daily_at(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a time of day as HH:MM, e.g. 08:00")
    return parse_daily_at(check_single_line(value)).strftime("%H:%M")


def clean_days(value: object) -> list[str]:
    """A subset of mon..sun, in week order; \"weekdays\" and \"weekends\" are accepted too."""
    if isinstance(value, str) and value.strip().lower() in _DAY_SETS:
        return {"weekdays": list(DAY_NAMES[:5]), "weekends": list(DAY_NAMES[5:]), "daily": list(DAY_NAMES)}[
            value.strip().lower()
        ]
    if not isinstance(value, list | tuple) or not value:
        raise ValueError(f"must be a non-empty list of days: {', '.join(DAY_NAMES)}")
    chosen: set[str] = set()
    for item in value:
        day = item.strip().lower()[:3] if isinstance(item, str) else None
        if day not in DAY_NAMES:
            raise ValueError(f"{item!r} is not a day: use {', '.join(DAY_NAMES)}")
        chosen.add(day)
    return [day for day in DAY_NAMES if day in chosen]


def clean_timezone(value: object) -> str:
    """An IANA time zone name such as ``Europe/Paris``."""
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise ValueError("must be an IANA time zone such as 'Europe/Paris'")
    name = value.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{name[:64]}' is not an IANA time zone (e.g. 'Europe/Paris')") from None
    return name


def clean_topics(value: object) -> list[str]:
    """Up to 20 topics of up to 50 characters, trimmed, blanks dropped, duplicates (any case) removed."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):  # a bare string too: the schema says an array
        raise ValueError("must be a list of strings")
    if len(value) > MAX_TOPICS:  # counted as sent, as the schema's maxItems counts them
        raise ValueError(f"at most {MAX_TOPICS} topics")
    topics: list[str] = []
    seen: set[str] = set()
    for item in value:
        if not isinstance(item, str):
            raise ValueError("every topic must be a string")
        topic = " ".join(check_single_line(item).split())
        if not topic:
            continue
        if len(topic) > MAX_TOPIC_LENGTH:
            raise ValueError(f"each topic must be at most {MAX_TOPIC_LENGTH} characters ('{topic[:20]}...')")
        if topic.casefold() in seen:
            continue
        seen.add(topic.casefold())
        topics.append(topic)
    if len(topics) > MAX_TOPICS:
        raise ValueError(f"at most {MAX_TOPICS} topics")
    return topics


def clean_frequency(value: object) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 360.0 is the integer 360 in JSON (and in the schema)
    if not isinstance(value, int | str) or isinstance(value, bool):
        raise ValueError(f"must be minutes (>= 15) or one of the presets {', '.join(PRESETS)}")
    return parse_frequency(check_single_line(value) if isinstance(value, str) else value)


def clean_language(value: object) -> str:
    """A short language code such as ``en``, ``de`` or ``pt-br``."""
    if not isinstance(value, str):
        raise ValueError("must be a language code such as 'en'")
    code = value.strip().lower().replace("_", "-")
    if len(value) > 35 or not _LANGUAGE.fullmatch(code):  # the length as sent, as the schema counts it
        raise ValueError("must be a language code such as 'en', 'de' or 'pt-br'")
    return code


Username = Annotated[
    str,
    BeforeValidator(clean_username),
    Field(
        description="An account: X username (with or without @), Bluesky handle or @user@server on Mastodon",
        examples=["alice", "alice.bsky.social", "@bob@mastodon.social"],
        json_schema_extra={"pattern": ACCOUNT_PATTERN},
    ),
]
Topics = Annotated[
    list[str],
    BeforeValidator(clean_topics),
    Field(
        description=f"Up to {MAX_TOPICS} topics of up to {MAX_TOPIC_LENGTH} characters",
        # Spaces inside a topic are collapsed before its length is counted: the schema counts as sent.
        json_schema_extra={
            "type": ["array", "null"],  # null: no topics
            "maxItems": MAX_TOPICS,
            "items": {"type": "string", "maxLength": MAX_TOPIC_LENGTH, "pattern": SINGLE_LINE_PATTERN},
        },
    ),
]
Frequency = Annotated[
    int,
    BeforeValidator(clean_frequency),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": MIN_FREQUENCY_MINUTES, "maximum": MAX_FREQUENCY_MINUTES},
                {"type": "string", "pattern": FREQUENCY_PATTERN},
            ],
            "description": f"Minutes between runs ({MIN_FREQUENCY_MINUTES} to {MAX_FREQUENCY_MINUTES}) "
            "or a preset: " + ", ".join(PRESETS),
        }
    ),
]
Language = Annotated[
    str,
    BeforeValidator(clean_language),
    Field(
        description="Summary language code",
        json_schema_extra={"pattern": LANGUAGE_PATTERN, "maxLength": 35},
    ),
]
Accounts = Annotated[
    list[str],
    BeforeValidator(clean_accounts),
    Field(
        description=f"1 to {MAX_ACCOUNTS} accounts (X, Bluesky or Mastodon), in order; repeats are folded",
        examples=[["alice", "alice.bsky.social", "@bob@mastodon.social"]],
        json_schema_extra={
            "minItems": 1,
            "maxItems": MAX_ACCOUNTS,
            "items": {"type": "string", "pattern": ACCOUNT_PATTERN},
        },
    ),
]
DailyAt = Annotated[
    str,
    BeforeValidator(clean_daily_at),
    Field(
        description="Run at this local time, HH:MM",
        examples=["08:00"],
        json_schema_extra={"pattern": DAILY_AT_PATTERN},
    ),
]
Days = Annotated[
    list[str],
    BeforeValidator(clean_days),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": _DAY_PATTERN}},
                {"type": "string", "enum": list(_DAY_SETS)},
            ],
            "description": "Days the daily run happens (default every day): "
            + ", ".join(DAY_NAMES)
            + ", or one of "
            + ", ".join(_DAY_SETS),
        }
    ),
]
TimeZone = Annotated[
    str,
    BeforeValidator(clean_timezone),
    Field(
        description="IANA time zone (default: yours)",
        json_schema_extra={"enum": sorted(available_timezones()), "maxLength": 64},
    ),
]


def accounts_or_username(schema: JsonDict) -> None:
    """The schema of a body with ``x_username`` and ``accounts``: either one names the first account
    (``accounts_first``), so ``x_username`` is required (a string) only without ``accounts``."""
    required = [name for name in schema.pop("required", []) if name != "x_username"]  # type: ignore[union-attr]
    if required:
        schema["required"] = required
    properties = schema.get("properties", {})
    if isinstance(properties, dict) and isinstance(properties.get("x_username"), dict):
        properties["x_username"] = {"anyOf": [properties["x_username"], {"type": "null"}]}
    schema["anyOf"] = [
        {"required": ["x_username"], "properties": {"x_username": {"type": "string"}}},
        {"required": ["accounts"], "properties": {"accounts": {"type": "array"}}},
    ]


def _daily_schedule(schema: JsonDict) -> None:
    """``days`` and ``timezone`` only with ``daily_at`` (the service's rule, in the schema)."""
    accounts_or_username(schema)
    schema["allOf"] = [
        {
            "if": {"required": [name], "properties": {name: {"not": {"type": "null"}}}},
            "then": {"required": ["daily_at"], "properties": {"daily_at": {"type": "string"}}},
        }
        for name in ("days", "timezone")
    ]


def accounts_first(data: Any) -> Any:
    """``accounts`` wins over ``x_username``, which names its first account (older clients send
    only ``x_username``)."""
    if not isinstance(data, dict) or data.get("accounts") is None:
        return data
    if data.get("x_username") is not None:
        try:
            clean_username(data["x_username"])
        except ValueError:
            return data  # a bad x_username is refused as such, whatever the accounts say
    accounts = data["accounts"]
    try:
        return {**data, "x_username": clean_accounts(accounts)[0]}
    except ValueError:
        # Invalid accounts: their error is the one reported (not a bad x_username as well).
        return {**data, "x_username": "_"}


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_daily_schedule)

    x_username: Username
    accounts: Accounts | None = None
    topics: Topics = Field(default_factory=list)
    frequency: Frequency = 360
    language: Language = "en"
    daily_at: DailyAt | None = None
    days: Days | None = None
    timezone: TimeZone | None = None
    filters: PostFilters | None = None
    confirm_cost: StrictBool | None = Field(
        default=None,
        description="Omitted: the job is created and the 201 carries its first run's estimate. "
        "false: 409 with the estimate when it exceeds XTRACK_CONFIRM_ABOVE_USD; true: confirmed",
    )

    @model_validator(mode="before")
    @classmethod
    def _first_account(cls, data: Any) -> Any:
        return accounts_first(data)

    @property
    def account_list(self) -> list[str]:
        return list(self.accounts) if self.accounts else [self.x_username]


class JobUpdate(BaseModel):
    """Only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    x_username: Username | None = None
    accounts: Accounts | None = None
    topics: Topics | None = None
    frequency: Frequency | None = None
    language: Language | None = None
    is_active: StrictBool | None = None  # true or false, not 0 or "yes"
    daily_at: DailyAt | None = Field(default=None, description="HH:MM, or null to run on the interval")
    days: Days | None = None
    timezone: TimeZone | None = None
    filters: PostFilters | None = None

    @model_validator(mode="before")
    @classmethod
    def _first_account(cls, data: Any) -> Any:
        return accounts_first(data)


class JobRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    x_username: str = Field(description="The first of the accounts")
    accounts: list[str]
    topics: list[str]
    frequency: int = Field(description="Minutes between runs")
    frequency_label: str
    language: str
    is_active: bool
    last_run: datetime | None
    next_run_at: datetime | None
    daily_at: str | None = Field(description="Local time of the daily run; null: every `frequency`")
    days: list[str] | None
    timezone: str | None
    schedule_label: str = Field(description='e.g. "Weekdays at 08:00 (Europe/Paris)" or "Every 1h"')
    filters: PostFilters
    created_at: datetime
    updated_at: datetime
    last_execution_status: str | None = Field(description="Status of the newest execution, if any")
    success_rate: float | None = Field(
        description="Share of COMPLETED among the last 20 finished (COMPLETED or FAILED) runs"
    )


class CostEstimate(BaseModel):
    """What a run is expected to read and cost before it spends anything
    (``executions.estimate.Estimate``)."""

    model_config = ConfigDict(from_attributes=True)

    posts_low: int
    posts_high: int
    cost_low: float = Field(description="US dollars")
    cost_high: float = Field(description="US dollars")
    rate_known: bool = Field(description="From the accounts' stored posting rate (else a busy account's)")
    needs_confirmation: bool = Field(description="cost_high exceeds XTRACK_CONFIRM_ABOVE_USD")
    words: str = Field(description='e.g. "about 0 to 480 posts, $0.010 to $2.410"')


class JobCreated(JobRead):
    """A new job, with what its first run is expected to read and cost."""

    first_run_estimate: CostEstimate


class JobList(BaseModel):
    items: list[JobRead]


def frequency_label(minutes: int) -> str:
    return format_frequency(minutes)

"""Jobs in and out of the API. Validation errors name the field and say what is allowed."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

from xtrack.jobs.schedule import PRESETS, format_frequency, parse_frequency
from xtrack.text import check_single_line

MAX_TOPICS = 20
MAX_TOPIC_LENGTH = 50
_USERNAME = re.compile(r"[A-Za-z0-9_]{1,15}")
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{2,8})*")


def clean_username(value: object) -> str:
    """An X handle: 1-15 of letters, digits and underscores; a leading @ is accepted and dropped."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    name = value.strip().removeprefix("@")
    if not _USERNAME.fullmatch(name):
        raise ValueError("must be an X username: 1 to 15 letters, digits or underscores (e.g. @alice)")
    return name


def clean_topics(value: object) -> list[str]:
    """Up to 20 topics of up to 50 characters, trimmed, blanks dropped, duplicates (any case) removed."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):  # a bare string too: the schema says an array
        raise ValueError("must be a list of strings")
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
    if not isinstance(value, int | str) or isinstance(value, bool):
        raise ValueError(f"must be minutes (>= 15) or one of the presets {', '.join(PRESETS)}")
    return parse_frequency(check_single_line(value) if isinstance(value, str) else value)


def clean_language(value: object) -> str:
    """A short language code such as ``en``, ``de`` or ``pt-br``."""
    if not isinstance(value, str):
        raise ValueError("must be a language code such as 'en'")
    code = value.strip().lower().replace("_", "-")
    if len(code) > 35 or not _LANGUAGE.fullmatch(code):
        raise ValueError("must be a language code such as 'en', 'de' or 'pt-br'")
    return code


Username = Annotated[
    str,
    BeforeValidator(clean_username),
    Field(description="X username, with or without @", examples=["alice"]),
]
Topics = Annotated[
    list[str],
    BeforeValidator(clean_topics),
    Field(description=f"Up to {MAX_TOPICS} topics of up to {MAX_TOPIC_LENGTH} characters"),
]
Frequency = Annotated[
    int,
    BeforeValidator(clean_frequency),
    Field(
        description="Minutes between runs (>= 15) or a preset: " + ", ".join(PRESETS),
        json_schema_extra={"anyOf": [{"type": "integer", "minimum": 15}, {"enum": list(PRESETS)}]},
    ),
]
Language = Annotated[str, BeforeValidator(clean_language), Field(description="Summary language code")]


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    x_username: Username
    topics: Topics = Field(default_factory=list)
    frequency: Frequency = 360
    language: Language = "en"


class JobUpdate(BaseModel):
    """Only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    x_username: Username | None = None
    topics: Topics | None = None
    frequency: Frequency | None = None
    language: Language | None = None
    is_active: StrictBool | None = None  # true or false, not 0 or "yes"


class JobRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    x_username: str
    topics: list[str]
    frequency: int = Field(description="Minutes between runs")
    frequency_label: str
    language: str
    is_active: bool
    last_run: datetime | None
    next_run_at: datetime | None
    created_at: datetime
    updated_at: datetime
    last_execution_status: str | None = Field(description="Status of the newest execution, if any")
    success_rate: float | None = Field(
        description="Share of COMPLETED among the last 20 finished (COMPLETED or FAILED) runs"
    )


class JobList(BaseModel):
    items: list[JobRead]


def frequency_label(minutes: int) -> str:
    return format_frequency(minutes)

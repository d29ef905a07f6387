"""The job form's fields as the pages read and show them (the routes are in ``pages.py``): one
"X account" and, for a briefing, more accounts pasted at once; an optional daily time with its days
and time zone. Checked by the API's schemas, so the form and the API refuse the same input."""

from __future__ import annotations

import re

from fastapi import Request
from pydantic import ValidationError

from xtrack.jobs.filters import filters_of
from xtrack.jobs.models import Job
from xtrack.jobs.schedule import DAY_NAMES, WEEKDAYS
from xtrack.jobs.schemas import JobCreate, JobUpdate, split_handles
from xtrack.web.forms import field_errors, split_list

FIELD_LABELS = {
    "x_username": "Account",
    "more_accounts": "More accounts",
    "topics": "Topics",
    "frequency": "Frequency",
    "language": "Summary language",
    "daily_at": "Time of day",
    "days": "Days",
    "timezone": "Time zone",
    "filters": "Filters",
}
REQUIRED_MESSAGES = {"x_username": "Enter the X account to follow, e.g. @alice."}
DEFAULT_FREQUENCY = "360"
DAY_WORDS = {
    "": "daily",
    "daily": "daily",
    "every day": "daily",
    "weekdays": "weekdays",
    "weekends": "weekends",
}
FILTER_CHECKBOXES = ("exclude_replies", "exclude_reposts", "exclude_quotes")
FILTER_TEXTS = ("include_keywords", "exclude_keywords", "min_likes")
# Read from the posted form as a whole (``briefing_fields``); each is checked by the schema.
BRIEFING_FIELDS = ("daily_at", "days", "timezone", *FILTER_CHECKBOXES, *FILTER_TEXTS)
FORM_FIELDS = (
    "x_username",
    "more_accounts",
    "topics",
    "frequency",
    "language",
    "daily_at",
    "days",
    "timezone",
)


async def briefing_fields(request: Request) -> dict[str, str]:
    """The schedule and filter fields of the posted job form (absent ones empty)."""
    posted = await request.form()
    values = {name: posted.get(name) for name in BRIEFING_FIELDS}
    return {name: value if isinstance(value, str) else "" for name, value in values.items()}


def _filters(form: dict[str, str]) -> dict[str, object]:
    values: dict[str, object] = {name: bool(form.get(name)) for name in FILTER_CHECKBOXES}
    values["include_keywords"] = split_list(form.get("include_keywords", ""))
    values["exclude_keywords"] = split_list(form.get("exclude_keywords", ""))
    likes = form.get("min_likes", "").strip()
    # The API takes a JSON integer only; the form's digits are one (anything else is refused as sent).
    values["min_likes"] = int(likes) if likes.isascii() and likes.isdigit() else (likes or 0)
    return values


def empty_form(timezone: str) -> dict[str, str]:
    form = dict.fromkeys((*FORM_FIELDS, *BRIEFING_FIELDS), "")
    form.update({"frequency": DEFAULT_FREQUENCY, "language": "en", "days": "every day", "timezone": timezone})
    return form


def days_value(days: list[str] | None) -> str:
    chosen = set(days or DAY_NAMES)
    if chosen == set(DAY_NAMES):
        return "every day"
    if chosen == WEEKDAYS:
        return "weekdays"
    if chosen == {"sat", "sun"}:
        return "weekends"
    return ", ".join(day for day in DAY_NAMES if day in chosen)


def job_form_values(job: Job, accounts: list[str], *, timezone: str) -> dict[str, str]:
    """An existing job in the form: its first account, the others one per line, its schedule."""
    return {
        "x_username": accounts[0] if accounts else job.x_username,
        "more_accounts": "\n".join(accounts[1:]),
        "topics": "\n".join(job.topics or []),
        "frequency": str(job.frequency),
        "language": job.language,
        "daily_at": job.daily_at or "",
        "days": days_value(job.days),
        "timezone": job.timezone or timezone,
        **_filter_values(job),
    }


def _filter_values(job: Job) -> dict[str, str]:
    filters = filters_of(job.filters)
    values = {name: "on" if getattr(filters, name) else "" for name in FILTER_CHECKBOXES}
    values["include_keywords"] = ", ".join(filters.include_keywords)
    values["exclude_keywords"] = ", ".join(filters.exclude_keywords)
    values["min_likes"] = str(filters.min_likes) if filters.min_likes else ""
    return values


def _schema_values(form: dict[str, str], job: Job | None) -> dict[str, object]:
    # The first field is one handle (or profile URL), checked as typed; the other field takes many.
    first = form["x_username"].strip()
    more = split_handles(form.get("more_accounts", ""))
    if first and " " not in first and "," not in first:
        first = (split_handles(first) or [first])[0]
    handles = [first, *more] if first else more
    values: dict[str, object] = {
        "x_username": handles[0] if handles else first,
        "topics": split_list(form["topics"]),
        "frequency": form["frequency"] or DEFAULT_FREQUENCY,
        "language": form["language"] or "en",
    }
    if more or (job is not None and handles):
        values["accounts"] = handles  # the edit form sends every account: a line removed is removed
    filters = _filters(form)
    if job is not None or any(filters[name] for name in (*FILTER_CHECKBOXES, *FILTER_TEXTS)):
        values["filters"] = filters  # the edit form sends them all: an unticked box is cleared
    daily_at = form.get("daily_at", "").strip()
    if daily_at:
        days = " ".join(form.get("days", "").lower().split())
        values["daily_at"] = daily_at
        values["days"] = DAY_WORDS[days] if days in DAY_WORDS else re.split(r"[\s,;]+", days)
        if form.get("timezone", "").strip():
            values["timezone"] = form["timezone"].strip()
    elif job is not None and job.daily_at:
        values["daily_at"] = None  # the time cleared: back to the interval
    return values


def validate(
    schema: type[JobCreate] | type[JobUpdate], form: dict[str, str], *, job: Job | None = None
) -> tuple[JobCreate | JobUpdate | None, dict[str, str]]:
    """The form checked by the API's schema: (data, {}) or (None, {field: message})."""
    errors: dict[str, str] = {}
    if not form["x_username"].strip().removeprefix("@") and not split_handles(form.get("more_accounts", "")):
        errors["x_username"] = REQUIRED_MESSAGES["x_username"]
    try:
        data = schema.model_validate(_schema_values(form, job))
    except ValidationError as exc:
        labels = {**FIELD_LABELS, "accounts": "Accounts"}
        for name, message in field_errors(exc, labels=labels, required=REQUIRED_MESSAGES).items():
            errors.setdefault("more_accounts" if name == "accounts" else name, message)
        return None, errors
    return (None, errors) if errors else (data, {})

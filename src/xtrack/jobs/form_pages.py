"""The job form's fields as the pages read and show them (the routes are in ``pages.py``): one
"X account" and, for a briefing, more accounts pasted at once; an optional daily time with its days
and time zone. Checked by the API's schemas, so the form and the API refuse the same input."""

from __future__ import annotations

import re

from pydantic import ValidationError

from xtrack.jobs.models import Job
from xtrack.jobs.schedule import DAY_NAMES, WEEKDAYS
from xtrack.jobs.schemas import JobCreate, JobUpdate, split_handles
from xtrack.web.forms import field_errors, split_list

FIELD_LABELS = {
    "x_username": "X account",
    "more_accounts": "More accounts",
    "topics": "Topics",
    "frequency": "Frequency",
    "language": "Summary language",
    "daily_at": "Time of day",
    "days": "Days",
    "timezone": "Time zone",
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


def empty_form(timezone: str) -> dict[str, str]:
    form = dict.fromkeys(FORM_FIELDS, "")
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
    }


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
        labels = {**FIELD_LABELS, "accounts": "X accounts"}
        for name, message in field_errors(exc, labels=labels, required=REQUIRED_MESSAGES).items():
            errors.setdefault("more_accounts" if name == "accounts" else name, message)
        return None, errors
    return (None, errors) if errors else (data, {})

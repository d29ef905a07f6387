from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic.config import JsonDict

from xtrack.text import Text
from xtrack.users.models import BudgetAction, Theme
from xtrack.users.service import MIN_PASSWORD_LENGTH, timezone_names

# The schema lists the zones the server accepts (an empty or unknown name is a 422).
TimeZone = Annotated[
    Text,
    Field(
        max_length=64, description="An IANA time zone", json_schema_extra={"enum": sorted(timezone_names())}
    ),
]


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    status: str
    is_admin: bool
    timezone: str
    theme: str
    monthly_budget_usd: float | None = Field(description="US dollars per calendar month; null: no limit")
    budget_action: str = Field(description="offline (the default) or pause: what happens once it is spent")
    created_at: datetime
    last_login_at: datetime | None


# The service words a short password's refusal; the schema says the same length to clients.
_PASSWORD_SCHEMA: JsonDict = {"minLength": MIN_PASSWORD_LENGTH}


class RegisterIn(BaseModel):
    email: Text = Field(max_length=320, examples=["ada@example.com"])
    password: Text = Field(
        max_length=1024,
        description="At least 10 characters, not the email.",
        json_schema_extra=_PASSWORD_SCHEMA,
    )
    timezone: TimeZone | None = Field(default=None, examples=["Europe/Paris"])


class TokenIn(BaseModel):
    token: Text = Field(max_length=200, description="The token from the link in the email.")


class EmailIn(BaseModel):
    email: Text = Field(max_length=320)


class PasswordResetConfirm(BaseModel):
    token: Text = Field(max_length=200)
    password: Text = Field(max_length=1024, json_schema_extra=_PASSWORD_SCHEMA)


class ApiTokenCreate(BaseModel):
    email: Text = Field(max_length=320)
    password: Text = Field(max_length=1024)
    name: Text = Field(min_length=1, max_length=100, examples=["laptop"])


class ApiTokenCreated(BaseModel):
    token: str = Field(description="The token itself: shown this once, store it now.")
    id: int
    name: str
    prefix: str


class ApiTokenRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None


def _budget(value: Any) -> Any:
    """null or a blank string: no limit; otherwise a JSON number (not a boolean, not a numeric string)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number of US dollars, or null for no limit")
    return value


class UserUpdate(BaseModel):
    timezone: TimeZone | None = None
    theme: Theme | None = None
    monthly_budget_usd: Annotated[
        float | None,
        BeforeValidator(_budget),
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "number", "minimum": 0, "maximum": 1_000_000},
                    {"type": "string", "pattern": r"^\s*$"},
                    {"type": "null"},
                ]
            }
        ),
    ] = Field(
        default=None,
        ge=0,
        le=1_000_000,
        description="US dollars per calendar month in your time zone; null or empty: no limit "
        "(omit the field to keep it)",
    )
    budget_action: BudgetAction | None = Field(
        default=None, description="offline: summarize without the LLM once spent; pause: stop runs"
    )


class PasswordChange(BaseModel):
    current_password: Text = Field(max_length=1024)
    new_password: Text = Field(max_length=1024, json_schema_extra=_PASSWORD_SCHEMA)


class MessageOut(BaseModel):
    detail: str


class ErrorOut(BaseModel):
    detail: str | list[dict[str, Any]]


_ERROR_DESCRIPTIONS = {
    400: "Bad request (e.g. an unknown, expired or already used link)",
    401: "Not authenticated: missing, wrong, revoked or suspended credentials",
    403: "Not allowed (e.g. email not verified yet, or not an administrator)",
    404: "Not found (or not yours)",
    409: "Conflict with the current state",
    422: "Invalid input",
    429: "Too many attempts: retry after the Retry-After header's seconds",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for a route's error statuses, all shaped ``{"detail": ...}``."""
    responses: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {"model": ErrorOut, "description": _ERROR_DESCRIPTIONS.get(code, "Error")}
        if code == 429:
            entry["headers"] = {
                "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
            }
        responses[code] = entry
    return responses

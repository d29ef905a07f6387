"""Notification targets, per-job selection and deliveries in and out of the API.

Target URLs are write-only: responses carry ``destination`` (the email address, or the URL masked by
``masking.mask_url``), never the URL itself."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from xtrack.notify.senders import check_apprise_url
from xtrack.text import Text

MAX_NAME = 100
MAX_TARGETS_PER_JOB = 50


def clean_name(value: str) -> str:
    name = " ".join(value.split())
    if not name:
        raise ValueError("Enter a name, e.g. “My phone” or “Team Slack”.")
    if len(name) > MAX_NAME:
        raise ValueError(f"The name can be at most {MAX_NAME} characters.")
    return name


# What ``clean_name`` accepts, for the schema: something besides spaces, no control character.
_NAME_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
Name = Annotated[
    Text,
    AfterValidator(clean_name),
    Field(json_schema_extra={"pattern": _NAME_PATTERN, "maxLength": MAX_NAME}),
]
AppriseUrl = Annotated[Text, AfterValidator(check_apprise_url)]


class TargetCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["email", "apprise"] = Field(
        description="email: your verified address; apprise: any apprise URL"
    )
    name: Name = Field(description="How the target is listed, e.g. “My phone”")
    url: AppriseUrl | None = Field(
        default=None,
        description="apprise only: tgram://bot-token/chat-id, discord://id/token, slack://…, ntfy://topic, "
        "json://host/path (a webhook), …; stored, never shown back in full",
    )
    email: Text | None = Field(
        default=None, description="email only: must be your account's verified address (the default)"
    )

    @field_validator("email")
    @classmethod
    def _strip_email(cls, value: str | None) -> str | None:
        return value.strip() if value and value.strip() else None


class TargetUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    url: AppriseUrl | None = Field(default=None, description="apprise targets only: a new URL")
    is_enabled: bool | None = Field(default=None, description="false pauses every delivery to this target")


class LastDelivery(BaseModel):
    status: str
    kind: str
    at: datetime
    error: str | None = None


class TargetRead(BaseModel):
    id: int
    kind: str
    name: str
    destination: str = Field(description="The email address, or the URL with its secrets masked")
    is_enabled: bool
    created_at: datetime
    updated_at: datetime
    job_count: int = Field(description="Jobs that send to this target")
    last_delivery: LastDelivery | None = None


class TargetList(BaseModel):
    items: list[TargetRead]


class JobTargetRead(BaseModel):
    id: int
    kind: str
    name: str
    destination: str
    is_enabled: bool = Field(description="The target itself is enabled")
    selected: bool = Field(description="The job sends to this target")
    unsubscribed: bool = Field(description="Selected, but the recipient unsubscribed from this job")


class JobTargets(BaseModel):
    job_id: int
    target_ids: list[int] = Field(description="Targets the job sends to (unsubscribed ones excluded)")
    targets: list[JobTargetRead] = Field(description="All your targets, with whether this job uses them")
    notify_on_failure: bool
    failure_threshold: int


class JobTargetsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_ids: list[int] = Field(max_length=MAX_TARGETS_PER_JOB, description="Every target the job sends to")
    notify_on_failure: bool | None = Field(
        default=None,
        description="Notify after failure_threshold consecutive failed runs (once), and on recovery",
    )
    failure_threshold: int | None = Field(default=None, ge=1, le=100)


class DeliveryRead(BaseModel):
    id: int
    target_id: int
    target_name: str
    target_kind: str
    job_id: int | None
    execution_id: int | None
    summary_id: int | None
    kind: str
    status: str
    attempts: int
    next_attempt_at: datetime | None = Field(description="When the next attempt is due (PENDING only)")
    last_error: str | None
    sent_at: datetime | None
    last_attempt_at: datetime | None
    created_at: datetime


class DeliveryList(BaseModel):
    items: list[DeliveryRead]

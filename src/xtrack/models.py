"""Imports every table so metadata (Alembic, tests) sees the whole schema."""

from xtrack.executions.models import JobExecution
from xtrack.jobs.models import Job
from xtrack.sources.models import Post, SourceLimit, XAccount
from xtrack.summaries.models import Summary
from xtrack.users.models import ApiToken, EmailToken, User, WebSession

__all__ = [
    "ApiToken",
    "EmailToken",
    "Job",
    "JobExecution",
    "Post",
    "SourceLimit",
    "Summary",
    "User",
    "WebSession",
    "XAccount",
]

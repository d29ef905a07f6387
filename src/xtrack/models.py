"""Imports every table so metadata (Alembic, tests) sees the whole schema."""

from xtrack.executions.models import JobExecution
from xtrack.jobs.models import Job, JobAccount
from xtrack.notify.models import JobNotificationTarget, NotificationDelivery, NotificationTarget
from xtrack.ops.models import MaintenanceRun, SchedulerHeartbeat
from xtrack.posts.models import SourceLimit, StoredPost, XAccount
from xtrack.summaries.models import Summary
from xtrack.users.models import ApiToken, EmailToken, FeedToken, User, WebSession

__all__ = [
    "ApiToken",
    "EmailToken",
    "FeedToken",
    "Job",
    "JobAccount",
    "JobExecution",
    "JobNotificationTarget",
    "MaintenanceRun",
    "NotificationDelivery",
    "NotificationTarget",
    "SchedulerHeartbeat",
    "SourceLimit",
    "StoredPost",
    "Summary",
    "User",
    "WebSession",
    "XAccount",
]

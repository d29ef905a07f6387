"""The month's budget notices: once the owner's spend crosses 80 % and then 100 % of the monthly
budget, one message to each of the owner's enabled targets, each at most once a calendar month
(a conditional UPDATE of the user's notice bookkeeping decides who sends it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from xtrack.config import Settings
from xtrack.executions import budget as budgets
from xtrack.executions.hooks import CompletedRun
from xtrack.notify import content, links
from xtrack.notify.models import DeliveryKind, DeliveryStatus, NotificationTarget
from xtrack.users.models import User

_KINDS = {80: DeliveryKind.BUDGET_WARNING, 100: DeliveryKind.BUDGET_REACHED}


async def _claim(session: AsyncSession, *, user_id: int, month: str, percent: int) -> bool:
    """Record that ``percent`` went out this ``month``; true for the one caller that did."""
    marked = await session.execute(
        update(User)
        .where(
            User.id == user_id,
            or_(
                User.budget_notice_month.is_(None),
                User.budget_notice_month != month,
                User.budget_notice_percent < percent,
            ),
        )
        .values(budget_notice_month=month, budget_notice_percent=percent)
        .execution_options(synchronize_session=False)
    )
    return getattr(marked, "rowcount", 0) == 1


async def rows_for(
    session: AsyncSession, settings: Settings, run: CompletedRun, *, now: datetime
) -> list[dict[str, Any]]:
    """The outbox rows of the budget notices this run's spend made due (none most of the time)."""
    if run.user_id is None or not run.owner_has_budget:
        return []
    user = await session.get(User, run.user_id)
    if user is None or user.monthly_budget_usd is None:
        return []
    budget = await budgets.for_user(session, user=user, settings=settings, now=now)
    month = budgets.month_key(now, user.timezone)
    sent = user.budget_notice_percent if user.budget_notice_month == month else 0
    due = budgets.notices_due(budget.spent_usd, budget.limit_usd, already_sent=sent)
    if not due or not await _claim(session, user_id=user.id, month=month, percent=max(due)):
        return []
    targets = await session.scalars(
        select(NotificationTarget.id).where(
            NotificationTarget.user_id == user.id, NotificationTarget.is_enabled.is_(True)
        )
    )
    resets = budget.resets_at.strftime("%d %b %Y %H:%M UTC")
    rows: list[dict[str, Any]] = []
    for target_id in targets:
        for percent in due:
            message = content.budget_message(
                percent=percent,
                limit_usd=budget.limit_usd or 0.0,
                spent_usd=budget.spent_usd,
                action=user.budget_action,
                resets=resets,
                usage_url=f"{settings.base_url}/account/usage",
                manage_url=links.targets_url(settings),
            )
            rows.append(
                {
                    "target_id": target_id,
                    "job_id": None,  # about the account, not one job: no job subscription needed
                    "execution_id": run.execution_id,
                    "summary_id": None,
                    "kind": _KINDS[percent].value,
                    "status": DeliveryStatus.PENDING.value,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                    "payload": message.as_payload(),
                }
            )
    return rows

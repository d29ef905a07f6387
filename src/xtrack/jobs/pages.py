"""Job pages: create and edit forms, the job page (runs, chart, live updates), run now, pause,
resume and delete with confirmation. Thin routes over the jobs, executions and summaries services;
another user's job is the 404 page. GET never changes anything."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from xtrack.db import utcnow
from xtrack.errors import Conflict, RateLimited, XTrackError
from xtrack.executions import budget as executions_budget
from xtrack.executions import costs as executions_costs
from xtrack.executions import overview as executions_overview
from xtrack.executions import service as executions_service
from xtrack.executions import usage as executions_usage
from xtrack.executions.models import ExecutionStatus, Trigger
from xtrack.executions.router import ExecutorDep, count_manual_run
from xtrack.jobs import service as jobs_service
from xtrack.jobs.form_pages import briefing_fields, empty_form, job_form_values, validate
from xtrack.jobs.models import Job
from xtrack.jobs.router import first_run_estimate
from xtrack.jobs.schedule import PRESETS
from xtrack.jobs.schemas import JobCreate, JobUpdate
from xtrack.notify import deliveries as notify_deliveries
from xtrack.notify import targets as notify_targets
from xtrack.ratelimit import RateLimiterDep
from xtrack.summaries import feeds
from xtrack.summaries import service as summaries_service
from xtrack.users.deps import ActiveUser, CurrentUser
from xtrack.users.models import User, UserStatus
from xtrack.web import live
from xtrack.web.charts import cost_chart, runs_chart
from xtrack.web.csrf import CsrfForm
from xtrack.web.deps import SessionDep, SettingsDep
from xtrack.web.flash import redirect_with_flash
from xtrack.web.forms import FormLines, FormStr, error_of
from xtrack.web.presenters import format_frequency, pluralize
from xtrack.web.templating import render

router = APIRouter(include_in_schema=False)


RUNS_PER_PAGE = 25
CHART_RUNS = 50
# A job due this soon (or overdue) counts as live: the page polls until its run shows up and ends.
DUE_SOON = timedelta(seconds=60)

FREQUENCY_CHOICES: list[tuple[str, str]] = [
    (str(minutes), format_frequency(minutes).capitalize()) for minutes in PRESETS.values()
]
LANGUAGE_CHOICES: list[tuple[str, str]] = [
    ("en", "English"),
    ("de", "Deutsch (German)"),
    ("es", "Español (Spanish)"),
    ("fr", "Français (French)"),
    ("it", "Italiano (Italian)"),
    ("nl", "Nederlands (Dutch)"),
    ("pl", "Polski (Polish)"),
    ("pt", "Português (Portuguese)"),
    ("pt-br", "Português do Brasil (Brazilian Portuguese)"),
    ("sv", "Svenska (Swedish)"),
    ("tr", "Türkçe (Turkish)"),
    ("uk", "Українська (Ukrainian)"),
    ("ru", "Русский (Russian)"),
    ("ar", "العربية (Arabic)"),
    ("hi", "हिन्दी (Hindi)"),
    ("ja", "日本語 (Japanese)"),
    ("ko", "한국어 (Korean)"),
    ("zh", "中文 (Chinese)"),
]

STATUS_FILTERS = [status.value for status in ExecutionStatus]
TRIGGER_FILTERS = [Trigger.SCHEDULED.value, Trigger.MANUAL.value]


def summary_excerpt(content: str, *, lines: int = 5) -> str:
    """The start of a summary's Markdown (its headline and first key points), headings turned into
    bold text so the excerpt does not add headings to the page around it."""
    kept: list[str] = []
    seen = 0
    for line in (content or "").splitlines():
        if line.strip():
            if seen == lines:
                break
            seen += 1
        if line.lstrip().startswith("#"):
            text = line.lstrip().lstrip("#").strip()
            line = f"**{text}**" if text else ""
        kept.append(line)
    return "\n".join(kept).strip()


def frequency_choices(current: str | int | None = None) -> list[tuple[str, str]]:
    """The presets, plus the job's own frequency when it was set to something else (through the API)."""
    choices = list(FREQUENCY_CHOICES)
    value = str(current) if current is not None else ""
    if value.isdigit() and value not in {v for v, _ in choices}:
        choices.append((value, f"{format_frequency(int(value)).capitalize()} (current)"))
    return choices


def language_choices(current: str | None = None) -> list[tuple[str, str]]:
    choices = list(LANGUAGE_CHOICES)
    if current and current not in {v for v, _ in choices}:
        choices.append((current, current))
    return choices


def _form_page(
    request: Request,
    user: User,
    *,
    form: dict[str, str],
    errors: dict[str, str],
    job: Job | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = {
        "form": form,
        "errors": errors,
        "job": job,
        "frequencies": frequency_choices(form.get("frequency")),
        "languages": language_choices(form.get("language")),
        "can_write": user.status == UserStatus.ACTIVE.value,
    }
    return render(request, "jobs/form.html", context, status_code=status_code)


def _status_filter(value: str | None) -> ExecutionStatus | None:
    text = (value or "").upper()
    return ExecutionStatus(text) if text in STATUS_FILTERS else None


def _trigger_filter(value: str | None) -> Trigger | None:
    text = (value or "").upper()
    return Trigger(text) if text in TRIGGER_FILTERS else None


def is_live(overview: executions_overview.JobOverview, now: datetime) -> bool:
    """Whether the job page should poll: a run is queued or running, or the job is due any moment."""
    if overview.has_active_run:
        return True
    job = overview.job
    return bool(job.is_active and job.next_run_at is not None and job.next_run_at <= now + DUE_SOON)


def run_now_blocker(overview: executions_overview.JobOverview, user: User) -> str | None:
    """Why "Run now" is disabled, or None when it can be pressed."""
    if user.status != UserStatus.ACTIVE.value:
        return "Confirm your email address to run jobs."
    if not overview.job.is_active:
        return "This job is paused: resume it to run it."
    if overview.has_active_run:
        return "A run is in progress: wait for it to finish."
    return None


@dataclass(frozen=True, slots=True)
class RunFilters:
    status: ExecutionStatus | None
    trigger: Trigger | None
    before: int | None

    def url(self, job_id: int, *, path: str = "", anchor: bool = True, **changes: Any) -> str:
        """The job page (or ``path`` under it) with these filters, ``changes`` applied."""
        values: dict[str, Any] = {"status": self.status, "trigger": self.trigger, "before": self.before}
        values.update(changes)
        query = urlencode({k: (v.value if hasattr(v, "value") else v) for k, v in values.items() if v})
        return f"/jobs/{job_id}{path}" + (f"?{query}" if query else "") + ("#runs" if anchor else "")

    @property
    def any(self) -> bool:
        return self.status is not None or self.trigger is not None


async def _runs_context(
    session: SessionDep,
    user: User,
    overview: executions_overview.JobOverview,
    filters: RunFilters,
    now: datetime,
) -> dict[str, Any]:
    """What jobs/_runs.html shows: filters with counts, one page of runs, Newer/Older links."""
    job = overview.job
    counts = await executions_service.history_counts(session, owner_id=user.id, job_id=job.id)
    page = await executions_service.history(
        session,
        owner_id=user.id,
        job_id=job.id,
        limit=RUNS_PER_PAGE,
        before=filters.before,
        status=filters.status,
        trigger=filters.trigger,
    )
    newer_url = None
    if filters.before is not None:
        newer_before = await executions_service.newer_page_before(
            session,
            owner_id=user.id,
            job_id=job.id,
            before=filters.before,
            limit=RUNS_PER_PAGE,
            status=filters.status,
            trigger=filters.trigger,
        )
        newer_url = filters.url(job.id, before=newer_before)
    older_url = filters.url(job.id, before=page.next_before) if page.next_before is not None else None
    trigger_value = filters.trigger.value if filters.trigger else None
    status_value = filters.status.value if filters.status else None
    status_counts = {
        status: sum(c for (s, t), c in counts.items() if s == status and trigger_value in (None, t))
        for status in STATUS_FILTERS
    }
    trigger_counts = {
        trigger: sum(c for (s, t), c in counts.items() if t == trigger and status_value in (None, s))
        for trigger in TRIGGER_FILTERS
    }
    return {
        "job": job,
        "overview": overview,
        "runs": page.items,
        "filters": filters,
        "status_counts": status_counts,
        "trigger_counts": trigger_counts,
        "all_count": sum(c for (_, t), c in counts.items() if trigger_value in (None, t)),
        "any_trigger_count": sum(c for (s, _), c in counts.items() if status_value in (None, s)),
        "total_runs": sum(counts.values()),
        "newer_url": newer_url,
        "older_url": older_url,
        "can_write": user.status == UserStatus.ACTIVE.value,
        "run_now_blocker": run_now_blocker(overview, user),
        "now": now,
    }


# Create ------------------------------------------------------------------------------------------


@router.get("/jobs/new", response_class=HTMLResponse)
async def new_job(request: Request, user: CurrentUser) -> Response:
    return _form_page(request, user, form=empty_form(user.timezone or "UTC"), errors={})


@router.post("/jobs", response_class=HTMLResponse)
async def create_job(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
    _csrf: CsrfForm,
    x_username: FormStr = "",
    more_accounts: FormLines = "",
    topics: FormLines = "",
    frequency: FormStr = "",
    language: FormStr = "",
    confirm_cost: FormStr = "",
) -> Response:
    form = {
        "x_username": x_username,
        "more_accounts": more_accounts,
        "topics": topics,
        "frequency": frequency,
    }
    form |= {"language": language, **await briefing_fields(request)}
    data, errors = validate(JobCreate, form)
    if data is None or not isinstance(data, JobCreate):
        return _form_page(request, user, form=form, errors=errors, status_code=422)
    try:  # the first run's estimate over the threshold asks first (Create anyway: confirm_cost=1)
        await first_run_estimate(session, settings, data, confirmed=confirm_cost == "1", now=utcnow())
        job = await jobs_service.create(
            session, owner=user, data=data, max_jobs=settings.max_jobs_per_user, now=utcnow()
        )
    except XTrackError as exc:
        return _form_page(request, user, form=form, errors=error_of(exc), status_code=exc.status_code)
    count = len(data.account_list)
    who = f"@{job.x_username}" if count == 1 else f"The briefing over {count} accounts"
    when = "in a moment" if job.daily_at is None else f"on its schedule ({jobs_service.schedule_label(job)})"
    return redirect_with_flash(
        request, f"/jobs/{job.id}", f"Job created: {who} runs for the first time {when}."
    )


# Edit --------------------------------------------------------------------------------------------


@router.get("/jobs/{job_id}/edit", response_class=HTMLResponse)
async def edit_job(request: Request, session: SessionDep, user: CurrentUser, job_id: int) -> Response:
    job = await jobs_service.get_for_owner(session, owner_id=user.id, job_id=job_id)
    accounts = (await jobs_service.accounts_of(session, [job.id]))[job.id]
    form = job_form_values(job, accounts, timezone=user.timezone or "UTC")
    return _form_page(request, user, form=form, errors={}, job=job)


@router.post("/jobs/{job_id}/edit", response_class=HTMLResponse)
async def update_job(
    request: Request,
    session: SessionDep,
    user: ActiveUser,
    _csrf: CsrfForm,
    job_id: int,
    x_username: FormStr = "",
    more_accounts: FormLines = "",
    topics: FormLines = "",
    frequency: FormStr = "",
    language: FormStr = "",
) -> Response:
    job = await jobs_service.get_for_owner(session, owner_id=user.id, job_id=job_id)
    form = {
        "x_username": x_username,
        "more_accounts": more_accounts,
        "topics": topics,
        "frequency": frequency,
    }
    form |= {"language": language, **await briefing_fields(request)}
    data, errors = validate(JobUpdate, form, job=job)
    if data is None or not isinstance(data, JobUpdate):
        return _form_page(request, user, form=form, errors=errors, job=job, status_code=422)
    await executions_service.update_job(session, owner_id=user.id, job_id=job_id, data=data, now=utcnow())
    return redirect_with_flash(request, f"/jobs/{job_id}", "Job saved.")


# The job page ------------------------------------------------------------------------------------

JOB_PAGE_DELIVERIES = 5  # the latest ones; the job's notifications page lists more


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
async def job_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    job_id: int,
    status: str | None = None,
    trigger: str | None = None,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    now = utcnow()
    overview = await executions_overview.get_overview(session, owner_id=user.id, job_id=job_id)
    filters = RunFilters(_status_filter(status), _trigger_filter(trigger), before)
    context = await _runs_context(session, user, overview, filters, now)
    chart_runs = await executions_service.history(session, owner_id=user.id, job_id=job_id, limit=CHART_RUNS)
    latest = await summaries_service.latest_for_job(session, owner_id=user.id, job_id=job_id)

    job_targets = await notify_targets.job_targets(session, user=user, job_id=job_id)
    deliveries = await notify_deliveries.deliveries_for_job(
        session, user=user, job_id=job_id, limit=JOB_PAGE_DELIVERIES
    )
    context.update(
        {
            "chart_runs": chart_runs.items,
            "chart": runs_chart(chart_runs.items, viewer=user, now=now),
            "latest_summary": latest,
            "latest_excerpt": summary_excerpt(latest.content) if latest else "",
            "language_label": dict(language_choices(overview.job.language)).get(overview.job.language, ""),
            "accounts": (await jobs_service.accounts_of(session, [job_id]))[job_id]
            or [overview.job.x_username],
            "schedule_label": jobs_service.schedule_label(overview.job),
            "live": is_live(overview, now),
            "poll_url": filters.url(job_id, path="/runs/poll", anchor=False),
            "job_targets": job_targets,
            "deliveries": deliveries,
            "month_costs": await executions_costs.job_month_costs(
                session, job_id=job_id, since=executions_budget.month_bounds(now, user.timezone)[0]
            ),
            "job_costs": await executions_usage.job_costs(
                session, job_id=job_id, now=now, timezone=user.timezone
            ),
            "cost_chart": cost_chart,
            "feed_url": await feeds.page_feed_url(
                session,
                user_id=user.id,
                signing_key=settings.signing_key(),
                base_url=settings.base_url,
                job_id=job_id,
            ),
        }
    )
    return render(request, "jobs/job.html", context)


@router.get("/jobs/{job_id}/runs/poll", response_class=HTMLResponse)
async def job_runs_poll(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    job_id: int,
    status: str | None = None,
    trigger: str | None = None,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """The runs fragment of the job page; 204 while it is unchanged (``since``, see xtrack.web.live)."""
    now = utcnow()
    overview = await executions_overview.get_overview(session, owner_id=user.id, job_id=job_id)
    filters = RunFilters(_status_filter(status), _trigger_filter(trigger), before)
    context = await _runs_context(session, user, overview, filters, now)
    return live.poll_response(request, "jobs/_runs.html", context, active=is_live(overview, now))


# Actions -----------------------------------------------------------------------------------------


@router.post("/jobs/{job_id}/run")
async def run_job_now(
    request: Request,
    session: SessionDep,
    user: ActiveUser,
    _csrf: CsrfForm,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    executor: ExecutorDep,
    job_id: int,
) -> Response:
    try:
        await count_manual_run(limiter, settings, user_id=user.id)
        execution = await executions_service.run_now(
            session, owner_id=user.id, job_id=job_id, now=utcnow(), executor=executor, settings=settings
        )
    except (Conflict, RateLimited) as exc:
        return redirect_with_flash(request, f"/jobs/{job_id}", exc.message, kind="error")
    return redirect_with_flash(
        request, f"/jobs/{job_id}", f"Run #{execution.id} queued: it starts in a moment."
    )


@router.post("/jobs/{job_id}/accounts/remove")
async def remove_account(
    request: Request,
    session: SessionDep,
    user: ActiveUser,
    _csrf: CsrfForm,
    job_id: int,
    account: FormStr = "",
) -> Response:
    """Stop following one account of a briefing (the last one stays: delete the job instead)."""
    await jobs_service.get_for_owner(session, owner_id=user.id, job_id=job_id)  # 404 unless theirs
    accounts = (await jobs_service.accounts_of(session, [job_id]))[job_id]
    rest = [name for name in accounts if name.lower() != account.strip().removeprefix("@").lower()]
    if not rest or len(rest) == len(accounts):
        message = "A job follows at least one account." if not rest else f"@{account} is not followed."
        return redirect_with_flash(request, f"/jobs/{job_id}", message, kind="error")
    update = JobUpdate(accounts=rest)
    await executions_service.update_job(session, owner_id=user.id, job_id=job_id, data=update, now=utcnow())
    return redirect_with_flash(request, f"/jobs/{job_id}", f"Removed @{account.strip().removeprefix('@')}.")


@router.post("/jobs/{job_id}/pause")
async def pause_job(
    request: Request, session: SessionDep, user: ActiveUser, _csrf: CsrfForm, job_id: int
) -> Response:
    await executions_service.pause_job(session, owner_id=user.id, job_id=job_id, now=utcnow())
    return redirect_with_flash(
        request, f"/jobs/{job_id}", "Job paused: it will not run until you resume it.", kind="info"
    )


@router.post("/jobs/{job_id}/resume")
async def resume_job(
    request: Request, session: SessionDep, user: ActiveUser, _csrf: CsrfForm, job_id: int
) -> Response:
    await jobs_service.resume(session, owner_id=user.id, job_id=job_id, now=utcnow())
    return redirect_with_flash(request, f"/jobs/{job_id}", "Job resumed: it runs on its schedule again.")


# Delete ------------------------------------------------------------------------------------------


@router.get("/jobs/{job_id}/delete", response_class=HTMLResponse)
async def confirm_delete_job(
    request: Request, session: SessionDep, user: CurrentUser, job_id: int
) -> Response:
    job = await jobs_service.get_for_owner(session, owner_id=user.id, job_id=job_id)
    contents = await executions_overview.contents(session, owner_id=user.id, job_id=job_id)
    context = {"job": job, "contents": contents, "can_write": user.status == UserStatus.ACTIVE.value}
    return render(request, "jobs/delete.html", context)


@router.post("/jobs/{job_id}/delete")
async def delete_job(
    request: Request, session: SessionDep, user: ActiveUser, _csrf: CsrfForm, job_id: int
) -> Response:
    job = await jobs_service.get_for_owner(session, owner_id=user.id, job_id=job_id)
    contents = await executions_overview.contents(session, owner_id=user.id, job_id=job_id)
    username = job.x_username
    await jobs_service.delete_for_owner(session, owner_id=user.id, job_id=job_id)
    message = (
        f"Deleted the job following @{username}, with its {pluralize(contents.runs, 'run')} "
        f"and {pluralize(contents.summaries, 'summary', 'summaries')}."
    )
    return redirect_with_flash(request, "/", message)

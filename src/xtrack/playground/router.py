"""Playground API: start a run, read it, the caller's history (the seed's endpoint), save as a job."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from xtrack.db import MAX_ID, utcnow
from xtrack.executions import overview as executions_overview
from xtrack.executions.router import ExecutorDep
from xtrack.jobs import service as jobs_service
from xtrack.jobs.router import job_read
from xtrack.jobs.schemas import JobRead
from xtrack.playground import history as playground_history
from xtrack.playground import service as playground_service
from xtrack.playground.schemas import PlaygroundHistory, PlaygroundRunCreate, PlaygroundRunRead, SaveAsJob
from xtrack.users.deps import ActiveUser, CurrentUser
from xtrack.users.schemas import error_responses
from xtrack.web.deps import SessionDep, SettingsDep

router = APIRouter(prefix="/playground", tags=["playground"])


@router.post(
    "/runs",
    response_model=PlaygroundRunRead,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Run the pipeline once on an account (queued; poll GET /playground/runs/{run_id})",
    responses=error_responses(401, 403, 409, 422, 429),
)
async def create_run(
    session: SessionDep,
    settings: SettingsDep,
    user: ActiveUser,
    executor: ExecutorDep,
    data: PlaygroundRunCreate,
) -> Response:
    execution = await playground_service.create_run(
        session, user=user, data=data, now=utcnow(), settings=settings, executor=executor
    )
    # Serialised here, as the history is: FastAPI would validate and dump the model once more.
    run = PlaygroundRunRead.of(playground_history.view_of(execution))
    return Response(
        run.model_dump_json(), status_code=status.HTTP_202_ACCEPTED, media_type="application/json"
    )


@router.get(
    "/runs/{run_id}",
    response_model=PlaygroundRunRead,
    summary="One of your playground runs: status, timings, error, summary",
    responses=error_responses(401, 404, 422),
)
async def get_run(session: SessionDep, user: CurrentUser, run_id: int) -> PlaygroundRunRead:
    return PlaygroundRunRead.of(await playground_history.get_run(session, user=user, run_id=run_id))


@router.get(
    "/history",
    response_model=PlaygroundHistory,
    summary="Your playground runs, newest first (queued and failed ones included)",
    responses=error_responses(401, 422),
)
async def history(
    session: SessionDep,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=playground_history.HISTORY_MAX_LIMIT)] = (
        playground_history.HISTORY_DEFAULT_LIMIT
    ),
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only runs with a smaller id (next_before)")
    ] = None,
) -> Response:
    page = await playground_history.history(session, user=user, limit=limit, before=before)
    # Serialised here rather than by FastAPI, which would dump and validate the model once more.
    return Response(PlaygroundHistory.of(page).model_dump_json(), media_type="application/json")


@router.post(
    "/runs/{run_id}/save-as-job",
    response_model=JobRead,
    status_code=status.HTTP_201_CREATED,
    summary="Create a job following the run's account with its topics and language",
    responses=error_responses(401, 403, 404, 409, 422),
)
async def save_as_job(
    session: SessionDep, settings: SettingsDep, user: ActiveUser, run_id: int, data: SaveAsJob
) -> JobRead:
    job = await playground_service.save_as_job(
        session, user=user, run_id=run_id, frequency=data.frequency, now=utcnow(), settings=settings
    )
    overview = await executions_overview.get_overview(session, owner_id=user.id, job_id=job.id)
    return job_read(overview, (await jobs_service.accounts_of(session, [job.id]))[job.id])

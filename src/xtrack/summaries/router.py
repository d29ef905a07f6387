"""Summaries API: read one summary (owner only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from xtrack.summaries import service as summaries_service
from xtrack.summaries.schemas import SummaryRead
from xtrack.users.deps import CurrentUser
from xtrack.web.deps import SessionDep

router = APIRouter(prefix="/summaries", tags=["summaries"])

RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not signed in"},
    404: {"description": "No such summary (or not yours)"},
}


@router.get("/{summary_id}", response_model=SummaryRead, summary="One of your summaries", responses=RESPONSES)
async def get_summary(session: SessionDep, user: CurrentUser, summary_id: int) -> SummaryRead:
    return SummaryRead.of(
        await summaries_service.get_for_owner(session, owner_id=user.id, summary_id=summary_id)
    )

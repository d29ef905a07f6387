"""Summaries API: list, export and read your summaries; feed tokens; the Atom feeds themselves."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BeforeValidator

from xtrack.db import MAX_ID, utcnow
from xtrack.summaries import export, feeds
from xtrack.summaries import service as summaries_service
from xtrack.summaries.schemas import FeedCreate, FeedCreated, FeedRead, SummaryPage, SummaryRead
from xtrack.summaries.service import SummaryFilters
from xtrack.users.deps import CurrentUser
from xtrack.users.schemas import error_responses
from xtrack.web.deps import DatabaseDep, SessionDep, SettingsDep

router = APIRouter(prefix="/summaries", tags=["summaries"])

RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not signed in"},
    404: {"description": "No such summary (or not yours)"},
}


# Listing and export (declared before /{summary_id} so "export" is not read as an id). -------------


def _filters(job_id: int | None, playground: bool | None, since: datetime | None) -> SummaryFilters:
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)  # a bare time in the query string means UTC
    return SummaryFilters(job_id=job_id, playground=playground, since=since)


# Bounded like every id the API reads: an id no row can have is refused here (422), before the
# export has sent its 200, instead of failing in the database halfway through the stream.
JobFilter = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this job's summaries")]
PlaygroundFilter = Annotated[
    bool | None, Query(description="true: playground runs only; false: job runs only; absent: both")
]
_ISO_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}")


def _iso_datetime(value: object) -> object:
    """Only an ISO 8601 date and time, as the schema says (pydantic would also take ``0.5`` as a
    Unix timestamp)."""
    if isinstance(value, str) and not _ISO_DATETIME.match(value):
        raise ValueError("must be an ISO 8601 date and time, e.g. 2026-12-01T08:00:00Z")
    return value


SinceFilter = Annotated[
    datetime | None,
    BeforeValidator(_iso_datetime),
    Query(description="Created at or after this time (ISO 8601; UTC if bare)"),
]


@router.get(
    "",
    response_model=SummaryPage,
    summary="Your summaries, newest first (keyset pagination with ?before=)",
    responses=error_responses(401, 422),
)
async def list_summaries(
    session: SessionDep,
    user: CurrentUser,
    job_id: JobFilter = None,
    playground: PlaygroundFilter = None,
    since: SinceFilter = None,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only summaries with a smaller id")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=summaries_service.SUMMARIES_MAX_LIMIT)] = (
        summaries_service.SUMMARIES_DEFAULT_LIMIT
    ),
) -> SummaryPage:
    page = await summaries_service.list_for_owner(
        session, owner_id=user.id, filters=_filters(job_id, playground, since), before=before, limit=limit
    )
    return SummaryPage(items=[SummaryRead.of(item) for item in page.items], next_before=page.next_before)


@router.get(
    "/export",
    summary="Download your summaries as JSON or Markdown",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/json": {}, "text/markdown": {}}, "description": "The export file"},
        **error_responses(401, 422),
    },
)
async def export_summaries(
    user: CurrentUser,
    database: DatabaseDep,
    format: Annotated[Literal["json", "md"], Query(description="json or md (Markdown)")] = "json",
    job_id: JobFilter = None,
    playground: PlaygroundFilter = None,
    since: SinceFilter = None,
) -> StreamingResponse:
    now = utcnow()
    body = export.stream(
        format,
        database,
        owner_id=user.id,
        email=user.email,
        filters=_filters(job_id, playground, since),
        now=now,
    )
    return StreamingResponse(
        body,
        media_type=export.MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{export.filename(format, now=now)}"'},
    )


@router.get("/{summary_id}", response_model=SummaryRead, summary="One of your summaries", responses=RESPONSES)
async def get_summary(session: SessionDep, user: CurrentUser, summary_id: int) -> SummaryRead:
    return SummaryRead.of(
        await summaries_service.get_for_owner(session, owner_id=user.id, summary_id=summary_id)
    )


# Feed tokens (API) and the feeds (public, tokenized URLs). ---------------------------------------

feeds_api_router = APIRouter(prefix="/feeds", tags=["feeds"])


def _feed_read(token: Any) -> FeedRead:
    return FeedRead(
        id=token.id,
        name=token.name,
        prefix=token.prefix,
        created_at=token.created_at,
        last_used_at=token.last_used_at,
    )


@feeds_api_router.post(
    "",
    response_model=FeedCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Create a private Atom feed address (also listed, with its address, on the Account page)",
    responses=error_responses(401, 422),
)
async def create_feed(
    session: SessionDep, settings: SettingsDep, user: CurrentUser, data: FeedCreate | None = None
) -> FeedCreated:
    token, plain = await feeds.create_token(
        session, user=user, name=(data or FeedCreate()).name, signing_key=settings.signing_key(), now=utcnow()
    )
    return FeedCreated(
        **_feed_read(token).model_dump(),
        token=plain,
        url=feeds.feed_url(settings.base_url, plain),
        job_url_template=feeds.feed_url(settings.base_url, plain, job_id=0).replace(
            "/0.atom", "/{job_id}.atom"
        ),
    )


@feeds_api_router.get(
    "", response_model=list[FeedRead], summary="Your feed addresses", responses=error_responses(401)
)
async def list_feeds(session: SessionDep, user: CurrentUser) -> list[FeedRead]:
    return [_feed_read(token) for token in await feeds.list_tokens(session, user_id=user.id)]


@feeds_api_router.delete(
    "/{feed_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a feed address (its URLs answer 404 from now on)",
    responses=error_responses(401, 404),
)
async def revoke_feed(session: SessionDep, user: CurrentUser, feed_id: int) -> Response:
    await feeds.revoke(session, user_id=user.id, feed_id=feed_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


feed_router = APIRouter(tags=["feeds"])

FEED_HEADERS = {
    "Cache-Control": "private, max-age=300",
    "Referrer-Policy": "no-referrer",  # the URL is the credential
    "X-Robots-Tag": "noindex, nofollow",
}


# Feeds live outside /api: their errors are the HTML error pages a browser opening the URL sees.
FEED_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/atom+xml": {}}},
    304: {"description": "Not modified since the ETag sent in If-None-Match"},
    404: {"description": "Unknown or revoked feed (an HTML page)", "content": {"text/html": {}}},
}


def _feed_response(request: Request, feed: feeds.Feed) -> Response:
    headers = {**FEED_HEADERS, "ETag": feed.etag}
    if feed.etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    if request.method == "HEAD":  # a feed reader checking for changes: the GET's headers, no body
        headers["Content-Length"] = str(len(feed.body))
        return Response(media_type=feeds.ATOM_MEDIA_TYPE, headers=headers)
    return Response(feed.body, media_type=feeds.ATOM_MEDIA_TYPE, headers=headers)


@feed_router.head("/feeds/{token}.atom", include_in_schema=False)
@feed_router.get(
    "/feeds/{token}.atom",
    summary="Atom feed of your summaries (private URL)",
    response_class=Response,
    responses=FEED_RESPONSES,
)
async def user_feed(request: Request, session: SessionDep, settings: SettingsDep, token: str) -> Response:
    feed = await feeds.user_feed(session, token=token, base_url=settings.base_url, now=utcnow())
    return _feed_response(request, feed)


@feed_router.head("/feeds/{token}/jobs/{job_id}.atom", include_in_schema=False)
@feed_router.get(
    "/feeds/{token}/jobs/{job_id}.atom",
    summary="Atom feed of one job's summaries (private URL)",
    response_class=Response,
    responses={
        **FEED_RESPONSES,
        422: {"description": "job_id is not a number (an HTML page)", "content": {"text/html": {}}},
    },
)
async def job_feed(
    request: Request, session: SessionDep, settings: SettingsDep, token: str, job_id: int
) -> Response:
    feed = await feeds.job_feed(session, token=token, job_id=job_id, base_url=settings.base_url, now=utcnow())
    return _feed_response(request, feed)

"""The summary page: the rendered summary, the posts it cites, model, tokens and cost (owner only)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from xtrack.db import utcnow
from xtrack.errors import NotFound
from xtrack.executions import service as executions_service
from xtrack.summaries import feeds
from xtrack.summaries import service as summaries_service
from xtrack.summarize.citations import link_destination
from xtrack.summarize.prompts import language_name
from xtrack.users.deps import CurrentUser
from xtrack.web.deps import SessionDep, SettingsDep
from xtrack.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/summaries/{summary_id}", response_class=HTMLResponse)
async def summary_page(
    request: Request, session: SessionDep, settings: SettingsDep, user: CurrentUser, summary_id: int
) -> Response:
    summary = await summaries_service.get_for_owner(session, owner_id=user.id, summary_id=summary_id)
    posts = await summaries_service.cited_posts(session, summary=summary)
    run = None
    if summary.execution_id is not None:
        try:
            run = await executions_service.get_for_owner(
                session, owner_id=user.id, execution_id=summary.execution_id
            )
        except NotFound:
            run = None  # pruned history keeps the summary
    # The posts the summary links to come first; the rest fold away (a busy account's run has hundreds).
    linked = [bool(post.url) and f"({link_destination(post.url)})" in summary.content for post in posts]
    language = str((summary.raw_data or {}).get("language") or "en")
    # The offline summarizer writes its own words in the job's language but cannot translate posts.
    quotes_untranslated = summary.model == "extractive" and not language.lower().startswith("en")
    context = {
        "summary": summary,
        "untranslated_language": language_name(language) if quotes_untranslated else None,
        "offline_reason": (summary.raw_data or {}).get("offline"),
        "posts": posts,
        "quoted": [post for post, is_linked in zip(posts, linked, strict=True) if is_linked],
        "others": [post for post, is_linked in zip(posts, linked, strict=True) if not is_linked],
        "cited_count": len(summaries_service.post_ids(summary)),
        "run": run,
        "now": utcnow(),
        # The job's feed (playground runs are in no feed).
        "feed_url": await feeds.page_feed_url(
            session,
            user_id=user.id,
            signing_key=settings.signing_key(),
            base_url=settings.base_url,
            job_id=summary.job_id,
        )
        if summary.job_id is not None
        else None,
    }
    return render(request, "summaries/summary.html", context)

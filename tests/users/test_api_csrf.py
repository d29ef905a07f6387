"""Finding 7: an unsafe /api/v1 request authenticated by the session cookie needs X-CSRF-Token
(another site can make a browser send the cookie, never the header); bearer tokens do not."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import auth_headers, make_job, make_user, signed_in


async def test_a_cross_site_post_with_the_cookie_alone_is_403(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    job = await make_job(session, owner=owner)
    csrf = await signed_in(client, session, owner)

    forged = await client.post(f"/api/v1/jobs/{job.id}/pause", headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403 and "X-CSRF-Token" in forged.json()["detail"]
    wrong = await client.post(f"/api/v1/jobs/{job.id}/pause", headers={"X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403
    deleted = await client.delete(f"/api/v1/jobs/{job.id}")
    assert deleted.status_code == 403
    await session.refresh(job)
    assert job.is_active

    # Reads need no token; the page's own token is accepted.
    assert (await client.get(f"/api/v1/jobs/{job.id}")).status_code == 200
    paused = await client.post(f"/api/v1/jobs/{job.id}/pause", headers={"X-CSRF-Token": csrf})
    assert paused.status_code == 200 and paused.json()["is_active"] is False


async def test_bearer_tokens_need_no_csrf_header(client: httpx.AsyncClient, session: AsyncSession) -> None:
    owner = await make_user(session)
    job = await make_job(session, owner=owner)
    headers = await auth_headers(session, owner)
    response = await client.post(f"/api/v1/jobs/{job.id}/pause", headers=headers)
    assert response.status_code == 200 and response.json()["is_active"] is False

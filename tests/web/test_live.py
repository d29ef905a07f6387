from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import jinja2
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response

from xtrack.config import get_settings
from xtrack.web.live import poll_response
from xtrack.web.templating import templates

FRAGMENT = (
    '{% import "macros.html" as ui %}'
    "{% for r in runs %}{{ ui.status_badge(r.status, run_id=r.id) }}{% endfor %}"
)


@pytest.fixture
async def poll_client() -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, Any]]]:
    original = templates.env.loader
    assert original is not None
    templates.env.loader = jinja2.ChoiceLoader(
        [jinja2.DictLoader({"_test_fragment.html": FRAGMENT}), original]
    )
    state: dict[str, Any] = {"runs": [{"id": 1, "status": "QUEUED"}]}
    app = FastAPI()
    app.state.settings = get_settings()

    @app.get("/poll")
    async def poll(request: Request) -> Response:
        runs = state["runs"]
        active = any(r["status"] in {"QUEUED", "RUNNING"} for r in runs)
        return poll_response(request, "_test_fragment.html", {"runs": runs}, active=active)

    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            yield client, state
    finally:
        templates.env.loader = original


async def test_unchanged_fragment_is_a_204_and_changes_are_sent(
    poll_client: tuple[httpx.AsyncClient, dict[str, Any]],
) -> None:
    client, state = poll_client
    first = await client.get("/poll", params={"since": ""})
    assert first.status_code == 200
    assert 'data-status="QUEUED"' in first.text and "data-active" in first.text
    assert first.headers["x-poll-active"] == "true"
    assert first.headers["cache-control"] == "no-store"
    since = first.headers["x-poll-since"]

    again = await client.get("/poll", params={"since": since})
    assert again.status_code == 204 and again.content == b""
    assert again.headers["x-poll-since"] == since

    state["runs"] = [{"id": 1, "status": "COMPLETED"}]
    changed = await client.get("/poll", params={"since": since})
    assert changed.status_code == 200
    assert 'data-status="COMPLETED"' in changed.text
    assert changed.headers["x-poll-active"] == "false"
    assert changed.headers["x-poll-since"] != since

"""The server side of static/js/live.js: poll endpoints answer 204 when nothing changed.

A poll endpoint renders the same fragment template the page includes inside its
``ui.poll_region(...)`` and returns ``poll_response(...)``. The fragment's digest is the ``since``
token: the browser sends back the digest of what it shows, so an unchanged fragment costs a 204.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import Request
from starlette.responses import Response

from xtrack.web.templating import templates

SINCE_HEADER = "X-Poll-Since"
ACTIVE_HEADER = "X-Poll-Active"


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:20]


def poll_response(request: Request, name: str, context: dict[str, Any], *, active: bool) -> Response:
    """The fragment ``name`` rendered with ``context``, or 204 if the client already has it.

    ``active`` is whether any run the fragment shows is still queued or running; once it is
    False live.js stops polling.
    """
    # Not render(): a background poll must not consume the flash messages meant for the next page.
    data: dict[str, Any] = {"user": getattr(request.state, "user", None), **context}
    page = templates.TemplateResponse(request, name, data)
    token = digest(bytes(page.body))
    headers = {
        SINCE_HEADER: token,
        ACTIVE_HEADER: "true" if active else "false",
        "Cache-Control": "no-store",
    }
    if request.query_params.get("since") == token:
        return Response(status_code=204, headers=headers)
    page.headers.update(headers)
    return page

"""The Jinja2 environment every page renders through (autoescaping on)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from xtrack.db import utcnow
from xtrack.summarize.rendering import render_markdown
from xtrack.web import csrf, flash, presenters

TEMPLATES_DIR = Path(__file__).parent / "templates"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
# Presenters and macros (templates/macros.html) word statuses, times and numbers the same way everywhere.
templates.env.filters.update(presenters.FILTERS)
templates.env.globals.update(presenters.GLOBALS)
templates.env.globals["utcnow"] = utcnow
# The one sanctioned way to put HTML from user or LLM text on a page: {{ summary.content|markdown }}.
templates.env.filters["markdown"] = render_markdown
# Every <form method="post"> carries {{ csrf_input(request) }} (see xtrack.web.csrf).
templates.env.globals["csrf_token"] = csrf.csrf_token
templates.env.globals["csrf_input"] = csrf.csrf_input


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    """Render a page; the template sees ``request`` and whatever the request state carries."""
    data: dict[str, Any] = {
        "user": getattr(request.state, "user", None),
        "flashes": flash.pop_flashes(request),  # messages from the previous redirect (xtrack.web.flash)
    }
    data.update(context or {})
    response = templates.TemplateResponse(request, name, data, status_code=status_code)
    flash.clear_if_read(request, response)
    csrf.set_cookie_if_needed(request, response)
    return response

"""The Jinja2 environment every page renders through (autoescaping on)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

TEMPLATES_DIR = Path(__file__).parent / "templates"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    """Render a page; the template sees ``request`` and whatever the request state carries."""
    data: dict[str, Any] = {"user": getattr(request.state, "user", None)}
    data.update(context or {})
    return templates.TemplateResponse(request, name, data, status_code=status_code)

"""One-time messages across a redirect (Post/Redirect/Get).

A page POST that succeeds answers with a redirect carrying a flash::

    from xtrack.web.flash import redirect_with_flash

    return redirect_with_flash(request, "/jobs/42", "Job created.")             # kind="success"
    return redirect_with_flash(request, "/account", "Token revoked.", kind="info")

The message travels in a short-lived signed cookie (``xtrack_flash``, itsdangerous); the next page
rendered through ``render()`` shows it (``base.html`` loops over ``flashes``, each with ``kind``
and ``message``) and clears the cookie. Kinds: success, info, error. Never put secrets in a flash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from itsdangerous import BadSignature, URLSafeTimedSerializer

from xtrack.config import Settings

FLASH_COOKIE = "xtrack_flash"
FLASH_MAX_AGE_SECONDS = 120
FlashKind = Literal["success", "info", "error"]
_READ = "flash_read"


@dataclass(frozen=True)
class Flash:
    kind: str
    message: str


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.signing_key(), salt="xtrack.flash")


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def add_flash(request: Request, response: Response, message: str, *, kind: FlashKind = "success") -> None:
    """Attach a message to ``response`` for the next page this browser renders."""
    pending = [{"kind": f.kind, "message": f.message} for f in _read(request)]
    pending.append({"kind": kind, "message": message})
    settings = _settings(request)
    response.set_cookie(
        FLASH_COOKIE,
        _serializer(settings).dumps(pending[-5:]),
        max_age=FLASH_MAX_AGE_SECONDS,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )


def redirect_with_flash(
    request: Request, url: str, message: str | None = None, *, kind: FlashKind = "success"
) -> RedirectResponse:
    """A 303 See Other to ``url``, carrying ``message`` when given."""
    response = RedirectResponse(url, status_code=303)
    if message:
        add_flash(request, response, message, kind=kind)
    return response


def _read(request: Request) -> list[Flash]:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return []
    try:
        data = _serializer(_settings(request)).loads(raw, max_age=FLASH_MAX_AGE_SECONDS)
    except BadSignature:
        return []
    if not isinstance(data, list):
        return []
    return [
        Flash(kind=str(item.get("kind", "info")), message=str(item.get("message", "")))
        for item in data
        if isinstance(item, dict) and item.get("message")
    ]


def pop_flashes(request: Request) -> list[Flash]:
    """The messages waiting for this browser; ``clear_if_read`` then deletes them."""
    flashes = _read(request)
    if request.cookies.get(FLASH_COOKIE):
        setattr(request.state, _READ, True)
    return flashes


def clear_if_read(request: Request, response: Response) -> None:
    """Delete the flash cookie once its messages were shown (unless this response set new ones)."""
    setting_new = any(h.startswith(f"{FLASH_COOKIE}=") for h in response.headers.getlist("set-cookie"))
    if getattr(request.state, _READ, False) and not setting_new:
        response.delete_cookie(FLASH_COOKIE, path="/", httponly=True, samesite="lax")

"""One set of errors, two renderers: JSON ``{"detail": ...}`` for /api, HTML pages for the rest."""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import DBAPIError, NoInspectionAvailable
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from xtrack.db import connection_lost
from xtrack.errors import XTrackError
from xtrack.web.deps import database_of
from xtrack.web.templating import render

logger = logging.getLogger("xtrack.web")

ERROR_TITLES = {
    400: "Bad request",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    422: "Please check your input",
    429: "Too many requests",
    500: "Something went wrong",
    502: "An upstream service failed",
    503: "Unavailable for a moment",
}
# No database connection came free in time (an overloaded host under a burst): ask again soon.
BUSY_RETRY_AFTER = 5
BUSY_DETAIL = "The server is busy: try again in a few seconds."


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path in {"/healthz", "/readyz"}


def _fields_message(detail: object, status_code: int) -> str:
    """A page's words for validation errors: each field named, as the JSON answer names it."""
    if not isinstance(detail, list) or not detail:
        return ERROR_TITLES.get(status_code, "Error")
    parts = []
    for error in detail:
        location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")]
        message = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
        parts.append(f"{'.'.join(location).replace('_', ' ').capitalize() or 'Input'}: {message}.")
    return " ".join(parts)


def error_response(
    request: Request, status_code: int, detail: object, *, retry_after: int | None = None
) -> Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    if wants_json(request):
        return JSONResponse({"detail": detail}, status_code=status_code, headers=headers)
    message = detail if isinstance(detail, str) else _fields_message(detail, status_code)
    response = render(
        request,
        "errors/error.html",
        {"status_code": status_code, "title": ERROR_TITLES.get(status_code, "Error"), "message": message},
        status_code=status_code,
    )
    if headers:
        response.headers.update(headers)
    return response


async def _readable_viewer(request: Request) -> None:
    """Keep the signed-in user usable by the error page.

    The request's session rolled back when the error escaped the route, which expired the
    ``User`` it had loaded; reading ``user.theme`` in base.html would then fail (a 500 instead of
    the intended 403/404). Reload the row in a short session of its own; on any failure the page
    renders as signed out rather than not at all.
    """
    user = getattr(request.state, "user", None)
    if user is None:
        return
    try:
        state = sa_inspect(user)
    except NoInspectionAvailable:
        return
    if not state.expired and not state.expired_attributes:
        return
    fresh = None
    try:
        if state.identity:
            async with database_of(request).sessionmaker() as session:
                fresh = await session.get(type(user), state.identity[0])
    except Exception:  # the error page must render even when the database is the problem
        logger.warning("error_page.viewer_reload_failed", exc_info=True)
    request.state.user = fresh


async def _xtrack_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, XTrackError)
    await _readable_viewer(request)
    if getattr(exc, "redirect_to_signin", False) and not wants_json(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303)
    return error_response(request, exc.status_code, exc.message, retry_after=exc.retry_after)


UNREADABLE_BODY = [
    {"loc": ["body"], "msg": "The request body must be JSON encoded as UTF-8.", "type": "json_invalid"}
]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    await _readable_viewer(request)
    if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
        # FastAPI answers bytes that are not UTF-8 with a bare 400, where JSON that does not parse
        # gets a 422: one answer for both, the 422 every route declares.
        return error_response(request, 422, UNREADABLE_BODY)
    response = error_response(request, exc.status_code, exc.detail)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    await _readable_viewer(request)
    errors = [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]
    return error_response(request, 422, errors)


def is_id_out_of_range(exc: BaseException) -> bool:
    """An integer too large for the database's columns (SQLite's 64 bits, PostgreSQL's int4):
    no row can have it, so a lookup with it finds nothing."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OverflowError) or "out of int32 range" in str(cause).split("\n", 1)[0]:
            return True
        cause = getattr(cause, "orig", None) or cause.__cause__
    return False


async def _database_busy(request: Request, exc: Exception) -> Response:
    """503 with Retry-After, not a 500 logged as a crash: the client's request was fine. No viewer
    lookup either (it would wait for a connection too)."""
    logger.warning("request.database_busy", extra={"path": request.url.path})
    return error_response(request, 503, BUSY_DETAIL, retry_after=BUSY_RETRY_AFTER)


async def _database_error(request: Request, exc: Exception) -> Response:
    if "too many clients" in str(exc):  # PostgreSQL's max_connections reached (SQLSTATE 53300)
        return await _database_busy(request, exc)
    if is_id_out_of_range(exc):
        await _readable_viewer(request)
        return error_response(request, 404, "Not found.")
    return await _unexpected_error(request, exc)


# Seconds a client waits before trying again after the database connection was lost: the pool
# has dropped the dead connections by then and the next request opens fresh ones.
RETRY_AFTER_CONNECTION_LOST = 1


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    if connection_lost(exc):
        # A database restart or a terminated connection: not a bug, and not a 500. The client
        # repeats the request after Retry-After (a repeated run now is refused with 409 if the
        # first one did commit).
        logger.warning(
            "request.database_unavailable", extra={"path": request.url.path, "error": type(exc).__name__}
        )
        await _readable_viewer(request)
        return error_response(
            request,
            503,
            "The database is unavailable for a moment: please try again.",
            retry_after=RETRY_AFTER_CONNECTION_LOST,
        )
    logger.exception("request.failed", extra={"path": request.url.path})
    await _readable_viewer(request)
    return error_response(request, 500, "Internal error: the problem has been logged.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(XTrackError, _xtrack_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    # Raised by the driver for an id no column can hold; handled here, not in the catch-all below,
    # so the server does not also log it as a crash.
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(OverflowError, _database_error)
    app.add_exception_handler(PoolTimeout, _database_busy)
    # A database that refuses connections (restarting) raises the socket's own error, not a DBAPIError:
    # handled here too, since the catch-all below also re-raises to the server after answering.
    app.add_exception_handler(OSError, _unexpected_error)
    app.add_exception_handler(Exception, _unexpected_error)

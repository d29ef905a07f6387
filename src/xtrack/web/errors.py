"""One set of errors, two renderers: JSON ``{"detail": ...}`` for /api, HTML pages for the rest."""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from xtrack.errors import XTrackError
from xtrack.web.templating import render

logger = logging.getLogger("xtrack.web")

ERROR_TITLES = {
    400: "Bad request",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    422: "Please check your input",
    429: "Too many requests",
    500: "Something went wrong",
    502: "An upstream service failed",
}


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path in {"/healthz", "/readyz"}


def error_response(
    request: Request, status_code: int, detail: object, *, retry_after: int | None = None
) -> Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    if wants_json(request):
        return JSONResponse({"detail": detail}, status_code=status_code, headers=headers)
    message = detail if isinstance(detail, str) else ERROR_TITLES.get(status_code, "Error")
    response = render(
        request,
        "errors/error.html",
        {"status_code": status_code, "title": ERROR_TITLES.get(status_code, "Error"), "message": message},
        status_code=status_code,
    )
    if headers:
        response.headers.update(headers)
    return response


async def _xtrack_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, XTrackError)
    if getattr(exc, "redirect_to_signin", False) and not wants_json(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303)
    return error_response(request, exc.status_code, exc.message, retry_after=exc.retry_after)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    response = error_response(request, exc.status_code, exc.detail)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]
    return error_response(request, 422, errors)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    logger.exception("request.failed", extra={"path": request.url.path})
    return error_response(request, 500, "Internal error: the problem has been logged.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(XTrackError, _xtrack_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)

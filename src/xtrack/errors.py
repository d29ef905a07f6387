"""Domain errors. Services raise these; the web layer renders them as JSON or HTML."""

from __future__ import annotations


class XTrackError(Exception):
    status_code = 400

    def __init__(self, message: str, *, field: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.retry_after = retry_after


class NotFound(XTrackError):
    status_code = 404


class Unauthorized(XTrackError):
    status_code = 401


class Forbidden(XTrackError):
    status_code = 403


class Conflict(XTrackError):
    status_code = 409


class Invalid(XTrackError):
    status_code = 422


class RateLimited(XTrackError):
    status_code = 429


class UpstreamError(XTrackError):
    status_code = 502

"""Logging: readable in a terminal, JSON when XTRACK_LOG_FORMAT=json; stable event names.

Every line is one event (``execution.completed``, ``source.fetched``…) with its fields. While an
execution runs, the runner binds ``execution_id``, ``job_id``, ``user_id`` and ``trigger`` to the
task's context (``bind_execution``), so every line logged on its behalf (sources, summarizers,
notifications) carries them.

Secrets never reach the output: the last processor before rendering replaces the values of keys
that name a secret (password, token, authorization, api_key, secret, cookie…) and, in every string,
bearer credentials, XTrack's own token formats, provider keys and passwords inside URLs. Tracebacks
are rendered as plain text (no local variables) and go through the same redaction.
"""

from __future__ import annotations

import io
import logging
import re
import sys
from collections.abc import Mapping
from contextvars import Token
from typing import Any, TextIO

import structlog

REDACTED = "[redacted]"

# Keys whose values are secrets: one of its words ("x_password" -> x, password) is in SECRET_WORDS,
# or it ends with a SECRET_SUFFIXES entry (token, csrf_token, llm_api_key), or it is in SECRET_KEYS.
# Counters such as "input_tokens" and ids such as "token_id" are not secrets.
SECRET_WORDS = frozenset(
    {"password", "passwd", "secret", "authorization", "cookie", "apikey", "credentials", "passphrase"}
)
SECRET_KEYS = frozenset({"set_cookie", "dsn"})
SECRET_SUFFIXES = ("token", "api_key", "apikey", "secret_key", "private_key")

_SECRET_VALUES = [
    # "Authorization: <scheme> <credential>" and "Bearer <credential>" (headers echoed in errors).
    (re.compile(r"(?i)\b(authorization\s*[:=]\s*)[^\s,;]+(\s+[^\s,;]+)?"), r"\1" + REDACTED),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 " + REDACTED),
    # XTrack's own API and feed tokens.
    (re.compile(r"\bx[tf]_[A-Za-z0-9_-]{20,}"), REDACTED),
    # Provider keys: OpenAI/Anthropic style "sk-...", "sk-ant-...".
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), REDACTED),
    # user:password@ inside URLs (database, broker and SMTP URLs).
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*):[^\s@/]+@"), r"\1:" + REDACTED + "@"),
    # token=..., api_key=..., password=... in query strings and "key=value" text.
    (
        re.compile(
            r"(?i)\b((?:access_|api_|auth_|feed_|csrf_)?(?:token|api_?key|password|secret)=)[^\s&\"']+"
        ),
        r"\1" + REDACTED,
    ),
]


def is_secret_key(key: str) -> bool:
    name = key.lower().replace("-", "_")
    if name in SECRET_KEYS or name.endswith(SECRET_SUFFIXES):
        return True
    return any(word in SECRET_WORDS for word in name.split("_"))


def redact_text(text: str) -> str:
    for pattern, replacement in _SECRET_VALUES:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any, *, depth: int = 0) -> Any:
    """``value`` with secrets replaced: strings scanned, mappings by key, sequences item by item."""
    if depth > 6:
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {
            key: (
                REDACTED
                if isinstance(key, str) and is_secret_key(key) and item
                else redact_value(item, depth=depth + 1)
            )
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(item, depth=depth + 1) for item in value]
    if isinstance(value, bytes | bytearray):
        return redact_text(bytes(value).decode("utf-8", "replace"))
    if isinstance(value, int | float | bool) or value is None:
        return value
    # Anything else is rendered with str() or repr(): scan that text instead.
    return redact_text(str(value))


def redact_secrets(
    _logger: object, _method: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    """structlog processor: the last step before rendering (see the module docstring)."""
    for key in list(event_dict):
        value = event_dict[key]
        if key in ("exc_info", "stack_info"):
            continue  # rendered later by the exception formatter, which redacts its text
        if is_secret_key(key) and value not in (None, ""):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = redact_value(value)
    return event_dict


def _plain_redacted_traceback(sio: TextIO, exc_info: Any) -> None:
    """Console tracebacks without local variables (they may hold secrets), redacted."""
    buffer = io.StringIO()
    structlog.dev.plain_traceback(buffer, exc_info)
    sio.write(redact_text(buffer.getvalue()))


def _redact_exception(
    _logger: object, _method: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    exception = event_dict.get("exception")
    if isinstance(exception, str):
        event_dict["exception"] = redact_text(exception)
    return event_dict


def _drop_color_message(
    _logger: object, _method: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    event_dict.pop("color_message", None)  # uvicorn's ANSI duplicate of the message
    return event_dict


def setup_logging(log_format: str = "console", level: str = "INFO", *, stream: TextIO | None = None) -> None:
    """Route structlog and stdlib logging to one handler on ``stream`` (default: stderr)."""
    output = stream or sys.stderr
    final: list[structlog.types.Processor] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if log_format == "json":
        final += [
            structlog.processors.format_exc_info,
            _redact_exception,
            redact_secrets,
            structlog.processors.JSONRenderer(default=str),
        ]
    else:
        final += [
            redact_secrets,
            structlog.dev.ConsoleRenderer(
                colors=output.isatty(), exception_formatter=_plain_redacted_traceback
            ),
        ]
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_color_message,
    ]
    structlog.configure(
        # An event below the level is dropped before any processor runs (timestamps cost CPU).
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        # Extras first, so _drop_color_message also sees the ones uvicorn passes.
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=final,
    )
    handler = logging.StreamHandler(output)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "httpx", "httpcore", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger


LogContext = Mapping[str, Token[Any]]


def bind_execution(
    *, execution_id: int, job_id: int | None, user_id: int | None, trigger: str, attempt: int
) -> LogContext:
    """Bind an execution's ids to this task's log context; undo with ``unbind(context)``."""
    return structlog.contextvars.bind_contextvars(
        execution_id=execution_id, job_id=job_id, user_id=user_id, trigger=trigger, attempt=attempt
    )


def unbind(context: LogContext) -> None:
    structlog.contextvars.reset_contextvars(**context)

"""Helpers for HTML forms validated by the API's Pydantic schemas.

A page builds the same schema the JSON API takes from its form fields; a ``ValidationError`` becomes
``{field: message}`` for ``ui.error_summary`` and ``ui.field`` (422, input kept), worded for a
person ("X account: must be an X username ...") instead of Pydantic's "Value error, ...".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated

from fastapi import Form
from pydantic import AfterValidator, ValidationError

from xtrack.errors import XTrackError
from xtrack.text import check_multi_line, check_single_line

# Every form field: text with a control character (a NUL PostgreSQL cannot store) is a 422 naming
# the field before the route runs. A textarea (one topic per line) takes FormLines.
FormStr = Annotated[str, Form(), AfterValidator(check_single_line)]
FormLines = Annotated[str, Form(), AfterValidator(check_multi_line)]
# A search box's query parameter, under the same rule.
QueryText = Annotated[str, AfterValidator(check_single_line)]

_PREFIXES = ("Value error, ", "Assertion failed, ")
_SPLIT_LIST = re.compile(r"[,\n\r]+")


def split_list(text: str) -> list[str]:
    """ "ai, chips" or one per line -> ["ai", "chips"] (blanks dropped; the schema trims and dedupes)."""
    return [item.strip() for item in _SPLIT_LIST.split(text or "") if item.strip()]


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    return text[0].upper() + text[1:] + ("" if text.endswith((".", "!", "?", ")")) else ".")


def field_errors(
    exc: ValidationError,
    *,
    labels: Mapping[str, str],
    required: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """One message per field: ``labels`` names each field, ``required`` words a missing value
    ("Enter the X account to follow"). Errors on fields not in ``labels`` become form-level."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        location = error.get("loc") or ()
        name = str(location[0]) if location else "__all__"
        if name not in labels:
            name = "__all__"
        if name in errors:
            continue
        if required and name in required and error.get("type") == "missing":
            errors[name] = required[name]
            continue
        message = str(error.get("msg", "is not valid"))
        for prefix in _PREFIXES:
            message = message.removeprefix(prefix)
        label = labels.get(name)
        errors[name] = _sentence(f"{label}: {message}" if label and name != "__all__" else message)
    return errors


def error_of(exc: XTrackError) -> dict[str, str]:
    """A service error as form errors: on its field when it names one, else at the form level."""
    return {exc.field or "__all__": exc.message}

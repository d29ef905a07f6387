"""Free text from users: the one check every API field and form field goes through.

PostgreSQL cannot store a NUL in text (the driver raises, the request would be a 500), and other
C0 control characters in a name, a topic or an email are never meant and break logs, headers and
the pages that show them. Single-line text refuses all of them (and DEL); multi-line text allows
tab, line feed and carriage return.

In a schema::

    from xtrack.text import Text

    class FeedCreate(BaseModel):
        name: Text = Field(max_length=100)

A validator that receives raw input (a ``BeforeValidator``) calls ``check_single_line`` itself.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

_SINGLE_LINE_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")
_MULTI_LINE_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# The same rules for OpenAPI clients and fuzzers, so schema-valid input is accepted.
SINGLE_LINE_PATTERN = r"^[^\x00-\x1f\x7f]*$"
MULTI_LINE_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


def _refuse(found: str) -> ValueError:
    return ValueError(f"must not contain control characters (found U+{ord(found):04X})")


def check_single_line(value: str) -> str:
    """``value`` unchanged, or ValueError when it holds a control character (tab and newline too)."""
    match = _SINGLE_LINE_FORBIDDEN.search(value)
    if match:
        raise _refuse(match.group())
    return value


def check_multi_line(value: str) -> str:
    """``value`` unchanged, or ValueError when it holds a control character other than tab and newlines."""
    match = _MULTI_LINE_FORBIDDEN.search(value)
    if match:
        raise _refuse(match.group())
    return value


Text = Annotated[
    str, AfterValidator(check_single_line), Field(json_schema_extra={"pattern": SINGLE_LINE_PATTERN})
]
MultilineText = Annotated[
    str, AfterValidator(check_multi_line), Field(json_schema_extra={"pattern": MULTI_LINE_PATTERN})
]

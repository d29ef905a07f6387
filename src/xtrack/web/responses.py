"""JSON responses for the hot read endpoints."""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response
from pydantic import TypeAdapter


def json_response(adapter: TypeAdapter[Any], value: Any) -> Response:
    """``value`` (a service's plain dataclass) as JSON, read straight from its attributes by
    pydantic's Rust core with no model built or validated: for the hottest list endpoints, where
    building the response models was most of the serialisation time. The route's
    ``response_model`` documents the same shape; a test keeps the two identical."""
    return Response(content=adapter.dump_json(value), media_type="application/json")

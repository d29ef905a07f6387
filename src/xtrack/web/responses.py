"""JSON responses for the hot read endpoints."""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response
from pydantic import BaseModel, TypeAdapter


def model_response(model: BaseModel) -> Response:
    """``model`` as JSON, serialised once by pydantic's Rust core. Routes keep their
    ``response_model`` for the OpenAPI schema; returning a Response skips FastAPI's second
    validation and encoding pass of a model that was validated when it was built."""
    return Response(content=model.model_dump_json(), media_type="application/json")


def json_response(adapter: TypeAdapter[Any], value: Any) -> Response:
    """``value`` (a service's plain dataclass) as JSON, read straight from its attributes by
    pydantic's Rust core with no model built or validated: for the hottest list endpoints, where
    building the response models was most of the serialisation time. The route's
    ``response_model`` documents the same shape; a test keeps the two identical."""
    return Response(content=adapter.dump_json(value), media_type="application/json")

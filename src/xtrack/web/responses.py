"""JSON responses for the hot read endpoints."""

from __future__ import annotations

from fastapi.responses import Response
from pydantic import BaseModel


def model_response(model: BaseModel) -> Response:
    """``model`` as JSON, serialised once by pydantic's Rust core. Routes keep their
    ``response_model`` for the OpenAPI schema; returning a Response skips FastAPI's second
    validation and encoding pass of a model that was validated when it was built."""
    return Response(content=model.model_dump_json(), media_type="application/json")

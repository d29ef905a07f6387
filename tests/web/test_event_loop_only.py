"""Every route and every dependency runs on the event loop: FastAPI runs a plain ``def`` endpoint or
dependency in its thread pool, a thread hop per request and a wait for one of its 40 threads when a
burst arrives (issue 28: two such hops per playground POST queued behind each other at N=500)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from xtrack.config import Settings
from xtrack.db import Database
from xtrack.web.app import create_app


def _runs_on_the_loop(call: Any) -> bool:
    if inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call):
        return True
    method = type(call).__call__  # a dependency instance (HTTPBearer): its class's __call__
    return not inspect.isfunction(call) and (
        inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method)
    )


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)  # FastAPI includes routers lazily
        if included is not None:
            yield from _api_routes(included.routes)


def test_no_route_or_dependency_is_run_in_the_thread_pool(settings: Settings, db: Database) -> None:
    app = create_app(settings, database=db)
    routes = list(_api_routes(app.routes))
    assert len(routes) > 50  # the API and the pages
    blocking = sorted(
        {
            f"{route.path}: {getattr(call, '__qualname__', call)}"
            for route in routes
            for call in (route.endpoint, *_calls(route.dependant))
            if not _runs_on_the_loop(call)
        }
    )
    assert blocking == []

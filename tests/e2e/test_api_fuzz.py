"""Schemathesis over the whole OpenAPI schema of a running ``xtrack serve``, over real HTTP and
authenticated as a real ACTIVE user: no input the schema allows (and no malformed one it generates)
may produce a 5xx, an undeclared status code, a wrong content type or a body that breaks the
declared response schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.hypothesis.builder import ApiOperationMark
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import TEST_PASSWORD, XTrackServer
from xtrack.config import Settings
from xtrack.web.app import create_app

pytestmark = pytest.mark.xdist_group("e2e")

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


class Bearer:
    """A personal API token of the fuzzing user, replaced when a fuzzed call revoked it (the API
    lets a user delete their own tokens, and the fuzzer will find that)."""

    def __init__(self, server: XTrackServer) -> None:
        self.server = server
        # One client for the whole module: a new one per example loads the CA bundle each time, which
        # costs more CPU than the call it checks and timed tests out on a loaded host.
        self.client = httpx.Client(timeout=10)
        self.email = f"fuzz-{uuid.uuid4().hex[:8]}@example.com"
        server.create_user(self.email)
        self.token = self._new()

    def _new(self) -> str:
        response = self.client.post(
            self.server.url("/api/v1/auth/token"),
            json={"email": self.email, "password": TEST_PASSWORD, "name": "fuzz"},
        )
        assert response.status_code in (200, 201), response.text
        token: str = response.json()["token"]
        return token

    def headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"}
        if self.client.get(self.server.url("/api/v1/me"), headers=headers).status_code == 401:
            self.token = self._new()
            headers = {"Authorization": f"Bearer {self.token}"}
        return headers


@pytest.fixture(scope="module")
def bearer(xtrack_server: XTrackServer) -> Iterator[Bearer]:
    bearer = Bearer(xtrack_server)
    try:
        yield bearer
    finally:
        bearer.client.close()


# The schema the server publishes, built from the same app factory (generating it needs no
# database); the calls themselves go over HTTP to the running server.
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Give each operation's test an id of its own. pytest 9 builds an id from the function's
    original name and its parametrization only, so the items schemathesis makes from one function
    would all share ``test_the_api_keeps_its_schema``, and xdist, which hands out tests by id, would
    run one of them. Parametrizing each by the operation it fuzzes keeps them apart; the run-count
    check in tests/run_count.py fails the run if they ever collapse again."""
    operation = ApiOperationMark.get(metafunc.function)  # None for the function before schemathesis builds it
    if operation is not None and "operation_label" in metafunc.fixturenames:
        metafunc.parametrize("operation_label", [operation.label], ids=["fuzz"])


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_the_api_keeps_its_schema(
    case: Any, operation_label: str, xtrack_server: XTrackServer, bearer: Bearer
) -> None:
    assert case.operation.label == operation_label
    case.call_and_validate(base_url=xtrack_server.base_url, headers=bearer.headers(), checks=CHECKS)

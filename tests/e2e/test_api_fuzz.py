"""Schemathesis over the whole OpenAPI schema of a running ``xtrack serve``, over real HTTP and
authenticated as a real ACTIVE user, with every check it has and both kinds of input: what the schema
allows must be accepted and what it forbids refused (the schema says what the server accepts), and
no request may produce a 5xx, an undeclared status code, a wrong content type, a body that breaks
the declared response schema or a method answered without ``Allow``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.hypothesis.builder import ApiOperationMark

from tests.e2e.conftest import TEST_PASSWORD, XTrackServer
from xtrack.config import Settings
from xtrack.web.app import create_app

pytestmark = pytest.mark.xdist_group("e2e")

load_all_checks()
ALL_CHECKS = list(CHECKS.get_all())
# Refusals no schema can state: a link's token XTrack did not issue, a wrong current password, an
# address email-validator refuses (or a password equal to the email), an apprise URL apprise does not
# understand or whose host the outbound guard refuses, a target id that is not one of the user's, a
# profile URL on none of the networks' hosts.
# Schema-valid input to these operations may get this answer too; every other check still applies.
_ANSWERED = ["2xx", "401", "403", "404", "409", "429"]
_SEMANTIC_REFUSALS = {
    "POST /api/v1/auth/verify": "400",
    "POST /api/v1/auth/password-reset/confirm": "400",
    "POST /api/v1/auth/register": "422",
    "POST /api/v1/me/password": "422",
    "POST /api/v1/targets": "422",
    "PATCH /api/v1/targets/{target_id}": "422",
    "PUT /api/v1/jobs/{job_id}/targets": "422",  # ids of targets that are not the user's
    # A profile URL on a host that is none of the networks' (the schema admits any URL form).
    "POST /api/v1/jobs": "422",
    "PATCH /api/v1/jobs/{job_id}": "422",
    "POST /api/v1/playground/runs": "422",
}
FUZZ_CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {
            "mode": "all",  # schema-valid and schema-violating input
            # Unknown query parameters are ignored, as HTTP APIs do; and the bearer token is the
            # harness's (``ignored_auth`` tests authentication), so a case never drops it itself.
            "allow-extra-parameters": False,
            "with-security-parameters": False,
        },
        "operations": [
            {
                "include-name": name,
                "checks": {"positive_data_acceptance": {"expected-statuses": [*_ANSWERED, status]}},
            }
            for name, status in _SEMANTIC_REFUSALS.items()
        ],
    }
)


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
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi(), config=FUZZ_CONFIG)


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
    case.call_and_validate(base_url=xtrack_server.base_url, headers=bearer.headers(), checks=ALL_CHECKS)


def test_every_check_schemathesis_has_is_run() -> None:
    names = {check.__name__ for check in ALL_CHECKS}
    assert {"negative_data_rejection", "positive_data_acceptance", "unsupported_method"} <= names
    assert "ignored_auth" in names and "use_after_free" in names and len(names) >= 14

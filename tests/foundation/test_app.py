from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import auth_headers, make_job, make_user, signed_in


async def test_healthz_reports_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


async def test_home_page_renders_with_security_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert "XTrack" in response.text
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert response.headers["x-frame-options"] == "DENY"


async def test_unknown_page_is_a_friendly_html_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/page")
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert "Not found" in response.text and "Traceback" not in response.text


async def test_unknown_api_route_is_a_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


async def test_openapi_schema_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "XTrack"


async def test_api_docs_are_served_same_origin_without_inline_script(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower()
    assert "<script>" not in page.text  # every script has a src: the CSP allows no inline code
    bundle = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and "SwaggerUIBundle" in bundle.text
    init = await client.get("/static/js/docs.js")
    assert init.status_code == 200


async def test_a_body_that_is_not_utf8_or_not_json_is_a_422_naming_the_body(
    client: httpx.AsyncClient,
) -> None:
    for body in (b"\xff\x1b{\xfe", b'{"email": '):
        response = await client.post(
            "/api/v1/auth/register", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, (body, response.text)
        assert response.json()["detail"][0]["loc"][0] == "body"


async def test_ids_beyond_the_database_range_are_404_and_keyset_bounds_422(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """Too large for SQLite's 64 bits or PostgreSQL's int4: no such row, never a 500."""
    user = await make_user(session)
    headers = await auth_headers(session, user)
    for huge in (2**31, 10**30):
        for path in (f"/api/v1/jobs/{huge}", f"/api/v1/executions/{huge}", f"/api/v1/summaries/{huge}"):
            response = await client.get(path, headers=headers)
            assert response.status_code == 404, (path, response.text)
            assert response.json()["detail"].lower().endswith("not found.")
    job = await make_job(session, owner=user)
    history = await client.get(
        f"/api/v1/jobs/{job.id}/executions", params={"before": 10**30}, headers=headers
    )
    assert history.status_code == 422 and history.json()["detail"][0]["loc"] == ["query", "before"]
    await signed_in(client, session, user)
    page = await client.get(f"/jobs/{10**30}")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]

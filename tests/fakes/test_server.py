from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.server import serve_app


async def test_fake_server_answers_over_real_http() -> None:
    hits: list[str] = []

    async def hello(request: Request) -> JSONResponse:
        hits.append(request.url.path)
        return JSONResponse({"hello": request.query_params.get("name", "")})

    with serve_app(Starlette(routes=[Route("/hello", hello)])) as base_url:
        async with httpx.AsyncClient(base_url=base_url) as http:
            response = await http.get("/hello", params={"name": "xtrack"})
    assert response.json() == {"hello": "xtrack"}
    assert hits == ["/hello"]

"""Interactive API docs at /docs, served same-origin (Swagger UI from the fastapi-swagger package,
started by a static script) so they work offline and under the strict CSP.

fastapi-swagger is used for its files only: it ships a current Swagger UI 5 (which reads the
OpenAPI 3.1 schema FastAPI writes; swagger-ui-bundle's 4.15 cannot), while its own page has an
inline script the CSP forbids, so the page below stays ours."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

router = APIRouter(include_in_schema=False)

DOCS_HTML = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>XTrack API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <link rel="stylesheet" href="/static/css/docs.css">
  <link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
</head>
<body>
  <div id="swagger-ui" data-openapi-url="/openapi.json"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/static/js/docs.js"></script>
</body>
</html>
"""


@router.get("/docs", response_class=HTMLResponse)
async def docs() -> HTMLResponse:
    return HTMLResponse(DOCS_HTML)


def install_docs(app: FastAPI) -> None:
    assets = files("fastapi_swagger") / "resources"  # swagger-ui-bundle.js and swagger-ui.css
    app.mount("/docs/assets", StaticFiles(directory=str(assets)), name="docs-assets")
    app.include_router(router)

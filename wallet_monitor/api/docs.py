"""The API's documentation: ``/openapi.json`` and a Swagger UI at ``/docs`` served from here.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, which an offline analyst cannot reach,
and run an inline script, which the Content-Security-Policy (guard.py) forbids. The UI's files
come from the ``fastapi-offline`` package instead and start from a script file of ours; ReDoc is
not served. In keyed mode ``/docs`` and ``/openapi.json`` need the key like the data routes;
the UI's files (``/docs/assets``, ``/docs/init.js``) hold no data and stay open, as /static does.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Wallet activity alert API · reference</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
"""

# validatorUrl null: the default would send the document to an outside validation service.
_INIT = """"use strict";
SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
});
"""


def docs_router() -> APIRouter:
    """``/openapi.json`` and ``/docs``: include it behind the key in keyed mode."""
    router = APIRouter(include_in_schema=False)

    @router.get("/openapi.json")
    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(request.app.openapi())

    @router.get("/docs")
    async def docs() -> HTMLResponse:
        return HTMLResponse(_PAGE)

    return router


def add_docs_assets(app: FastAPI) -> None:
    """The UI's own files: ``/docs/init.js`` and ``/docs/assets/*`` (open in every mode)."""

    @app.get("/docs/init.js", include_in_schema=False)
    async def init() -> Response:
        return Response(_INIT, media_type="text/javascript")

    assets = Path(str(files("fastapi_offline") / "static"))
    app.mount("/docs/assets", StaticFiles(directory=assets), name="docs-assets")

"""The sketchgen HTTP service: ``create_app(...)`` and the module-level ``app``.

Run it with ``sketchgen serve`` or ``uvicorn api.main:app``; the OpenAPI docs are at ``/docs``
(Swagger UI) and ``/redoc``, both working offline (their assets come from the fastapi-offline
package, served under ``/docs-assets/``), the schema at ``/openapi.json`` and the web page at ``/``.

Endpoints (see each route's docstring and the OpenAPI schema):

* ``POST /generate`` -> the run as JSON; ``POST /generate-stream`` / ``GET /generate-stream`` -> the
  run's events as SSE. A client that disconnects cancels its run's pending model calls.
* ``GET /runs``, ``GET /runs/{run_id}``, ``GET /runs/{run_id}/files/{name}``;
  ``POST /runs/{run_id}/resume`` (JSON) and ``POST /runs/{run_id}/resume-stream`` (SSE)
* ``GET /styles``, ``GET /styles/{id}``, ``GET /models``, ``GET /healthz``
* ``GET /`` and ``GET /static/{name}``: the page (plain HTML/CSS/JS, no build step).

Configuration: ``SKETCHGEN_API_TOKEN``, ``SKETCHGEN_MAX_RUNS``, ``SKETCHGEN_MAX_BODY_BYTES``,
``SKETCHGEN_OUTPUT_DIR``, the uploads' retention and cap (see :mod:`api.state`). The app's lifespan
sweeps the expired uploads at start and then periodically (:func:`_sweep_uploads_forever`). No ``BaseHTTPMiddleware`` anywhere: it breaks
disconnect detection for streams; auth is a dependency, the body cap plain ASGI (:mod:`api.limits`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from api import access_log
from api.auth import require_token_or_query
from api.errors import install_error_handlers
from api.event_schemas import document_streams
from api.limits import BodySizeLimit
from api.routes_batches import router as batches_router
from api.routes_catalog import health_router
from api.routes_catalog import router as catalog_router
from api.routes_generate import router as generate_router
from api.routes_generate import sweep_uploads
from api.routes_iterate import router as iterate_router
from api.routes_runs import router as runs_router
from api.routes_studio import router as studio_router
from api.state import ServiceSettings, ServiceState
from generate.redact import install_log_redaction, register_secret
from generate.types import check_environment
from generate.uploads import sweep_interval_s

__all__ = ["create_app", "app", "STATIC_DIR"]

log = logging.getLogger("sketchgen.api")

STATIC_DIR = Path(__file__).resolve().parent / "static"
_STATIC_FILES = {
    "app.js": "text/javascript; charset=utf-8",
    "http.js": "text/javascript; charset=utf-8",
    "gallery.js": "text/javascript; charset=utf-8",
    "studio.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}

# Swagger UI and ReDoc ship in the fastapi-offline package; FastAPI's defaults load them from a CDN,
# which leaves /docs blank on a machine without internet.
_DOCS_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
DOCS_ASSET_PREFIX = "/docs-assets"

_DESCRIPTION = """\
Turn a design brief and a house style into 3-6 grayscale, draw-over-ready concept sketches.

* `POST /generate` runs and answers with the run as JSON.
* `POST /generate-stream` (JSON body) and `GET /generate-stream` (query parameters, for
  `EventSource`) stream the run's events as Server-Sent Events; each `sketch.completed` is sent as
  soon as its file is written. Closing the connection cancels the model calls still pending.
* With `SKETCHGEN_API_TOKEN` set, every endpoint but `/healthz` needs `Authorization: Bearer <token>`
  (these docs too: open them as `/docs?token=...`, then use Authorize for the calls).
* Invalid input is answered 422 with a body whose `field` names it, before any paid call; with
  `SKETCHGEN_MAX_RUNS` runs in flight a new one is answered 429 with `Retry-After`.
"""


async def _sweep_uploads_forever(state: ServiceState) -> None:
    """Sweep the expired uploads now, then every :func:`generate.uploads.sweep_interval_s`."""
    interval = sweep_interval_s(state.settings.upload_retention_hours)
    while True:
        try:
            await asyncio.to_thread(sweep_uploads, state)
        except Exception as exc:  # a sweep that fails is tried again; it must never stop the service
            log.warning("uploads not swept: %s", exc)
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    sweeper = asyncio.create_task(_sweep_uploads_forever(app.state.sketchgen))
    try:
        yield
    finally:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper


def create_app(
    *,
    pipeline: Any = None,
    registry: Any = None,
    output_dir: str | Path | None = None,
    api_token: str | None = None,
    max_runs: int | None = None,
    **settings: Any,
) -> FastAPI:
    """Build the app. Every argument is optional: unset ones come from the environment.

    ``pipeline``: a ``generate.pipeline.SketchPipeline`` (default: one built on first use, sharing
    ``registry`` and ``output_dir``). ``registry``: a ``style.registry.StyleRegistry``.
    ``output_dir``: run folders (default ``$SKETCHGEN_OUTPUT_DIR`` or ``./generated_outputs``).
    ``api_token`` / ``max_runs``: override ``SKETCHGEN_API_TOKEN`` / ``SKETCHGEN_MAX_RUNS``.
    Further keywords set :class:`api.state.ServiceSettings` fields (``max_body_bytes``, ``sse_ping_s``,
    ``sse_send_timeout_s``, ``retry_after_s``, ``cancel_grace_s``).
    """
    check_environment()  # a bad SKETCHGEN_TIMEOUT_S / SKETCHGEN_MAX_CONCURRENCY stops start-up
    config = ServiceSettings.from_env(
        output_dir=output_dir, api_token=api_token, max_runs=max_runs, **settings
    )
    if pipeline is not None and output_dir is None and config.output_dir is None:
        given = getattr(pipeline, "output_dir", None)
        if given is not None:
            config.output_dir = Path(given)
    app = FastAPI(
        title="sketchgen",
        summary="Concept sketches from a design brief, streamed as they finish.",
        description=_DESCRIPTION,
        version=_version(),
        # Served by _add_docs from local files, behind the token when one is set.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan,
    )
    register_secret(config.api_token)
    # uvicorn has configured its handlers by the time it imports the app: every line they (and the
    # root logger's) emit, the access log included, is redacted from here on.
    install_log_redaction()
    access_log.install()  # and a wrong ?token= too, which the known secrets cannot cover
    app.state.sketchgen = ServiceState(settings=config, pipeline=pipeline, registry=registry)
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_body_bytes=config.max_body_bytes)
    app.include_router(health_router)
    app.include_router(generate_router)
    app.include_router(iterate_router)
    app.include_router(runs_router)
    app.include_router(batches_router)
    app.include_router(studio_router)
    app.include_router(catalog_router)
    _add_page(app)
    _add_docs(app)
    _describe_streams(app)
    return app


def _describe_streams(app: FastAPI) -> None:
    """The schema FastAPI builds, with each SSE response's events described (:mod:`api.event_schemas`)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_streams(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _docs_asset_dir() -> Path:
    from importlib import resources

    return Path(str(resources.files("fastapi_offline") / "static"))


def _add_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` with every asset served from this service, not a CDN,
    and ``/openapi.json``.

    With a token set, the schema and the two docs pages need it. A browser cannot send a header when
    it opens ``/docs``, so these three also take ``?token=`` (as ``GET /generate-stream`` does; the
    service's log never shows it), and the docs pages pass it on to the schema they load; "Try it
    out" calls use the Authorize button. The assets and the OAuth redirect page stay open, like the
    page shell: they are the same for everyone and hold no data."""
    assets = _docs_asset_dir()
    oauth_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    def url(request, path: str) -> str:
        return f"{request.scope.get('root_path', '')}{path}"

    def schema_url(request: Request) -> str:
        token = request.query_params.get("token")
        return url(request, "/openapi.json") + (f"?token={quote(token, safe='')}" if token else "")

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require_token_or_query)])
    async def openapi_schema() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(require_token_or_query)])
    async def swagger_ui(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=schema_url(request),
            title=f"{app.title} - API docs",
            oauth2_redirect_url=url(request, oauth_url),
            swagger_js_url=url(request, f"{DOCS_ASSET_PREFIX}/swagger-ui-bundle.js"),
            swagger_css_url=url(request, f"{DOCS_ASSET_PREFIX}/swagger-ui.css"),
            swagger_favicon_url=url(request, f"{DOCS_ASSET_PREFIX}/favicon.png"),
        )

    @app.get(oauth_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False, dependencies=[Depends(require_token_or_query)])
    async def redoc(request: Request) -> HTMLResponse:
        page = get_redoc_html(
            openapi_url=schema_url(request),
            title=f"{app.title} - API reference",
            redoc_js_url=url(request, f"{DOCS_ASSET_PREFIX}/redoc.standalone.js"),
            redoc_favicon_url=url(request, f"{DOCS_ASSET_PREFIX}/favicon.png"),
            with_google_fonts=False,  # a CDN too
        )
        # ReDoc's bundle shows its maker's logo from their CDN; images from this service only, so
        # the browser never asks for it (the page works the same without it).
        page.headers["Content-Security-Policy"] = "img-src 'self' data: blob:"
        return page

    @app.get(DOCS_ASSET_PREFIX + "/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> FileResponse:
        return _listed_file(assets, name, _DOCS_ASSETS, cache="public, max-age=86400")


def _add_page(app: FastAPI) -> None:
    """The page shell is open even with a token: it holds no data, and a browser cannot send a
    header when it navigates. The page asks for the token when the API answers 401."""

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return _listed_file(STATIC_DIR, "index.html", {"index.html": "text/html; charset=utf-8"})

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> FileResponse:
        return _listed_file(STATIC_DIR, name, _STATIC_FILES)


def _listed_file(folder: Path, name: str, listed: dict[str, str], *, cache: str = "no-cache") -> FileResponse:
    """``folder/name`` if ``name`` is in ``listed`` (name -> media type), else 404: nothing else in
    the folder is served, and the name is never joined as a path before it is found there."""
    media_type = listed.get(name)
    if media_type is None:
        raise HTTPException(404, "no such file")
    return FileResponse(
        folder / name,
        media_type=media_type,
        headers={"Cache-Control": cache, "X-Content-Type-Options": "nosniff"},
    )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sketchgen")
    except PackageNotFoundError:
        return "0.0.0"


def _app_from_environment() -> FastAPI:
    """The app `uvicorn api.main:app` serves: ``./.env`` (the working folder's) is read first, never
    overriding the environment (see :mod:`generate.env_file`)."""
    from generate.env_file import load_env_file

    load_env_file()
    return create_app()


app = _app_from_environment()

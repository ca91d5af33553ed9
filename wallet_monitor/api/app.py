"""``create_app``: the alert API as a FastAPI app over one ``AlertStore``."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from wallet_monitor.api.config import API_KEY_ENV
from wallet_monitor.api.deps import ApiKey
from wallet_monitor.api.routes import public_router, router
from wallet_monitor.api.sqlite_store import SqliteAlertStore
from wallet_monitor.api.store import AlertStore, StoreError
from wallet_monitor.paths import STATIC_DIR

logger = logging.getLogger(__name__)


async def _store_error(request: Request, exc: StoreError) -> JSONResponse:
    # 503, not 500: the client's retry is safe (POST /alert is idempotent) and may succeed.
    logger.error("database error on %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse({"detail": f"Database error: {exc}"}, status_code=503)


def create_app(
    db_path: str | os.PathLike,
    api_key: str | None = None,
    *,
    static_dir: str | os.PathLike = STATIC_DIR,
    open_store: Callable[[], AlertStore] | None = None,
) -> FastAPI:
    """The alert API over the SQLite file ``db_path`` (created at start-up if missing).

    ``api_key`` defaults to the ``ALERT_API_KEY`` environment variable; when set, every
    endpoint but ``/health``, ``/`` and ``/static`` needs it in the ``X-API-Key`` header.
    ``static_dir`` holds the dashboard (``index.html`` is served at ``/``). ``open_store``
    opens another ``AlertStore`` instead of ``SqliteAlertStore(db_path)``.
    Nothing is opened before start-up: building the app touches no file.
    """
    if api_key is None:
        api_key = os.environ.get(API_KEY_ENV) or None
    static_dir = Path(static_dir)
    open_store = open_store or partial(SqliteAlertStore, Path(db_path))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = open_store()
        app.state.store = store
        logger.info("alert store ready at %s", store)
        try:
            yield
        finally:
            store.close()

    app = FastAPI(title="Wallet activity alert API", lifespan=lifespan)
    app.state.api_key = api_key.encode() if api_key else None
    app.state.static_dir = static_dir
    app.add_exception_handler(StoreError, _store_error)
    app.include_router(router, dependencies=[ApiKey] if api_key else None)
    app.include_router(public_router)
    if static_dir.is_dir():
        app.mount("/static", StaticFiles(directory=static_dir), name="static")
    return app

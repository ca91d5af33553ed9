"""``create_app``: the alert API as a FastAPI app over one ``AlertStore``."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match

from wallet_monitor.api.config import API_KEY_ENV, RETRY_AFTER_S
from wallet_monitor.api.deps import ApiKey
from wallet_monitor.api.docs import add_docs_assets, docs_router
from wallet_monitor.api.guard import SecurityGuard
from wallet_monitor.api.metrics import ApiMetrics, MetricsMiddleware
from wallet_monitor.api.notify_routes import router as notify_router
from wallet_monitor.api.routes import ANSWERS, public_router, router
from wallet_monitor.api.sender import NotifySettings, Sender
from wallet_monitor.api.sql_store import SqlAlertStore
from wallet_monitor.api.store import AlertConflict, AlertStore, StoreError, log_conflict
from wallet_monitor.cli import setup_logging
from wallet_monitor.paths import STATIC_DIR

logger = logging.getLogger(__name__)

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


async def _store_error(request: Request, exc: StoreError) -> JSONResponse:
    # 503, not 500: the client's retry is safe (POST /alert is idempotent) and may succeed.
    request.app.state.metrics.store_errors.inc()
    logger.error("database error on %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse({"detail": f"Database error: {exc}"}, status_code=503,
                        headers={"Retry-After": str(RETRY_AFTER_S)})


async def _conflict(request: Request, exc: AlertConflict) -> JSONResponse:
    for alert, stands in exc.pairs:
        log_conflict(alert, stands)
    ids = exc.transaction_ids
    request.app.state.metrics.conflicts.inc(len(ids))
    return JSONResponse({"detail": f"Already stored with other content: {', '.join(ids)}",
                         "conflicts": ids}, status_code=409)


async def _client_gone(request: Request, exc: ClientDisconnect) -> Response:
    # A client that hangs up mid-body (or is cut by the body timeout) is not a server error.
    client = f"{request.client.host}:{request.client.port}" if request.client else "?"
    logger.info("client %s disconnected during %s %s", client, request.method, request.url.path)
    return Response(status_code=400)  # never read: nobody is listening


async def _method_not_allowed(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    # Starlette's 405 names the methods of the first route on the path only (GET, not PATCH):
    # ask every route, through the router's public matching, which methods it takes here.
    allowed = [method for method in _METHODS
               if any(route.matches({**request.scope, "method": method})[0] is Match.FULL
                      for route in request.app.router.routes)]
    return JSONResponse({"detail": "Method Not Allowed"}, status_code=405,
                        headers={"Allow": ", ".join(allowed)})


def create_app(
    db: str | os.PathLike,
    api_key: str | None = None,
    *,
    static_dir: str | os.PathLike = STATIC_DIR,
    open_store: Callable[[], AlertStore] | None = None,
    allowed_hosts: Iterable[str] = (),
    notify: NotifySettings | None = None,
    configure_email: bool = True,
) -> FastAPI:
    """The alert API over the database ``db``: a URL (``sqlite:///PATH``, ``postgresql://...``) or
    an SQLite file path, created and brought to the current schema at start-up.

    ``api_key`` defaults to the ``ALERT_API_KEY`` environment variable; when set, every
    endpoint but ``/health``, ``/``, ``/static`` and the docs' own files needs it in the
    ``X-API-Key`` header (``/docs`` and ``/openapi.json`` included). ``static_dir`` holds the
    dashboard (``index.html`` is served at ``/``). ``open_store`` opens another ``AlertStore``
    instead of ``SqlAlertStore(db)``. ``allowed_hosts`` are Host names answered
    besides the loopback ones (``"*"``: any). ``notify`` sets how notifications are sent
    (retries, timeouts, email); a sender task runs beside the API while it serves, and
    ``configure_email`` records ``notify.email`` as the email subscription at start-up (the
    parent of ``--workers`` does it once). Nothing is opened before start-up: building the app
    touches no file.
    """
    if api_key is None:
        api_key = os.environ.get(API_KEY_ENV) or None
    static_dir = Path(static_dir)
    open_store = open_store or partial(SqlAlertStore, db)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = open_store()
        app.state.store = store
        logger.info("alert store ready at %s", store)
        sender = None
        try:
            sender = await _start_sender(store, notify or NotifySettings(), configure_email)
            app.state.sender = sender
            yield
        finally:
            if sender is not None:
                sender.cancel()
                await asyncio.gather(sender, return_exceptions=True)
            store.close()

    app = FastAPI(title="Wallet activity alert API", lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.api_key = api_key.encode() if api_key else None
    app.state.metrics = metrics = ApiMetrics()
    app.state.static_dir = static_dir
    app.add_exception_handler(StoreError, _store_error)
    app.add_exception_handler(AlertConflict, _conflict)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(405, _method_not_allowed)
    keyed = {"dependencies": [ApiKey], "responses": {401: ANSWERS[401]}} if api_key else {}
    app.include_router(router, **keyed)
    app.include_router(notify_router, **keyed)
    app.include_router(docs_router(), **keyed)
    app.include_router(public_router)
    add_docs_assets(app)
    if static_dir.is_dir():
        app.mount("/static", StaticFiles(directory=static_dir), name="static")
    app.add_middleware(SecurityGuard, allowed_hosts=tuple(allowed_hosts))
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # outermost: times refusals too
    return app


async def _start_sender(store: AlertStore, settings: NotifySettings,
                        configure_email: bool) -> asyncio.Task | None:
    """The notification sender of ``store`` as a task (None for a store without an outbox)."""
    outbox = getattr(store, "outbox", None)
    if outbox is None:
        return None
    outbox.retry_delays_s, outbox.jitter = settings.retry_delays_s, settings.jitter
    outbox.pause_after_s = settings.pause_after_s
    email = settings.email
    if configure_email:
        await asyncio.to_thread(outbox.configure_email, email and email.to,
                                email.min_severity if email else "high")
    postgres = getattr(store, "dialect", None) == "postgresql"
    sender = Sender(outbox, settings, lock_engine=store.engine if postgres else None)
    return asyncio.create_task(sender.run(), name="notification-sender")


@dataclass(frozen=True)
class WorkerApp:
    """``create_app`` as each worker process of ``alert_api.py --workers N`` builds it.

    Picklable (uvicorn hands it to every worker it spawns), and called there: the worker sets up
    its log, then serves a store that does not migrate (the parent did, once, before forking).
    """

    db: str
    allowed_hosts: tuple[str, ...] = ()
    log_file: Path | None = None
    notify: NotifySettings | None = None

    def __call__(self) -> FastAPI:
        setup_logging(self.log_file)
        return create_app(self.db, allowed_hosts=self.allowed_hosts,
                          open_store=partial(SqlAlertStore, self.db, migrate_schema=False),
                          notify=self.notify, configure_email=False)

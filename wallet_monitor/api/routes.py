"""The alert API's endpoints, over any ``AlertStore`` (deps.StoreDep).

Two routers, so create_app can put the API key on ``router`` alone: ``/health`` and the
dashboard page (``public_router``) stay open for probes and for the page's own key prompt.

Reads, PATCH and batches are plain ``def`` handlers (or run_in_threadpool): the store blocks,
and the event loop must keep serving meanwhile. A single POST /alert is the hot path: it is
stored on the loop when the store can do it without waiting (``AlertStore.try_add_now``), and in
the thread pool otherwise. The handlers return ``JSONResponse`` of the store's dicts, which are
already in the response models' shape: validating them again would only cost time.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from wallet_monitor.api.config import DEFAULT_PAGE, MAX_BATCH, MAX_PAGE, RETRY_AFTER_S
from wallet_monitor.api.deps import AlertPayload, StoreDep, UpdatePayload
from wallet_monitor.api.metrics import CONTENT_TYPE
from wallet_monitor.api.parsing import CURSOR_PATTERN, parse_cursor, parse_since
from wallet_monitor.api.schemas import (
    NO_NUL,
    AlertIn,
    AlertOut,
    AlertPage,
    AlertUpdate,
    BatchResult,
    ConflictBody,
    ErrorBody,
    Health,
    HistoryPage,
    Severity,
    Stats,
    Status,
    ValidationBody,
)
from wallet_monitor.api.store import AlertNotFound, TransitionNotAllowed

# Alert ids are 64-bit (SQLite's integers): a larger id must be a 422, not an OverflowError.
AlertId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Cursor = Annotated[str | None, Query(max_length=32, pattern=CURSOR_PATTERN)]

_PLACEHOLDER = """<!doctype html><html><head><meta charset="utf-8"><title>Alert API</title></head>
<body><h1>Wallet activity monitor</h1><p>The dashboard (static/index.html) is not installed.
The API answers at <a href="/alerts">/alerts</a>, <a href="/stats">/stats</a> and
<a href="/docs">/docs</a>.</p></body></html>"""

_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying",
                                "schema": {"type": "integer"}}}
# Every answer but the success ones, as the OpenAPI document shows it (an app-wide handler or
# middleware sends several of them: app.py, guard.py).
ANSWERS: dict[int, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Malformed JSON (an empty or NUL body included)"},
    401: {"model": ErrorBody, "description": "Missing or invalid X-API-Key header"},
    403: {"model": ErrorBody, "description": "A write from a web page of another origin"},
    404: {"model": ErrorBody, "description": "Alert not found"},
    413: {"model": ErrorBody, "description": "Body or batch too large"},
    415: {"model": ErrorBody, "description": "Body not declared application/json"},
    421: {"model": ErrorBody, "description": "Host header not one of this server's names"},
    422: {"model": ValidationBody, "description": "Invalid body or query"},
    503: {"model": ErrorBody, "description": "Database unavailable", "headers": _RETRY_AFTER},
}


def answers(*codes: int, own: dict[int, dict[str, Any]] | None = None) -> dict[int | str, dict]:
    """``responses=`` for a route: the shared ANSWERS for ``codes``, plus the route's ``own``."""
    return {code: ANSWERS[code] for code in codes} | (own or {})


def _json_body(schema: dict) -> dict:
    # The bodies are parsed by hand (size limit, object-or-array); tell /docs what they hold.
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_ALERT_SCHEMA = AlertIn.model_json_schema()

router = APIRouter(responses=answers(421, 503))
public_router = APIRouter(responses=answers(421))

# No docstrings on the handlers below: FastAPI would publish them as OpenAPI descriptions.


@router.post(
    "/alert",
    status_code=201,
    response_model=AlertOut,
    responses=answers(400, 403, 413, 415, 422, own={
        200: {"model": AlertOut | BatchResult,
              "description": "Already stored, same content (single); batch result (array)"},
        409: {"model": ConflictBody, "description": "Already stored with other content"},
    }),
    openapi_extra=_json_body({"oneOf": [_ALERT_SCHEMA, {
        "type": "array", "items": _ALERT_SCHEMA, "minItems": 1, "maxItems": MAX_BATCH,
    }]}),
)
async def post_alert(request: Request, store: StoreDep, payload: AlertPayload) -> JSONResponse:
    metrics = request.app.state.metrics
    if isinstance(payload, list):
        metrics.received.inc(len(payload))
        result = await run_in_threadpool(store.add_many, payload)
        metrics.stored.inc(len(result["created"]))
        metrics.duplicates.inc(len(payload) - len(result["created"]))
        return JSONResponse(result, status_code=200)
    metrics.received.inc()
    stored = store.try_add_now(payload)
    if stored is None:
        stored = await run_in_threadpool(store.add, payload)
    created, alert = stored
    (metrics.stored if created else metrics.duplicates).inc()
    return JSONResponse(alert, status_code=201 if created else 200)


@router.get("/alerts", response_model=AlertPage, responses=answers(422))
def list_alerts(
    store: StoreDep,
    status: Status | None = None,
    severity: Severity | None = None,
    wallet_id: Annotated[str | None, Query(max_length=128, pattern=NO_NUL)] = None,
    min_score: Annotated[float | None, Query(allow_inf_nan=False)] = None,
    since: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> JSONResponse:
    items, next_id = store.query(
        status=status, severity=severity, wallet_id=wallet_id, min_score=min_score,
        since=parse_since(since), limit=limit, before_id=parse_cursor(cursor),
    )
    return JSONResponse({"items": items, "next_cursor": None if next_id is None else str(next_id)})


@router.get("/alerts/{alert_id}", response_model=AlertOut, responses=answers(404, 422))
def get_alert(store: StoreDep, alert_id: AlertId) -> JSONResponse:
    alert = store.get(alert_id)
    if alert is None:
        raise HTTPException(404, "Alert not found")
    return JSONResponse(alert)


@router.get("/alerts/{alert_id}/history", response_model=HistoryPage,
            responses=answers(404, 422))
def get_history(
    store: StoreDep, alert_id: AlertId, limit: Limit = DEFAULT_PAGE, cursor: Cursor = None
) -> JSONResponse:
    try:
        items, next_seq = store.history(alert_id, limit=limit, before=parse_cursor(cursor))
    except AlertNotFound:
        raise HTTPException(404, "Alert not found") from None
    return JSONResponse({"items": items, "next_cursor": None if next_seq is None else str(next_seq)})


@router.patch("/alerts/{alert_id}", response_model=AlertOut,
              openapi_extra=_json_body(AlertUpdate.model_json_schema()),
              responses=answers(400, 403, 404, 413, 415, 422, own={
                  409: {"model": ErrorBody, "description": "Status change not allowed"}}))
def patch_alert(store: StoreDep, alert_id: AlertId, update: UpdatePayload) -> JSONResponse:
    try:
        return JSONResponse(store.update(alert_id, update))
    except AlertNotFound:
        raise HTTPException(404, "Alert not found") from None
    except TransitionNotAllowed as exc:
        raise HTTPException(409, str(exc)) from None


@router.get("/stats", response_model=Stats)
def stats(store: StoreDep) -> JSONResponse:
    return JSONResponse(store.stats())


@public_router.get("/health", response_model=Health, responses={503: {
    "model": Health, "description": "Database unavailable", "headers": _RETRY_AFTER}})
def health(store: StoreDep) -> JSONResponse:
    problem = store.health()
    if problem is not None:
        return JSONResponse({"status": "error", "database": problem}, status_code=503,
                            headers={"Retry-After": str(RETRY_AFTER_S)})
    return JSONResponse({"status": "ok", "database": "ok"})


# Public, like /health: counts and latencies for a Prometheus scraper, no alert content.
@public_router.get("/metrics", include_in_schema=False)
def get_metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE)


@public_router.get("/", include_in_schema=False)
async def index(request: Request) -> HTMLResponse:
    page = request.app.state.static_dir / "index.html"
    return FileResponse(page) if page.is_file() else HTMLResponse(_PLACEHOLDER)

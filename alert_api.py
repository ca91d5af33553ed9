"""Alert API: receives flagged transactions, stores them in SQLite, serves the dashboard.

``fraud_score`` is stored as sent (the prototype client posts raw, possibly negative model
scores); higher is more suspicious. Severity comes from the score clipped to [0, 1].

Storage is one SQLite file in WAL mode with ``synchronous=NORMAL``: every write is committed
before the 2xx answer, so an alert survives a crash of this process (the commit is in the WAL
file the moment ``COMMIT`` returns); only a power cut or OS crash may roll back the last few
commits, and never corrupts the file. Writes are serialised by one in-process lock, so the
threads of the pool never sit in SQLite's sleep-and-retry busy handler.

Run: ``python alert_api.py [--host 127.0.0.1] [--port 8000] [--db PATH] [--log-file PATH]``.
"""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import os
import re
import sqlite3
import sys
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

ROOT = Path(__file__).resolve().parent
STATIC_DIR = ROOT / "static"
DEFAULT_DB = ROOT / "data" / "alerts.db"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000

MAX_BATCH = 1000
# A full batch of MAX_BATCH alerts with long `reasons` must still fit under the body limit.
MAX_BODY_BYTES = 4 * 1024 * 1024
DEFAULT_PAGE = 50
MAX_PAGE = 500
HISTOGRAM_BINS = 20
STATS_HOURS = 24
BUSY_TIMEOUT_MS = 5000
POOL_IDLE_MAX = 16
CHECKPOINT_SECONDS = 1.0

SEVERITY_THRESHOLDS: tuple[tuple[str, float], ...] = (
    ("critical", 0.995),
    ("high", 0.98),
    ("medium", 0.9),
)
SEVERITIES = ("low", "medium", "high", "critical")
STATUSES = ("open", "acknowledged", "resolved", "false_positive")
TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"acknowledged", "resolved", "false_positive"}),
    "acknowledged": frozenset({"resolved", "false_positive"}),
    "resolved": frozenset(),
    "false_positive": frozenset(),
}

Status = Literal["open", "acknowledged", "resolved", "false_positive"]
Severity = Literal["low", "medium", "high", "critical"]

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Models


class AlertIn(BaseModel):
    """One alert as a client posts it; unknown fields are ignored."""

    # strict: "0.5" or true is not a score; NaN/Infinity (which the JSON parser would accept as
    # literals) and 1e999 are rejected as non-finite instead of being stored.
    model_config = ConfigDict(strict=True, allow_inf_nan=False, extra="ignore")

    transaction_id: Annotated[str, Field(min_length=1, max_length=128)]
    wallet_id: Annotated[str, Field(min_length=1, max_length=128)]
    fraud_score: float
    timestamp: Annotated[str | None, Field(max_length=64)] = None
    amount: Annotated[float | None, Field(ge=0)] = None
    type: Annotated[str | None, Field(max_length=32)] = None
    reasons: Annotated[str | None, Field(max_length=2000)] = None
    model_version: Annotated[str | None, Field(max_length=64)] = None


class HistoryEntry(BaseModel):
    status: Status
    note: str | None
    at: str


class AlertOut(BaseModel):
    """A stored alert, as every endpoint returns it."""

    id: int
    transaction_id: str
    wallet_id: str
    fraud_score: float
    severity: Severity
    timestamp: str | None
    amount: float | None
    type: str | None
    reasons: str | None
    model_version: str | None
    status: Status
    note: str | None
    created_at: str
    updated_at: str
    history: list[HistoryEntry]



class AlertUpdate(BaseModel):
    """PATCH body: a new status, a note, or both."""

    model_config = ConfigDict(extra="forbid")

    status: Status | None = None
    note: Annotated[str | None, Field(max_length=2000)] = None


class BatchResult(BaseModel):
    created: list[str]
    existing: list[str]
    count: int


class AlertPage(BaseModel):
    items: list[AlertOut]
    next_cursor: str | None


class HourCount(BaseModel):
    hour: str
    count: int


class HistogramBin(BaseModel):
    start: float
    end: float
    count: int


class Stats(BaseModel):
    total: int
    by_status: dict[str, int]
    by_severity: dict[str, int]
    per_hour: list[HourCount]
    score_histogram: list[HistogramBin]


class Health(BaseModel):
    status: str
    database: str


_ONE = TypeAdapter(AlertIn)
_MANY = TypeAdapter(Annotated[list[AlertIn], Field(min_length=1, max_length=MAX_BATCH)])
_ARRAY_START = re.compile(rb"\s*\[")

# ---------------------------------------------------------------------------------------------
# Storage

_COLUMNS = (
    "id", "transaction_id", "wallet_id", "fraud_score", "severity", "timestamp", "amount",
    "type", "reasons", "model_version", "status", "note", "created_at", "updated_at", "history",
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM alerts"
_INSERT = (
    "INSERT INTO alerts (transaction_id, wallet_id, fraud_score, severity, timestamp, amount,"
    " type, reasons, model_version, status, note, created_at, updated_at, history)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', NULL, ?, ?, ?)"
    " ON CONFLICT(transaction_id) DO NOTHING"
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY,
    transaction_id TEXT NOT NULL UNIQUE,
    wallet_id TEXT NOT NULL,
    fraud_score REAL NOT NULL,
    severity TEXT NOT NULL,
    timestamp TEXT,
    amount REAL,
    type TEXT,
    reasons TEXT,
    model_version TEXT,
    status TEXT NOT NULL DEFAULT 'open',
    note TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    history TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS alerts_wallet ON alerts (wallet_id);
CREATE INDEX IF NOT EXISTS alerts_created ON alerts (created_at);
"""


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE ... COMMIT), so a write
    # takes the write lock up front instead of failing to upgrade a read snapshot later.
    # check_same_thread=False: a pooled connection is used by one request at a time, but that
    # request may be served by any thread of the pool.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA synchronous = NORMAL")
    # The checkpointer thread moves the WAL into the file: a commit then never pays a
    # checkpoint's fsyncs (measured: p999 of a single insert 24 ms with autocheckpoint on).
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    return conn


class _Store:
    """The database file, a small pool of connections to it and a background checkpointer."""

    def __init__(self, path: Path, checkpoint_seconds: float | None = CHECKPOINT_SECONDS) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._idle: deque[sqlite3.Connection] = deque()
        conn = _connect(self.path)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(_SCHEMA)
        self._idle.append(conn)
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None
        if checkpoint_seconds is not None:
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, args=(checkpoint_seconds,),
                name="alert-db-checkpoint", daemon=True,
            )
            self._checkpointer.start()

    def _checkpoint_loop(self, every: float) -> None:
        conn = _connect(self.path)
        try:
            while not self._stop.wait(every):
                try:
                    # PASSIVE never waits for readers or writers; SQLite drops the GIL meanwhile.
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:
                    logger.warning("WAL checkpoint failed: %s", exc)
        finally:
            conn.close()

    def acquire(self) -> sqlite3.Connection:
        try:
            return self._idle.pop()  # LIFO keeps the warmest connection busy
        except IndexError:
            return _connect(self.path)

    def release(self, conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            conn.rollback()
        if len(self._idle) < POOL_IDLE_MAX:
            self._idle.append(conn)
        else:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join()
        while self._idle:
            conn = self._idle.pop()
            if not self._idle:
                try:  # the last connection out folds the WAL back into the file
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except sqlite3.Error as exc:
                    logger.warning("final WAL checkpoint failed: %s", exc)
            conn.close()


async def get_db(request: Request) -> AsyncIterator[sqlite3.Connection]:
    """Yield a pooled connection to the app's database (override it in tests)."""
    store: _Store = request.app.state.store
    conn = store.acquire()
    try:
        yield conn
    finally:
        store.release(conn)


Db = Annotated[sqlite3.Connection, Depends(get_db)]
# SQLite integers are 64-bit: a larger id must be a 422, not an OverflowError.
AlertId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]


@contextmanager
def _write(conn: sqlite3.Connection, lock: AbstractContextManager) -> Iterator[sqlite3.Connection]:
    """One write transaction, committed on exit, rolled back on any error."""
    with lock:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def _now() -> str:
    return _iso(datetime.now(UTC))


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def severity_of(score: float) -> str:
    """Severity of a fraud score (clipped to [0, 1] first)."""
    s = min(max(score, 0.0), 1.0)
    for name, threshold in SEVERITY_THRESHOLDS:
        if s >= threshold:
            return name
    return "low"


def _opened(now: str) -> str:
    """The history of a new alert: opened at ``now``."""
    return json.dumps([{"status": "open", "note": None, "at": now}])


def _row(alert: AlertIn, now: str, history: str) -> tuple:
    return (
        alert.transaction_id, alert.wallet_id, alert.fraud_score, severity_of(alert.fraud_score),
        alert.timestamp, alert.amount, alert.type, alert.reasons, alert.model_version,
        now, now, history,
    )


def _to_dict(row: tuple) -> dict[str, Any]:
    alert = dict(zip(_COLUMNS, row, strict=True))
    alert["history"] = json.loads(alert["history"])
    return alert


def _fetch(conn: sqlite3.Connection, alert_id: int) -> dict[str, Any] | None:
    row = conn.execute(f"{_SELECT} WHERE id = ?", (alert_id,)).fetchone()
    return None if row is None else _to_dict(row)


def _printable(s: str) -> str:
    # Ids come from clients: quote anything that could forge or break a log line.
    return s if s.isprintable() and " " not in s else repr(s)


def _log_stored(alert: AlertIn) -> None:
    logger.info(
        "alert stored wallet=%s transaction=%s score=%.6g severity=%s",
        _printable(alert.wallet_id), _printable(alert.transaction_id), alert.fraud_score,
        severity_of(alert.fraud_score),
    )


def _store_one(conn: sqlite3.Connection, lock: AbstractContextManager, alert: AlertIn) -> tuple[bool, dict]:
    """Store one alert unless its transaction_id exists; return (created, stored alert)."""
    now = _now()
    with _write(conn, lock):
        cur = conn.execute(_INSERT, _row(alert, now, _opened(now)))
        created = cur.rowcount == 1
        new_id = cur.lastrowid
    if not created:
        existing = conn.execute(
            f"{_SELECT} WHERE transaction_id = ?", (alert.transaction_id,)
        ).fetchone()
        return False, _to_dict(existing)
    _log_stored(alert)
    return True, {
        "id": new_id, "transaction_id": alert.transaction_id, "wallet_id": alert.wallet_id,
        "fraud_score": alert.fraud_score, "severity": severity_of(alert.fraud_score),
        "timestamp": alert.timestamp, "amount": alert.amount, "type": alert.type,
        "reasons": alert.reasons, "model_version": alert.model_version, "status": "open",
        "note": None, "created_at": now, "updated_at": now,
        "history": [{"status": "open", "note": None, "at": now}],
    }


def _store_many(conn: sqlite3.Connection, lock: AbstractContextManager, alerts: list[AlertIn]) -> dict:
    """Store a batch in one transaction, all or nothing; report new and existing ids."""
    now = _now()
    history = _opened(now)
    ids = list(dict.fromkeys(a.transaction_id for a in alerts))
    created: list[AlertIn] = []
    existing: list[str] = []
    with _write(conn, lock):
        # Read under the write lock, so nothing can slip in between this check and the insert.
        seen = {
            r[0] for r in conn.execute(
                f"SELECT transaction_id FROM alerts WHERE transaction_id IN ({','.join('?' * len(ids))})",
                ids,
            )
        }
        for alert in alerts:
            if alert.transaction_id in seen:
                existing.append(alert.transaction_id)
            else:
                seen.add(alert.transaction_id)
                created.append(alert)
        conn.executemany(_INSERT, [_row(a, now, history) for a in created])
    for alert in created:
        _log_stored(alert)
    return {
        "created": [a.transaction_id for a in created],
        "existing": existing,
        "count": len(alerts),
    }


def _update_alert(
    conn: sqlite3.Connection, lock: AbstractContextManager, alert_id: int, update: AlertUpdate
) -> dict:
    """Apply a status change and/or note, appending it to the alert's history."""
    with _write(conn, lock):
        row = conn.execute(
            "SELECT status, note, history FROM alerts WHERE id = ?", (alert_id,)
        ).fetchone()
        if row is None:
            raise HTTPException(404, "Alert not found")
        status, note, history = row
        new_status = update.status or status
        if update.status is not None and new_status not in TRANSITIONS[status]:
            raise HTTPException(409, f"Cannot change status from {status} to {new_status}")
        if "note" in update.model_fields_set:  # an explicit null clears the note
            note = update.note
        now = _now()
        entries = json.loads(history)
        entries.append({"status": new_status, "note": update.note, "at": now})
        conn.execute(
            "UPDATE alerts SET status = ?, note = ?, updated_at = ?, history = ? WHERE id = ?",
            (new_status, note, now, json.dumps(entries), alert_id),
        )
    logger.info("alert updated id=%d status=%s", alert_id, new_status)
    return _fetch(conn, alert_id)


def _query_alerts(
    conn: sqlite3.Connection,
    *,
    status: str | None = None,
    severity: str | None = None,
    wallet_id: str | None = None,
    min_score: float | None = None,
    since: str | None = None,
    limit: int = DEFAULT_PAGE,
    before_id: int | None = None,
) -> tuple[list[dict], int | None]:
    """Alerts newest first (by id) matching every given filter; return (page, next before_id)."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("status", status), ("severity", severity), ("wallet_id", wallet_id)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if min_score is not None:
        clauses.append("fraud_score >= ?")
        params.append(min_score)
    if since is not None:
        clauses.append("created_at >= ?")
        params.append(since)
    if before_id is not None:
        clauses.append("id < ?")
        params.append(before_id)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = conn.execute(
        f"{_SELECT}{where} ORDER BY id DESC LIMIT ?", (*params, limit + 1)
    ).fetchall()
    items = [_to_dict(r) for r in rows[:limit]]
    return items, (items[-1]["id"] if len(rows) > limit else None)


def _compute_stats(conn: sqlite3.Connection, now: datetime | None = None) -> dict:
    """Counts by status and severity, alerts per hour (last 24 h), score histogram."""
    now = now or datetime.now(UTC)
    first_hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=STATS_HOURS - 1)
    hours = [first_hour + timedelta(hours=h) for h in range(STATS_HOURS)]
    bins = HISTOGRAM_BINS
    conn.execute("BEGIN")  # one snapshot for every number
    try:
        by_status = dict.fromkeys(STATUSES, 0) | dict(
            conn.execute("SELECT status, COUNT(*) FROM alerts GROUP BY status").fetchall()
        )
        by_severity = dict.fromkeys(SEVERITIES, 0) | dict(
            conn.execute("SELECT severity, COUNT(*) FROM alerts GROUP BY severity").fetchall()
        )
        per_hour = dict(conn.execute(
            "SELECT substr(created_at, 1, 13), COUNT(*) FROM alerts WHERE created_at >= ?"
            " GROUP BY 1",
            (_iso(first_hour),),
        ).fetchall())
        # Same double arithmetic as Python's min(int(clip(s) * bins), bins - 1).
        histogram = dict(conn.execute(
            f"SELECT MIN(CAST(MAX(MIN(fraud_score, 1.0), 0.0) * {bins} AS INTEGER), {bins - 1}),"
            " COUNT(*) FROM alerts GROUP BY 1"
        ).fetchall())
    finally:
        conn.execute("COMMIT")
    return {
        "total": sum(by_status.values()),
        "by_status": by_status,
        "by_severity": by_severity,
        "per_hour": [
            {"hour": h.strftime("%Y-%m-%dT%H:00:00Z"), "count": per_hour.get(h.strftime("%Y-%m-%dT%H"), 0)}
            for h in hours
        ],
        "score_histogram": [
            {"start": round(k / bins, 4), "end": round((k + 1) / bins, 4), "count": histogram.get(k, 0)}
            for k in range(bins)
        ],
    }


# ---------------------------------------------------------------------------------------------
# HTTP


def _errors(exc: ValidationError) -> list[dict]:
    # Never echo `input` back: it may be huge, or a NaN that JSON cannot even encode.
    return [
        {"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False)
    ]


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(413, f"Request body over {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HTTPException(413, f"Request body over {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _alert_body(request: Request) -> AlertIn | list[AlertIn]:
    """Parse and validate POST /alert: one AlertIn object or a JSON array of them."""
    body = await _read_body(request)
    is_batch = _ARRAY_START.match(body) is not None
    try:
        return _MANY.validate_json(body) if is_batch else _ONE.validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise HTTPException(400, f"Malformed JSON: {errors[0]['msg']}") from None
        if is_batch and errors[0]["type"] == "too_long" and errors[0]["loc"] == ():
            raise HTTPException(
                413, f"Batch of {errors[0]['ctx']['actual_length']} alerts, MAX_BATCH is {MAX_BATCH}"
            ) from None
        raise HTTPException(422, _errors(exc)) from None


async def _update_body(request: Request) -> AlertUpdate:
    body = await _read_body(request)
    try:
        update = AlertUpdate.model_validate_json(body)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors(include_url=False)):
            raise HTTPException(400, "Malformed JSON") from None
        raise HTTPException(422, _errors(exc)) from None
    if update.status is None and "note" not in update.model_fields_set:
        raise HTTPException(422, "Give a status, a note or both")
    return update


def _parse_since(since: str | None) -> str | None:
    if since is None:
        return None
    try:
        dt = datetime.fromisoformat(since)
    except ValueError:
        raise HTTPException(422, f"since must be an ISO 8601 timestamp, got {since!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        return _iso(dt.astimezone(UTC))
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 falls before year 1 in UTC
        raise HTTPException(422, f"since out of range: {since!r}") from None


def _parse_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit() or len(cursor) > 18:
        raise HTTPException(422, f"Invalid cursor {cursor!r}")
    return int(cursor)


_PLACEHOLDER = """<!doctype html><html><head><meta charset="utf-8"><title>Alert API</title></head>
<body><h1>Wallet activity monitor</h1><p>The dashboard (static/index.html) is not installed.
The API answers at <a href="/alerts">/alerts</a>, <a href="/stats">/stats</a> and
<a href="/docs">/docs</a>.</p></body></html>"""


def _json_body(schema: dict) -> dict:
    # The bodies are parsed by hand (size limit, object-or-array); tell /docs what they hold.
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def create_app(db_path: str | os.PathLike, api_key: str | None = None) -> FastAPI:
    """The alert API over the SQLite file ``db_path`` (created at start-up if missing).

    ``api_key`` defaults to the ``ALERT_API_KEY`` environment variable; when set, every
    endpoint but ``/health``, ``/`` and ``/static`` needs it in the ``X-API-Key`` header.
    """
    db_path = Path(db_path)
    if api_key is None:
        api_key = os.environ.get("ALERT_API_KEY") or None
    write_lock = threading.Lock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = _Store(db_path)
        app.state.store = store
        logger.info("alert store ready at %s", db_path)
        try:
            yield
        finally:
            store.close()

    app = FastAPI(title="Wallet activity alert API", lifespan=lifespan)
    alert_schema = AlertIn.model_json_schema()

    @app.exception_handler(sqlite3.Error)
    async def _database_error(request: Request, exc: sqlite3.Error) -> JSONResponse:
        # 503, not 500: the client's retry is safe (POST /alert is idempotent) and may succeed.
        logger.error("database error on %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse({"detail": f"Database error: {exc}"}, status_code=503)

    protected: list = []
    if api_key:
        expected = api_key.encode()

        async def require_api_key(
            x_api_key: Annotated[str | None, Header()] = None,
        ) -> None:
            if x_api_key is None or not hmac.compare_digest(x_api_key.encode(), expected):
                raise HTTPException(401, "Missing or invalid X-API-Key header")

        protected = [Depends(require_api_key)]

    # Reads, PATCH and batches are plain `def` handlers (or run_in_threadpool): SQLite blocks, and
    # the event loop must keep serving meanwhile. A single POST /alert is the hot path: its
    # insert+commit costs ~0.1 ms (no checkpoint, see _connect), less than the hop to the thread
    # pool (measured ~0.15 ms CPU here), so it runs in the loop when the write lock is free and
    # goes to the pool only when a batch or PATCH holds the lock.
    @app.post(
        "/alert",
        dependencies=protected,
        status_code=201,
        response_model=AlertOut | BatchResult,
        responses={200: {"description": "Already stored (single) or batch result"},
                   400: {"description": "Malformed JSON"}, 413: {"description": "Too large"},
                   422: {"description": "Invalid alert"}},
        openapi_extra=_json_body({"oneOf": [alert_schema, {
            "type": "array", "items": alert_schema, "minItems": 1, "maxItems": MAX_BATCH,
        }]}),
    )
    async def post_alert(
        conn: Db, payload: Annotated[AlertIn | list[AlertIn], Depends(_alert_body)]
    ) -> JSONResponse:
        if isinstance(payload, list):
            result = await run_in_threadpool(_store_many, conn, write_lock, payload)
            return JSONResponse(result, status_code=200)
        if write_lock.acquire(blocking=False):
            try:
                created, alert = _store_one(conn, nullcontext(), payload)
            finally:
                write_lock.release()
        else:
            created, alert = await run_in_threadpool(_store_one, conn, write_lock, payload)
        return JSONResponse(alert, status_code=201 if created else 200)

    @app.get("/alerts", dependencies=protected, response_model=AlertPage)
    def list_alerts(
        conn: Db,
        status: Status | None = None,
        severity: Severity | None = None,
        wallet_id: Annotated[str | None, Query(max_length=128)] = None,
        min_score: Annotated[float | None, Query(allow_inf_nan=False)] = None,
        since: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
        cursor: Annotated[str | None, Query(max_length=32)] = None,
    ) -> JSONResponse:
        items, next_id = _query_alerts(
            conn, status=status, severity=severity, wallet_id=wallet_id, min_score=min_score,
            since=_parse_since(since), limit=limit, before_id=_parse_cursor(cursor),
        )
        return JSONResponse({"items": items, "next_cursor": None if next_id is None else str(next_id)})

    @app.get("/alerts/{alert_id}", dependencies=protected, response_model=AlertOut,
             responses={404: {"description": "Alert not found"}})
    def get_alert(conn: Db, alert_id: AlertId) -> JSONResponse:
        alert = _fetch(conn, alert_id)
        if alert is None:
            raise HTTPException(404, "Alert not found")
        return JSONResponse(alert)

    @app.patch("/alerts/{alert_id}", dependencies=protected, response_model=AlertOut,
               openapi_extra=_json_body(AlertUpdate.model_json_schema()),
               responses={404: {"description": "Alert not found"},
                          409: {"description": "Transition not allowed"}})
    def patch_alert(
        conn: Db, alert_id: AlertId, update: Annotated[AlertUpdate, Depends(_update_body)]
    ) -> JSONResponse:
        return JSONResponse(_update_alert(conn, write_lock, alert_id, update))

    @app.get("/stats", dependencies=protected, response_model=Stats)
    def stats(conn: Db) -> JSONResponse:
        return JSONResponse(_compute_stats(conn))

    @app.get("/health", response_model=Health, responses={503: {"model": Health}})
    def health(conn: Db) -> JSONResponse:
        try:
            conn.execute("SELECT 1 FROM alerts LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            return JSONResponse({"status": "error", "database": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        page = STATIC_DIR / "index.html"
        return FileResponse(page) if page.is_file() else HTMLResponse(_PLACEHOLDER)

    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


# ---------------------------------------------------------------------------------------------
# CLI


class _Parser(argparse.ArgumentParser):
    # One line on stderr and exit 2, as every script of the chain answers a bad argument.
    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _Parser(description="Serve the alert API and dashboard.")
    parser.add_argument("--host", default=DEFAULT_HOST, help="bind address (default %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default %(default)s)")
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help="SQLite file (default %(default)s)")
    parser.add_argument("--log-file", type=Path, help="also append the log to this file")
    parser.add_argument("--access-log", action="store_true",
                        help="log every request (off by default: each stored alert is logged anyway)")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be in 0..65535, got {args.port}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if args.log_file is not None:
        try:
            handlers.append(logging.FileHandler(args.log_file))
        except OSError as exc:
            print(f"alert_api.py: error: cannot open log file {args.log_file}: {exc}", file=sys.stderr)
            return 1
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
    )
    try:
        _Store(args.db, checkpoint_seconds=None).close()  # fail here with one line rather than in the server's lifespan
    except (OSError, sqlite3.Error) as exc:
        print(f"alert_api.py: error: cannot open database {args.db}: {exc}", file=sys.stderr)
        return 1
    import uvicorn

    if args.host not in ("127.0.0.1", "localhost", "::1") and not os.environ.get("ALERT_API_KEY"):
        logger.warning("listening on %s without ALERT_API_KEY: anyone who can reach it can "
                       "read and change alerts", args.host)

    logger.info("dashboard at http://%s:%d/", args.host, args.port)
    uvicorn.run(
        create_app(args.db),
        host=args.host,
        port=args.port,
        log_config=None,  # our basicConfig formats uvicorn's records too
        access_log=args.access_log,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

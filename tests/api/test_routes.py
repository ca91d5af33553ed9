"""Alert API endpoints (wallet_monitor/api/routes.py): every endpoint over HTTP to a real uvicorn
on a loopback port, in this process, on a temporary SQLite file and on a schema of the machine's
PostgreSQL; the API key (deps.py)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.api.conftest import both_backends
from tests.api.helpers import Http, served
from tests.api.helpers import alert as _alert
from tests.api.helpers import stored as _stored
from wallet_monitor.api.app import create_app
from wallet_monitor.api.config import MAX_BATCH, MAX_BODY_BYTES
from wallet_monitor.api.schemas import AlertOut

KEY = "s3cret-key"


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, db_path: Path) -> str | Path:
    return both_backends(request, db_path)


# ---- POST /alert ---------------------------------------------------------------------------


def test_prototype_minimal_body_is_stored(client: Http, db: str | Path) -> None:
    r = client.post("/alert", json={"wallet_id": "W7", "transaction_id": "T9", "fraud_score": -0.25})
    assert r.status_code == 201
    alert = AlertOut.model_validate(r.json())  # the contract's shape, field by field
    assert (alert.wallet_id, alert.transaction_id, alert.fraud_score) == ("W7", "T9", -0.25)
    assert (alert.severity, alert.status, alert.note) == ("low", "open", None)
    assert [(h.status, h.at) for h in alert.history] == [("open", alert.created_at)]
    assert _stored(db) == ["T9"]


def test_full_body_round_trips_through_get(client: Http) -> None:
    body = _alert(
        "T1", "W1", 0.991, timestamp="2026-01-05T13:45:12Z", amount=1250.5, type="redeem",
        reasons="redeem sum 24h; amount vs wallet median", model_version="iforest-3",
    )
    created = client.post("/alert", json=body).json()
    fetched = client.get(f"/alerts/{created['id']}").json()
    assert fetched == created
    assert {k: fetched[k] for k in body} == body
    assert fetched["severity"] == "high"


@pytest.mark.parametrize(
    ("score", "severity"),
    [(-3.0, "low"), (0.0, "low"), (0.8999, "low"), (0.9, "medium"), (0.9799, "medium"),
     (0.98, "high"), (0.9949, "high"), (0.995, "critical"), (1.0, "critical"), (7.0, "critical")],
)
def test_severity_follows_score(client: Http, score: float, severity: str) -> None:
    assert client.post("/alert", json=_alert(score=score)).json()["severity"] == severity


def test_retry_returns_existing_alert_and_stores_nothing(client: Http, db: str | Path) -> None:
    first = client.post("/alert", json=_alert("T1", score=0.5, model_version="m1"))
    # model_version is delivery metadata: a retry may differ there (other content is a 409)
    retries = [client.post("/alert", json=_alert("T1", score=0.5, model_version=f"m{i}"))
               for i in range(2, 5)]
    assert first.status_code == 201
    assert [r.status_code for r in retries] == [200, 200, 200]
    assert all(r.json() == first.json() for r in retries)  # the stored alert, not the retry's body
    assert _stored(db) == ["T1"]


def test_batch_reports_new_and_existing(client: Http, db: str | Path) -> None:
    client.post("/alert", json=_alert("T1"))
    batch = [_alert("T1"), _alert("T2"), _alert("T3")]
    r = client.post("/alert", json=batch)
    assert r.status_code == 200
    assert r.json() == {"created": ["T2", "T3"], "existing": ["T1"], "count": 3}
    assert _stored(db) == ["T1", "T2", "T3"]


def test_batch_retry_stores_nothing_new(client: Http, db: str | Path) -> None:
    batch = [_alert(f"T{i}") for i in range(5)]
    client.post("/alert", json=batch)
    again = client.post("/alert", json=batch).json()
    assert again["created"] == [] and again["existing"] == [f"T{i}" for i in range(5)]
    assert len(_stored(db)) == 5


def test_batch_of_max_size_is_accepted(client: Http, db: str | Path) -> None:
    r = client.post("/alert", json=[_alert(f"T{i}") for i in range(MAX_BATCH)])
    assert r.status_code == 200 and len(r.json()["created"]) == MAX_BATCH
    assert len(_stored(db)) == MAX_BATCH


def test_batch_with_one_invalid_item_stores_nothing(client: Http, db: str | Path) -> None:
    body = b'[{"transaction_id": "T1", "wallet_id": "W", "fraud_score": 0.5},' \
           b' {"transaction_id": "T2", "wallet_id": "W", "fraud_score": NaN},' \
           b' {"transaction_id": "T3", "wallet_id": "W", "fraud_score": 0.7}]'
    r = client.post("/alert", content=body)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", 1, "fraud_score"]
    assert _stored(db) == []


_LONG = "x" * 129
_BAD_BODIES = {
    "nan literal": (b'{"transaction_id": "T", "wallet_id": "W", "fraud_score": NaN}', 422),
    "infinity literal": (b'{"transaction_id": "T", "wallet_id": "W", "fraud_score": Infinity}', 422),
    "minus infinity": (b'{"transaction_id": "T", "wallet_id": "W", "fraud_score": -Infinity}', 422),
    "overflow to inf": (b'{"transaction_id": "T", "wallet_id": "W", "fraud_score": 1e999}', 422),
    "infinite amount": (b'{"transaction_id": "T", "wallet_id": "W", "fraud_score": 1, "amount": 1e999}', 422),
    "negative amount": (json.dumps(_alert(amount=-1.0)).encode(), 422),
    "missing score": (b'{"transaction_id": "T", "wallet_id": "W"}', 422),
    "missing wallet": (b'{"transaction_id": "T", "fraud_score": 0.5}', 422),
    "missing transaction": (b'{"wallet_id": "W", "fraud_score": 0.5}', 422),
    "empty transaction id": (json.dumps(_alert(tx="")).encode(), 422),
    "long wallet id": (json.dumps(_alert(wallet=_LONG)).encode(), 422),
    "long transaction id": (json.dumps(_alert(tx=_LONG)).encode(), 422),
    "long reasons": (json.dumps(_alert(reasons="r" * 2001)).encode(), 422),
    "long type": (json.dumps(_alert(type="t" * 33)).encode(), 422),
    "long model version": (json.dumps(_alert(model_version="m" * 65)).encode(), 422),
    "score as string": (json.dumps(_alert(score="0.5")).encode(), 422),
    # PostgreSQL's text cannot hold U+0000: refused on either database
    "nul in an id": (json.dumps(_alert(tx="T\u0000")).encode(), 422),
    "nul in reasons": (json.dumps(_alert(reasons="a\u0000b")).encode(), 422),
    "score as bool": (b'{"transaction_id": "T", "wallet_id": "W", "fraud_score": true}', 422),
    "wallet as number": (b'{"transaction_id": "T", "wallet_id": 12, "fraud_score": 0.5}', 422),
    "body is a number": (b"42", 422),
    "body is null": (b"null", 422),
    "body is a string": (b'"alert"', 422),
    "array of numbers": (b"[1, 2]", 422),
    "empty array": (b"[]", 422),
    "oversized batch": (json.dumps([_alert(f"T{i}") for i in range(MAX_BATCH + 1)]).encode(), 413),
    "malformed json": (b'{"transaction_id": "T", "wallet_id":', 400),
    "trailing comma": (b'{"transaction_id": "T", "wallet_id": "W", "fraud_score": 1,}', 400),
    "empty body": (b"", 400),
    "lone surrogate": (b'{"transaction_id": "\\ud800", "wallet_id": "W", "fraud_score": 1}', 400),
    "not utf-8": (b'{"transaction_id": "\xff", "wallet_id": "W", "fraud_score": 1}', 400),
    "id is an object": (b'{"transaction_id": {"a": 1}, "wallet_id": "W", "fraud_score": 1}', 422),
    "score is an array": (b'{"transaction_id": "T", "wallet_id": "W", "fraud_score": [1]}', 422),
    "integer past float range": (b'{"transaction_id": "T", "wallet_id": "W", "fraud_score": 1' + b"0" * 400 + b"}", 422),
    "null transaction id": (b'{"transaction_id": null, "wallet_id": "W", "fraud_score": 1}', 422),
    "null score": (b'{"transaction_id": "T", "wallet_id": "W", "fraud_score": null}', 422),
    "empty wallet id": (json.dumps(_alert(wallet="")).encode(), 422),
    "very long wallet id": (json.dumps(_alert(wallet="w" * 100_000)).encode(), 422),
    "array of nulls": (b"[null]", 422),
    "array of arrays": (json.dumps([[_alert()]]).encode(), 422),
    "one non-object in a batch": (json.dumps([_alert("T1"), "T2"]).encode(), 422),
    "deeply nested": (b"[" * 5000 + b"]" * 5000, 400),
    "byte order mark": (b"\xef\xbb\xbf" + json.dumps(_alert()).encode(), 400),
}


@pytest.mark.parametrize(("body", "status"), _BAD_BODIES.values(), ids=_BAD_BODIES.keys())
def test_bad_body_gets_4xx_json_and_stores_nothing(
    client: Http, db: str | Path, body: bytes, status: int
) -> None:
    r = client.post("/alert", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status
    assert r.headers["content-type"] == "application/json"
    assert r.json()["detail"]
    assert _stored(db) == []


_ODD_GOOD_BODIES = {
    "unicode and control characters": _alert("T\u00e9\U0001f600", "W\u202e\u0001\u001bx", 0.5),
    "null optional fields": _alert(timestamp=None, amount=None, type=None, reasons=None, model_version=None),
    "empty optional strings": _alert(timestamp="", type="", reasons=""),
    "huge finite score": _alert(score=1e308),
    "integer score": _alert(score=1),
    "longest allowed ids": _alert("t" * 128, "w" * 128),
}


@pytest.mark.parametrize("body", _ODD_GOOD_BODIES.values(), ids=_ODD_GOOD_BODIES.keys())
def test_odd_but_valid_body_round_trips(client: Http, body: dict) -> None:
    r = client.post("/alert", json=body)
    assert r.status_code == 201
    fetched = client.get(f"/alerts/{r.json()['id']}").json()
    assert {k: fetched[k] for k in body} == body



def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, total, size):
        yield b" " * min(size, total - start)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_too_large_body_gets_413(client: Http, chunked: bool) -> None:
    size = MAX_BODY_BYTES + 1
    content = _chunks(size) if chunked else b" " * size
    r = client.post("/alert", content=content)
    assert r.status_code == 413
    assert "bytes" in r.json()["detail"]


def test_stored_alert_is_logged_as_one_line(
    client: Http, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="wallet_monitor.api"):
        client.post("/alert", json=_alert("T1", "W1", 0.99))
        client.post("/alert", json=_alert("T1", "W1", 0.99))  # a retry stores, so logs, nothing
        client.post("/alert", json=[_alert("T2", "W2", 0.1), _alert("T3", "bad\nwallet", 0.5)])
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("alert stored")]
    assert lines == [
        "alert stored wallet=W1 transaction=T1 score=0.99 severity=high",
        "alert stored wallet=W2 transaction=T2 score=0.1 severity=low",
        "alert stored wallet='bad\\nwallet' transaction=T3 score=0.5 severity=low",
    ]


# ---- GET /alerts, GET /alerts/{id} ---------------------------------------------------------


@pytest.fixture
def known(client: Http) -> Http:
    """Six alerts: ids 1..6 in this order, alert 2 acknowledged, alert 5 resolved."""
    for tx, wallet, score in [("A", "W1", 0.2), ("B", "W2", 0.95), ("C", "W1", 0.99),
                              ("D", "W3", 0.999), ("E", "W1", 0.5), ("F", "W2", 0.91)]:
        client.post("/alert", json=_alert(tx, wallet, score))
    client.patch("/alerts/2", json={"status": "acknowledged"})
    client.patch("/alerts/5", json={"status": "resolved"})
    return client


def _ids(client: Http, **params) -> list[str]:
    r = client.get("/alerts", params=params)
    assert r.status_code == 200, r.text
    return [a["transaction_id"] for a in r.json()["items"]]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["F", "E", "D", "C", "B", "A"]),
        ({"status": "open"}, ["F", "D", "C", "A"]),
        ({"status": "acknowledged"}, ["B"]),
        ({"severity": "medium"}, ["F", "B"]),
        ({"severity": "critical"}, ["D"]),
        ({"wallet_id": "W1"}, ["E", "C", "A"]),
        ({"min_score": 0.95}, ["D", "C", "B"]),
        ({"wallet_id": "W1", "status": "open", "min_score": 0.3}, ["C"]),
        ({"wallet_id": "nobody"}, []),
        ({"since": "2000-01-01T00:00:00Z"}, ["F", "E", "D", "C", "B", "A"]),
        ({"since": "2999-01-01T00:00:00+02:00"}, []),
    ],
)
def test_list_filters_newest_first(known: Http, params: dict, expected: list[str]) -> None:
    assert _ids(known, **params) == expected


def test_since_keeps_only_later_alerts(client: Http) -> None:
    client.post("/alert", json=_alert("old"))
    time.sleep(0.01)  # created_at has millisecond resolution
    cut = datetime.now().astimezone()  # any offset is converted to UTC
    time.sleep(0.01)
    client.post("/alert", json=_alert("new"))
    assert _ids(client, since=cut.isoformat()) == ["new"]


def test_cursor_pages_are_stable_while_alerts_arrive(client: Http) -> None:
    for i in range(1, 8):
        client.post("/alert", json=_alert(f"T{i}"))
    pages, cursor = [], None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = client.get("/alerts", params=params).json()
        pages.append([a["transaction_id"] for a in page["items"]])
        client.post("/alert", json=_alert(f"new{len(pages)}"))  # must not shift later pages
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [["T7", "T6", "T5"], ["T4", "T3", "T2"], ["T1"]]


def test_last_full_page_has_no_cursor(client: Http) -> None:
    for i in range(4):
        client.post("/alert", json=_alert(f"T{i}"))
    assert client.get("/alerts", params={"limit": 4}).json()["next_cursor"] is None


@pytest.mark.parametrize(
    "params",
    [{"status": "closed"}, {"severity": "extreme"}, {"limit": 0}, {"limit": 10_000},
     {"cursor": "abc"}, {"cursor": "-3"}, {"min_score": "nan"}, {"min_score": "inf"},
     {"min_score": "high"}, {"since": "yesterday"}, {"since": "0001-01-01T00:00:00+01:00"}],
)
def test_bad_query_gets_422(client: Http, params: dict) -> None:
    r = client.get("/alerts", params=params)
    assert r.status_code == 422
    assert r.json()["detail"]


def test_get_missing_alert_is_404(client: Http) -> None:
    r = client.get("/alerts/99")
    assert r.status_code == 404
    assert r.json() == {"detail": "Alert not found"}


@pytest.mark.parametrize("alert_id", ["0", "abc", str(2**63)])
def test_get_invalid_id_is_422(client: Http, alert_id: str) -> None:
    assert client.get(f"/alerts/{alert_id}").status_code == 422


# ---- PATCH /alerts/{id} --------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [["acknowledged", "resolved"], ["acknowledged", "false_positive"], ["resolved"],
     ["false_positive"]],
)
def test_allowed_transitions_are_recorded_in_history(client: Http, path: list[str]) -> None:
    alert_id = client.post("/alert", json=_alert()).json()["id"]
    for i, status in enumerate(path):
        r = client.patch(f"/alerts/{alert_id}", json={"status": status, "note": f"step {i}"})
        assert r.status_code == 200, r.text
    alert = client.get(f"/alerts/{alert_id}").json()
    history = alert["history"]
    assert [(h["status"], h["note"]) for h in history] == [("open", None)] + [
        (s, f"step {i}") for i, s in enumerate(path)
    ]
    times = [h["at"] for h in history]
    assert times == sorted(times) and alert["updated_at"] == times[-1]
    assert (alert["status"], alert["note"]) == (path[-1], f"step {len(path) - 1}")


@pytest.mark.parametrize(
    ("before", "target"),
    [([], "open"), (["acknowledged"], "open"), (["acknowledged"], "acknowledged"),
     (["resolved"], "open"), (["resolved"], "false_positive"), (["false_positive"], "resolved")],
)
def test_forbidden_transition_is_409_and_changes_nothing(
    client: Http, before: list[str], target: str
) -> None:
    alert_id = client.post("/alert", json=_alert()).json()["id"]
    for status in before:
        client.patch(f"/alerts/{alert_id}", json={"status": status})
    snapshot = client.get(f"/alerts/{alert_id}").json()
    r = client.patch(f"/alerts/{alert_id}", json={"status": target, "note": "no"})
    assert r.status_code == 409
    assert target in r.json()["detail"]
    assert client.get(f"/alerts/{alert_id}").json() == snapshot


def test_note_alone_keeps_status(client: Http) -> None:
    alert_id = client.post("/alert", json=_alert()).json()["id"]
    alert = client.patch(f"/alerts/{alert_id}", json={"note": "called the customer"}).json()
    assert (alert["status"], alert["note"]) == ("open", "called the customer")
    assert alert["history"][-1]["note"] == "called the customer"


def test_status_alone_keeps_the_note(client: Http) -> None:
    alert_id = client.post("/alert", json=_alert()).json()["id"]
    client.patch(f"/alerts/{alert_id}", json={"note": "called the customer"})
    alert = client.patch(f"/alerts/{alert_id}", json={"status": "resolved"}).json()
    assert (alert["status"], alert["note"]) == ("resolved", "called the customer")
    assert alert["history"][-1] == {"status": "resolved", "note": None, "at": alert["updated_at"]}


def test_null_note_clears_the_note(client: Http) -> None:
    alert_id = client.post("/alert", json=_alert()).json()["id"]
    client.patch(f"/alerts/{alert_id}", json={"note": "typo"})
    alert = client.patch(f"/alerts/{alert_id}", json={"note": None}).json()
    assert (alert["status"], alert["note"]) == ("open", None)
    assert len(alert["history"]) == 3


@pytest.mark.parametrize(
    ("body", "status"),
    [(b'{"status": "closed"}', 422), (b"{}", 422), (b'{"status": null}', 422),
     (b'{"status": "resolved", "x": 1}', 422), (b"[]", 422), (b"null", 422),
     (b'{"note": 5}', 422), (b'{"status":', 400), (json.dumps({"note": "n" * 2001}).encode(), 422)],
)
def test_bad_patch_body_is_4xx(client: Http, body: bytes, status: int) -> None:
    alert_id = client.post("/alert", json=_alert()).json()["id"]
    r = client.patch(f"/alerts/{alert_id}", content=body)
    assert r.status_code == status
    assert r.json()["detail"]


def test_patch_missing_alert_is_404(client: Http) -> None:
    r = client.patch("/alerts/42", json={"status": "resolved"})
    assert r.status_code == 404 and r.json() == {"detail": "Alert not found"}


# ---- GET /stats, GET /health -------------------------------------------------------------


def test_stats_on_a_known_set(client: Http) -> None:
    scores = [-0.25, 0.0, 0.04, 0.05, 0.5, 0.9, 0.97, 0.99, 0.996, 1.0, 2.0]
    client.post("/alert", json=[_alert(f"T{i}", score=s) for i, s in enumerate(scores)])
    client.patch("/alerts/1", json={"status": "acknowledged"})
    client.patch("/alerts/2", json={"status": "false_positive"})
    client.patch("/alerts/3", json={"status": "acknowledged"})
    client.patch("/alerts/3", json={"status": "resolved"})
    stats = client.get("/stats").json()
    assert stats["total"] == 11
    assert stats["by_status"] == {"open": 8, "acknowledged": 1, "resolved": 1, "false_positive": 1}
    assert stats["by_severity"] == {"low": 5, "medium": 2, "high": 1, "critical": 3}
    hist = stats["score_histogram"]
    assert len(hist) == 20
    assert (hist[0]["start"], hist[0]["end"], hist[-1]["start"], hist[-1]["end"]) == (0, 0.05, 0.95, 1)
    counts = {i: b["count"] for i, b in enumerate(hist) if b["count"]}
    # scores clip to [0, 1]; 1.0 falls in the last bin
    assert counts == {0: 3, 1: 1, 10: 1, 18: 1, 19: 5}
    per_hour = stats["per_hour"]
    assert len(per_hour) == 24 and sum(h["count"] for h in per_hour) == 11
    hours = [datetime.fromisoformat(h["hour"]) for h in per_hour]
    assert all(b - a == timedelta(hours=1) for a, b in zip(hours, hours[1:], strict=False))


def test_stats_of_empty_store(client: Http) -> None:
    stats = client.get("/stats").json()
    assert stats["total"] == 0
    assert set(stats["by_status"].values()) == {0} and set(stats["by_severity"].values()) == {0}
    assert sum(b["count"] for b in stats["score_histogram"]) == 0


def test_health_ok(client: Http) -> None:
    r = client.get("/health")
    assert r.status_code == 200 and r.json() == {"status": "ok", "database": "ok"}


# ---- auth ----------------------------------------------------------------------------------

_PROTECTED = [("POST", "/alert"), ("GET", "/alerts"), ("GET", "/alerts/1"),
              ("PATCH", "/alerts/1"), ("GET", "/stats")]


@pytest.fixture
def locked(db: str | Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Http]:
    monkeypatch.delenv("ALERT_API_KEY", raising=False)
    with served(create_app(db, api_key=KEY)) as c:
        yield c


@pytest.mark.parametrize(("method", "path"), _PROTECTED)
@pytest.mark.parametrize(
    "key", [None, "wrong", KEY + "x", ""], ids=["missing", "wrong", "longer", "empty"]
)
def test_protected_endpoint_needs_the_key(
    locked: Http, db: str | Path, method: str, path: str, key: str | None
) -> None:
    headers = {} if key is None else {"X-API-Key": key}
    r = locked.request(method, path, json=_alert(), headers=headers)
    assert r.status_code == 401
    assert r.json()["detail"]
    assert _stored(db) == []


def test_right_key_opens_every_endpoint(locked: Http) -> None:
    h = {"X-API-Key": KEY}
    assert locked.post("/alert", json=_alert(), headers=h).status_code == 201
    assert locked.get("/alerts", headers=h).status_code == 200
    assert locked.get("/alerts/1", headers=h).status_code == 200
    assert locked.patch("/alerts/1", json={"status": "resolved"}, headers=h).status_code == 200
    assert locked.get("/stats", headers=h).status_code == 200


@pytest.mark.parametrize("path", ["/health", "/"])
def test_open_endpoints_need_no_key(locked: Http, path: str) -> None:
    assert locked.get(path).status_code == 200



def test_no_key_configured_means_open_api(client: Http) -> None:
    assert client.get("/alerts").status_code == 200


"""What a security review of the alert API found (issue 19), one block per finding, over HTTP to
a real uvicorn (in this process, or `python alert_api.py` where the log or the server's own
options matter)."""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.api.helpers import Http, served
from tests.api.helpers import alert as _alert
from tests.api.helpers import stored as _stored
from wallet_monitor.api.app import create_app
from wallet_monitor.api.config import HISTORY_INLINE
from wallet_monitor.api.sql_store import SqlAlertStore

KEY = "s3cret-key"

# ---- 1. cursors are ASCII digits ------------------------------------------------------------


@pytest.mark.parametrize("cursor", ["\u00b2", "\u2460", "1\u00b2", "\u0661\u0662", "\uff11", "1 ", "+1"])
def test_a_cursor_of_unicode_digits_is_422_not_500(client: Http, cursor: str) -> None:
    client.post("/alert", json=_alert("T1"))
    r = client.get("/alerts", params={"cursor": cursor})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["query", "cursor"]


# ---- 2. no cross-site writes ----------------------------------------------------------------


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/jsonx"])
def test_a_body_that_is_not_json_is_415_and_stores_nothing(
    client: Http, db_path: Path, content_type: str | None
) -> None:
    # A page on another site can send these without a CORS preflight.
    headers = {"Content-Type": content_type} if content_type else {}
    r = client.post("/alert", data=json.dumps(_alert()).encode(), headers=headers)
    assert r.status_code == 415
    assert r.json()["detail"]
    assert _stored(db_path) == []


def test_a_patch_that_is_not_json_is_415(client: Http) -> None:
    alert_id = client.post("/alert", json=_alert()).json()["id"]
    r = client.patch(f"/alerts/{alert_id}", data=b'{"status": "resolved"}',
                     headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    assert client.get(f"/alerts/{alert_id}").json()["status"] == "open"


def test_json_with_a_charset_is_accepted(client: Http) -> None:
    r = client.post("/alert", data=json.dumps(_alert()).encode(),
                    headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 201


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"},
    {"Origin": "null"},
    {"Origin": "http://127.0.0.1:1"},  # same host, another port: another origin
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
], ids=["foreign", "null", "other-port", "cross-site", "same-site"])
def test_a_write_from_another_origin_is_403_and_stores_nothing(
    client: Http, db_path: Path, headers: dict
) -> None:
    r = client.post("/alert", json=_alert(), headers=headers)
    assert r.status_code == 403
    assert _stored(db_path) == []
    r = client.patch("/alerts/1", json={"status": "resolved"}, headers=headers)
    assert r.status_code == 403


def test_a_write_from_the_apis_own_origin_is_accepted(client: Http) -> None:
    own = {"Origin": client.base, "Sec-Fetch-Site": "same-origin"}
    assert client.post("/alert", json=_alert(), headers=own).status_code == 201
    assert client.patch("/alerts/1", json={"status": "resolved"}, headers=own).status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", ""])
def test_an_unexpected_host_header_is_refused(client: Http, db_path: Path, host: str) -> None:
    # DNS rebinding: a name the attacker controls, resolved to 127.0.0.1, keeps its Host header.
    assert client.get("/alerts", headers={"Host": host}).status_code == 421
    assert client.post("/alert", json=_alert(), headers={"Host": host}).status_code == 421
    assert _stored(db_path) == []


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:8000", "127.0.0.1", "[::1]:8000"])
def test_loopback_host_headers_are_accepted(client: Http, host: str) -> None:
    assert client.get("/health", headers={"Host": host}).status_code == 200


def test_allowed_hosts_are_accepted(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALERT_API_KEY", raising=False)
    with served(create_app(db_path, allowed_hosts=["alerts.internal"])) as c:
        assert c.get("/health", headers={"Host": "alerts.internal:8000"}).status_code == 200
        assert c.get("/health", headers={"Host": "localhost"}).status_code == 200
        assert c.get("/health", headers={"Host": "other.internal"}).status_code == 421


def test_a_repeat_with_different_content_is_409_and_logged(
    start_alert_api, tmp_path: Path
) -> None:
    api = start_alert_api()
    first = requests.post(f"{api.url}/alert", json=_alert("T1", "W1", 0.91, reasons="a"), timeout=10)
    forged = requests.post(f"{api.url}/alert", json=_alert("T1", "W1", 0.10, reasons="b"), timeout=10)
    assert (first.status_code, forged.status_code) == (201, 409)
    assert forged.json()["conflicts"] == ["T1"]
    stored = requests.get(f"{api.url}/alerts/{first.json()['id']}", timeout=10).json()
    assert (stored["fraud_score"], stored["reasons"]) == (0.91, "a")
    log = api.log_tail(20_000)
    conflict = [line for line in log.splitlines() if "conflict" in line]
    assert len(conflict) == 1 and "0.91" in conflict[0] and "0.1" in conflict[0]


@pytest.mark.parametrize("field", ["wallet_id", "fraud_score", "amount", "type", "reasons"])
def test_each_content_field_makes_a_conflict(client: Http, field: str) -> None:
    body = _alert("T1", amount=10.0, type="transfer", reasons="r")
    client.post("/alert", json=body)
    changed = {"wallet_id": "W2", "fraud_score": 0.7, "amount": 11.0, "type": "redeem",
               "reasons": "s"}[field]
    assert client.post("/alert", json={**body, field: changed}).status_code == 409


def test_a_repeat_differing_only_in_delivery_metadata_is_200(client: Http) -> None:
    body = _alert("T1", timestamp="2026-01-05T13:45:12Z", model_version="m1", reasons="r")
    created = client.post("/alert", json=body).json()
    again = client.post("/alert", json={**body, "timestamp": "2026-01-05T13:45:12.000Z",
                                        "model_version": "m2"})
    assert again.status_code == 200 and again.json() == created


def test_a_batch_with_a_conflict_is_409_and_stores_nothing(client: Http, db_path: Path) -> None:
    client.post("/alert", json=_alert("T1", score=0.5))
    r = client.post("/alert", json=[_alert("T2"), _alert("T1", score=0.6), _alert("T3")])
    assert r.status_code == 409
    assert r.json()["conflicts"] == ["T1"]
    assert _stored(db_path) == ["T1"]
    inside = client.post("/alert", json=[_alert("T4", score=0.1), _alert("T4", score=0.2)])
    assert inside.status_code == 409 and inside.json()["conflicts"] == ["T4"]


# ---- 3. a locked database (tests/api/test_server.py: another process holds the lock) ----------
# ---- 4. server limits (tests/api/test_server.py: idle, slow headers and bodies, 503) ----------

# ---- 5. triage history is capped and paged --------------------------------------------------


def test_history_is_capped_in_the_alert_and_paged_in_full(client: Http) -> None:
    alert_id = client.post("/alert", json=_alert()).json()["id"]
    n_notes = HISTORY_INLINE + 15
    for i in range(n_notes):
        last = client.patch(f"/alerts/{alert_id}", json={"note": f"note {i}"})
    alert = last.json()
    assert alert["history_total"] == n_notes + 1
    assert [h["note"] for h in alert["history"]] == [f"note {i}" for i in range(15, n_notes)]
    assert client.get(f"/alerts/{alert_id}").json() == alert
    notes, cursor = [], None
    while True:
        params = {"limit": 7} | ({"cursor": cursor} if cursor else {})
        page = client.get(f"/alerts/{alert_id}/history", params=params).json()
        notes += [(h["status"], h["note"]) for h in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert notes == [("open", f"note {i}") for i in reversed(range(n_notes))] + [("open", None)]


def test_history_of_a_missing_alert_is_404(client: Http) -> None:
    assert client.get("/alerts/5/history").status_code == 404


def test_a_long_history_from_an_older_database_is_kept_and_paged(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    entries = [{"status": "open", "note": None, "at": "2026-01-01T00:00:00.000Z"}] + [
        {"status": "open", "note": f"n{i}", "at": f"2026-01-01T00:00:{i % 60:02d}.000Z"}
        for i in range(HISTORY_INLINE + 5)
    ]
    with sqlite3.connect(db) as conn:  # the alerts table as issue 17 created it
        conn.execute(
            "CREATE TABLE alerts (id INTEGER PRIMARY KEY, transaction_id TEXT NOT NULL UNIQUE,"
            " wallet_id TEXT NOT NULL, fraud_score REAL NOT NULL, severity TEXT NOT NULL,"
            " timestamp TEXT, amount REAL, type TEXT, reasons TEXT, model_version TEXT,"
            " status TEXT NOT NULL DEFAULT 'open', note TEXT, created_at TEXT NOT NULL,"
            " updated_at TEXT NOT NULL, history TEXT NOT NULL DEFAULT '[]')"
        )
        conn.execute(
            "INSERT INTO alerts (transaction_id, wallet_id, fraud_score, severity, note,"
            " created_at, updated_at, history) VALUES ('T1', 'W1', 0.5, 'low', 'last', ?, ?, ?)",
            (entries[0]["at"], entries[-1]["at"], json.dumps(entries)),
        )
    store = SqlAlertStore(db, checkpoint_seconds=None)
    try:
        alert = store.get(1)
        assert alert["history"] == entries[-HISTORY_INLINE:]
        assert alert["history_total"] == len(entries)
        page, cursor = store.history(1, limit=1000)
        assert page == entries[::-1] and cursor is None
    finally:
        store.close()


# ---- 6. a client that disconnects is one INFO line ------------------------------------------


def test_a_client_disconnect_is_one_info_line(start_alert_api) -> None:
    api = start_alert_api()
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", api.port), timeout=5) as s:
            s.sendall(b"POST /alert HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                      b"\r\nContent-Length: 1000\r\n\r\n{\"transaction_id\": ")
            time.sleep(0.1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and api.log_tail(100_000).count("disconnected") < 3:
        time.sleep(0.05)
    log = api.log_tail(100_000)
    lines = [line for line in log.splitlines() if "disconnected" in line]
    assert len(lines) == 3 and all(" INFO " in line for line in lines)
    assert "Traceback" not in log and " ERROR " not in log


# ---- 7. security headers on every response --------------------------------------------------


@pytest.fixture
def locked(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Http]:
    monkeypatch.delenv("ALERT_API_KEY", raising=False)
    with served(create_app(db_path, api_key=KEY)) as c:
        yield c


@pytest.mark.parametrize("path", ["/", "/health", "/alerts", "/alerts/99", "/static/app.js",
                                  "/nowhere", "/openapi.json"])
@pytest.mark.parametrize("keyed", [False, True], ids=["keyless", "keyed"])
def test_every_response_has_the_security_headers(
    client: Http, locked: Http, path: str, keyed: bool
) -> None:
    r = (locked if keyed else client).get(path)
    csp = r.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
    assert r.headers.get("X-Content-Type-Options") == "nosniff"
    assert r.headers.get("Referrer-Policy") == "no-referrer"


def test_a_refused_host_still_gets_the_security_headers(client: Http) -> None:
    r = client.get("/", headers={"Host": "evil.example"})
    assert r.status_code == 421 and r.headers.get("X-Content-Type-Options") == "nosniff"


# ---- 8. bidi spoofing (the dashboard: tests/api/test_dashboard.py) ----------------------------


def test_a_bidi_override_is_escaped_in_the_log(start_alert_api) -> None:
    api = start_alert_api()
    requests.post(f"{api.url}/alert", json=_alert("T1", "invoice\u202efdp.exe"), timeout=10)
    line = next(x for x in api.log_tail(20_000).splitlines() if "alert stored" in x)
    assert "\u202e" not in line and "invoice\\u202efdp.exe" in line


# ---- 9. docs behind the key, served from here -----------------------------------------------


@pytest.mark.parametrize("path", ["/docs", "/openapi.json"])
def test_docs_need_the_key_in_keyed_mode(locked: Http, path: str) -> None:
    assert locked.get(path).status_code == 401
    assert locked.get(path, headers={"X-API-Key": "wrong"}).status_code == 401
    assert locked.get(path, headers={"X-API-Key": KEY}).status_code == 200


@pytest.mark.parametrize("keyed", [False, True], ids=["keyless", "keyed"])
def test_redoc_is_gone(client: Http, locked: Http, keyed: bool) -> None:
    c, headers = (locked, {"X-API-Key": KEY}) if keyed else (client, {})
    assert c.get("/redoc", headers=headers).status_code == 404


def test_the_docs_page_loads_nothing_from_another_site(client: Http) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "http://" not in page.text and "https://" not in page.text and "//" not in page.text
    for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css", "/docs/init.js"):
        r = client.get(asset)
        assert r.status_code == 200 and len(r.content) > 100


# ---- 10. the OpenAPI document matches the answers (and tests/api/test_fuzz.py) ----------------


@pytest.mark.parametrize(("method", "path", "body", "params"), [
    ("GET", "/alerts", None, {"since": "yesterday"}),
    ("GET", "/alerts", None, {"cursor": "abc"}),
    ("PATCH", "/alerts/1", b"{}", None),
    ("PATCH", "/alerts/1", b'{"status": null}', None),
])
def test_every_422_detail_is_a_list_of_errors(
    client: Http, method: str, path: str, body: bytes | None, params: dict | None
) -> None:
    client.post("/alert", json=_alert())
    r = client.request(method, path, data=body, params=params,
                       headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert isinstance(detail, list) and detail
    assert all({"loc", "msg", "type"} <= set(d) for d in detail)


@pytest.mark.parametrize(("method", "path", "statuses"), [
    ("post", "/alert", {"200", "201", "400", "409", "413", "415", "422", "503"}),
    ("patch", "/alerts/{alert_id}", {"200", "400", "404", "409", "413", "415", "422", "503"}),
    ("get", "/alerts", {"200", "422", "503"}),
    ("get", "/alerts/{alert_id}/history", {"200", "404", "422", "503"}),
])
def test_the_openapi_document_lists_every_answer(
    client: Http, method: str, path: str, statuses: set[str]
) -> None:
    responses = client.get("/openapi.json").json()["paths"][path][method]["responses"]
    assert statuses <= set(responses)


@pytest.mark.parametrize("body", [b"", b"\x00", b"\x00\x00"], ids=["empty", "nul", "nuls"])
def test_an_empty_or_nul_patch_body_is_a_documented_400(client: Http, body: bytes) -> None:
    client.post("/alert", json=_alert())
    r = client.patch("/alerts/1", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and isinstance(r.json()["detail"], str)


@pytest.mark.parametrize(("path", "methods"), [("/alerts/1", {"GET", "PATCH"}),
                                               ("/alert", {"POST"})])
def test_a_wrong_method_is_405_listing_every_allowed_one(
    client: Http, path: str, methods: set[str]
) -> None:
    r = client.request("OPTIONS", path)
    assert r.status_code == 405
    assert methods <= {m.strip() for m in r.headers["Allow"].split(",")}
    assert r.headers.get("Access-Control-Allow-Origin") is None  # no CORS: same origin only


def test_a_batch_lists_each_transaction_once(client: Http, db_path: Path) -> None:
    client.post("/alert", json=_alert("T1"))
    r = client.post("/alert", json=[_alert("T1"), _alert("T2"), _alert("T3"), _alert("T2")])
    assert r.status_code == 200
    assert r.json() == {"created": ["T2", "T3"], "existing": ["T1"], "count": 4}
    assert _stored(db_path) == ["T1", "T2", "T3"]

"""`python alert_api.py` as users run it: a real uvicorn process (tests/conftest.py's
`AlertApiServer`), its command line and its one-line errors."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import pytest
import requests

import alert_api
from tests.api.helpers import alert as _alert
from tests.api.helpers import second_store, served
from wallet_monitor.api.app import create_app
from wallet_monitor.api.config import MAX_BODY_BYTES
from wallet_monitor.api.sql_store import SqlAlertStore
from wallet_monitor.paths import ROOT

# ---- a real uvicorn ------------------------------------------------------------------------


# `alert_api_server` (tests/conftest.py): `python alert_api.py --port P --db D`, healthy.


def test_real_server_receives_and_lists(alert_api_server) -> None:
    base = alert_api_server.url
    body = {"wallet_id": "W-live", "transaction_id": "T-live", "fraud_score": -0.25}
    r = requests.post(f"{base}/alert", json=body, timeout=10)  # the prototype client's call
    assert r.status_code == 201
    listed = requests.get(f"{base}/alerts", params={"wallet_id": "W-live"}, timeout=10).json()
    assert [a["transaction_id"] for a in listed["items"]] == ["T-live"]


def test_real_server_concurrent_retries_store_each_alert_once(alert_api_server) -> None:
    # Single posts (the event-loop fast path, or the pool when a batch holds the write lock)
    # race batches of the same ids: each id is created exactly once, by one of them.
    base, db = alert_api_server.url, alert_api_server.db
    ids = [f"R{i}" for i in range(40)]
    created: dict[str, int] = dict.fromkeys(ids, 0)
    singles: dict[str, list[int]] = {tx: [] for tx in ids}
    batch_codes: list[int] = []
    lock = threading.Lock()

    def single_client(k: int) -> None:
        with requests.Session() as s:
            for tx in ids if k % 2 == 0 else ids[::-1]:
                code = s.post(f"{base}/alert", json=_alert(tx, "W-retry"), timeout=10).status_code
                with lock:
                    singles[tx].append(code)
                    created[tx] += code == 201

    def batch_client(k: int) -> None:
        with requests.Session() as s:
            order = ids if k % 2 == 0 else ids[::-1]
            for start in range(0, len(order), 5):
                batch = [_alert(tx, "W-retry") for tx in order[start:start + 5]]
                r = s.post(f"{base}/alert", json=batch, timeout=10)
                with lock:
                    batch_codes.append(r.status_code)
                    for tx in r.json().get("created", []) if r.ok else []:
                        created[tx] += 1

    threads = [threading.Thread(target=single_client, args=(k,)) for k in range(4)]
    threads += [threading.Thread(target=batch_client, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert batch_codes == [200] * 16
    assert created == dict.fromkeys(ids, 1)
    assert all(len(codes) == 4 and set(codes) <= {200, 201} for codes in singles.values())
    with second_store(db) as store:
        stored = [a["transaction_id"] for a in store.query(wallet_id="W-retry", limit=500)[0]]
    assert sorted(stored) == sorted(ids)


def test_real_server_rejects_bad_bodies_with_4xx(alert_api_server) -> None:
    base = alert_api_server.url
    too_big = b" " * (MAX_BODY_BYTES + 1)
    for body in (b'{"wallet_id": "W", "transaction_id": "T", "fraud_score": NaN}', b"{", b"[]", too_big):
        r = requests.post(f"{base}/alert", data=body, timeout=10,
                          headers={"Content-Type": "application/json"})
        assert 400 <= r.status_code < 500 and r.json()["detail"]


def test_cli_help() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "alert_api.py"), "--help"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "--db" in r.stdout and "--log-file" in r.stdout
    for flag in ("--allowed-host", "--timeout-keep-alive", "--timeout-headers", "--timeout-body",
                 "--limit-concurrency", "--workers"):
        assert flag in r.stdout


def test_cli_unusable_db_path_is_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    r = subprocess.run(
        [sys.executable, str(ROOT / "alert_api.py"), "--port", "0", "--db", str(blocker / "alerts.db")],
        capture_output=True, text=True, timeout=60,
    )
    assert r.returncode != 0
    assert r.stderr.strip().splitlines()[-1].startswith("alert_api.py: error: cannot open database")
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(("db", "says"), [
    ("mysql://u@127.0.0.1/alerts", "unsupported database 'mysql'"),
    ("postgresql://postgres@127.0.0.1:{port}/alerts", "127.0.0.1"),  # nobody listens there
])
def test_cli_unusable_db_url_is_one_line_error(
    db: str, says: str, free_port: int, capsys: pytest.CaptureFixture
) -> None:
    assert alert_api.main(["--port", "0", "--db", db.format(port=free_port)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("alert_api.py: error: cannot open database")
    assert says in err[0]


def test_cli_workers_must_be_positive(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exited:
        alert_api.main(["--workers", "0"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.strip().endswith(": error: --workers must be at least 1, got 0")


def test_real_server_keeps_alerts_across_a_restart(start_alert_api, tmp_path: Path) -> None:
    db = tmp_path / "alerts.db"
    first = start_alert_api(db)
    requests.post(f"{first.url}/alert", json=[_alert("T1"), _alert("T2")], timeout=10)
    assert first.stop() in (0, -15)  # uvicorn re-raises SIGTERM after a graceful shutdown
    assert not Path(f"{db}-wal").exists()  # the WAL was folded into the file on shutdown
    second = start_alert_api(db)
    items = requests.get(f"{second.url}/alerts", timeout=10).json()["items"]
    assert [a["transaction_id"] for a in items] == ["T2", "T1"]


def test_cli_binds_loopback_by_default() -> None:
    args = alert_api._parse_args([])
    assert (args.host, args.db) == ("127.0.0.1", str(alert_api.DEFAULT_DB))


# ---- another process holds the write lock (issue 19, finding 3) ----------------------------------

_HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


@contextmanager
def _lock_held_by_another_process(db: Path) -> Iterator[Callable[[], None]]:
    """Another process holds SQLite's write lock on ``db`` until ``release()`` (or the end)."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(db)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)

    def release() -> None:
        if proc.poll() is None:
            proc.stdin.write("\n")
            proc.stdin.flush()
            proc.wait(10)

    try:
        assert proc.stdout.readline().strip() == "locked"
        yield release
    finally:
        release()
        proc.stdin.close()
        proc.stdout.close()


def _post_in_thread(url: str, body) -> tuple[threading.Thread, dict]:
    answer: dict = {}

    def post() -> None:
        answer["r"] = requests.post(url, json=body, timeout=30)

    thread = threading.Thread(target=post)
    thread.start()
    return thread, answer


def test_a_write_waiting_for_another_process_blocks_no_other_request(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ALERT_API_KEY", raising=False)
    with served(create_app(db_path)) as c:
        assert c.post("/alert", json=_alert("T0")).status_code == 201
        with _lock_held_by_another_process(db_path) as release:
            waiting, answer = _post_in_thread(f"{c.base}/alert", _alert("T1"))
            time.sleep(0.5)  # the POST has arrived and waits for the lock
            # Well under the store's 5 s busy timeout: answered while the POST still waits.
            assert c.get("/health", timeout=2.5).status_code == 200
            assert c.get("/alerts", timeout=2.5).status_code == 200
            assert waiting.is_alive()
            release()
            waiting.join(10)
    assert answer["r"].status_code == 201


def test_a_write_that_cannot_get_the_lock_is_503_with_retry_after(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ALERT_API_KEY", raising=False)
    store = partial(SqlAlertStore, db_path, busy_timeout_ms=300)
    with served(create_app(db_path, open_store=store)) as c:
        assert c.post("/alert", json=_alert("T0")).status_code == 201
        with _lock_held_by_another_process(db_path):
            for body in (_alert("T1"), [_alert("T2"), _alert("T3")]):
                r = c.post("/alert", json=body)
                assert r.status_code == 503 and int(r.headers["Retry-After"]) >= 1
        assert c.post("/alert", json=_alert("T1")).status_code == 201
    with second_store(db_path) as s:
        assert sorted(a["transaction_id"] for a in s.query()[0]) == ["T0", "T1"]


# ---- timeouts and limits of the server (issue 19, finding 4) -------------------------------------

_QUICK = ("--timeout-keep-alive", "1", "--timeout-headers", "1", "--timeout-body", "1")


def _closed_by_server(s: socket.socket, wait: float = 8.0) -> bytes:
    """Everything the server sends until it closes the connection (fails if it never does)."""
    s.settimeout(wait)
    received = b""
    while chunk := s.recv(65536):
        received += chunk
    return received


@pytest.fixture
def quick_api(start_alert_api):
    return start_alert_api(args=_QUICK)


def test_a_connection_that_sends_nothing_is_closed(quick_api) -> None:
    with socket.create_connection(("127.0.0.1", quick_api.port)) as s:
        answer = _closed_by_server(s)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408")


def test_slow_headers_are_cut_with_408(quick_api) -> None:
    with socket.create_connection(("127.0.0.1", quick_api.port)) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        assert _closed_by_server(s).startswith(b"HTTP/1.1 408")


def test_a_slow_body_is_cut_with_408(quick_api) -> None:
    with socket.create_connection(("127.0.0.1", quick_api.port)) as s:
        s.sendall(b"POST /alert HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n{\"wallet_id\": ")
        assert _closed_by_server(s).startswith(b"HTTP/1.1 408")
    assert quick_api.transaction_ids() == []


def test_an_idle_keep_alive_connection_is_closed(quick_api) -> None:
    with socket.create_connection(("127.0.0.1", quick_api.port)) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert _closed_by_server(s).startswith(b"HTTP/1.1 200")


def test_oversized_headers_are_431(quick_api) -> None:
    with socket.create_connection(("127.0.0.1", quick_api.port)) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 70_000 + b"\r\n\r\n")
        assert _closed_by_server(s).startswith(b"HTTP/1.1 431")


def test_over_the_concurrency_limit_the_server_answers_503(start_alert_api) -> None:
    api = start_alert_api(args=("--limit-concurrency", "3"))
    idle = [socket.create_connection(("127.0.0.1", api.port)) for _ in range(3)]
    try:
        r = requests.get(f"{api.url}/health", timeout=10)
        assert r.status_code == 503
    finally:
        for s in idle:
            s.close()
    deadline = time.monotonic() + 5
    while requests.get(f"{api.url}/health", timeout=10).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert "Traceback" not in api.log_tail(100_000)

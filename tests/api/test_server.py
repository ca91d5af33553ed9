"""`python alert_api.py` as users run it: a real uvicorn process (tests/conftest.py's
`AlertApiServer`), its command line and its one-line errors."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import requests

import alert_api
from tests.api.helpers import alert as _alert
from tests.api.helpers import second_store
from wallet_monitor.api.config import MAX_BODY_BYTES
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
        r = requests.post(f"{base}/alert", data=body, timeout=10)
        assert 400 <= r.status_code < 500 and r.json()["detail"]


def test_cli_help() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "alert_api.py"), "--help"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "--db" in r.stdout and "--log-file" in r.stdout


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
    assert (args.host, args.db) == ("127.0.0.1", alert_api.DEFAULT_DB)

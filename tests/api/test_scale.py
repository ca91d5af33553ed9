"""The alert API past one process (issue 21): `python alert_api.py --workers N` on the machine's
PostgreSQL, /metrics summed over the workers, and a PostgreSQL restart while alerts flow (on a
private server, tests/conftest.py's `PrivatePostgres`)."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.api.helpers import Http
from tests.api.helpers import alert as _alert
from wallet_monitor import delivery
from wallet_monitor.api.config import RETRY_AFTER_S


def _metric(text: str, name: str) -> float:
    """The value of an unlabelled metric in Prometheus' text format."""
    match = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


def _workers(pid: int) -> list[int]:
    """The processes `pid` started (uvicorn's workers and multiprocessing's tracker)."""
    children = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue  # gone meanwhile
        if fields.get("PPid", "").strip() == str(pid):
            children.append(int(status.parent.name))
    return children


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in state


# ---- metrics ---------------------------------------------------------------------------------


def test_metrics_count_alerts_duplicates_conflicts_and_store_errors(
    client: Http, db_path: Path
) -> None:
    client.post("/alert", json=_alert("T1"))  # stored
    client.post("/alert", json=_alert("T1"))  # a retry: duplicate
    client.post("/alert", json=[_alert("T1"), _alert("T2"), _alert("T2")])  # 1 stored, 2 duplicates
    assert client.post("/alert", json=_alert("T1", score=0.9)).status_code == 409
    with sqlite3.connect(db_path) as conn:
        conn.execute("DROP TABLE alerts")
    assert client.post("/alert", json=_alert("T3")).status_code == 503
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    assert {name: _metric(r.text, f"alert_api_{name}_total") for name in (
        "alerts_received", "alerts_stored", "alerts_duplicate", "alerts_conflict", "store_errors",
    )} == {"alerts_received": 7, "alerts_stored": 2, "alerts_duplicate": 3, "alerts_conflict": 1,
           "store_errors": 1}
    latency = 'alert_api_request_duration_seconds_count{method="POST",route="/alert",status="%s"}'
    for status, count in (("201", 1), ("200", 2), ("409", 1), ("503", 1)):  # by route and status
        assert f"{latency % status} {count}.0" in r.text


# ---- several workers on PostgreSQL -------------------------------------------------------------


def test_two_workers_receiving_the_same_batches_at_once_store_each_alert_once(
    start_alert_api, pg_url: str
) -> None:
    api = start_alert_api(db=pg_url, args=("--workers", "2"))
    batches = [[_alert(f"T{k}-{i}", score=i / 100) for i in range(100)] for k in range(4)]
    answers: list[dict] = []
    lock = threading.Lock()
    go = threading.Barrier(8)

    def post(batch: list[dict]) -> None:
        # A new connection per post: the kernel spreads them over both workers.
        go.wait()
        r = requests.post(f"{api.url}/alert", json=batch, timeout=30,
                          headers={"Connection": "close"})
        with lock:
            answers.append(r.json() if r.status_code == 200 else {"status": r.status_code})

    threads = [threading.Thread(target=post, args=(b,)) for b in batches for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    expected = sorted(a["transaction_id"] for b in batches for a in b)
    assert all("created" in a for a in answers), answers
    assert sorted(tx for a in answers for tx in a["created"]) == expected  # created once each
    assert sorted(api.transaction_ids()) == expected  # stored once each
    # Whichever worker answers, /metrics sums both (prometheus-client's multiprocess mode).
    scrapes = [requests.get(f"{api.url}/metrics", headers={"Connection": "close"}, timeout=10).text
               for _ in range(4)]
    assert {_metric(t, "alert_api_alerts_stored_total") for t in scrapes} == {400.0}
    assert {_metric(t, "alert_api_alerts_duplicate_total") for t in scrapes} == {400.0}
    workers = [p for p in _workers(api.proc.pid) if _alive(p)]
    assert len(workers) >= 2  # two workers (and multiprocessing's resource tracker)
    assert api.stop() == 0
    # multiprocessing's resource tracker exits when the API's end of its pipe closes: just after
    # the API (it was seen alive 20 ms later on a loaded machine); the workers are gone by then.
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(_alive(p) for p in workers)  # SIGTERM to the API stops its workers too


def test_workers_on_sqlite_run_one_process_and_say_why(start_alert_api, tmp_path: Path) -> None:
    api = start_alert_api(args=("--workers", "2"))
    assert requests.post(f"{api.url}/alert", json=_alert(), timeout=10).status_code == 201
    assert _workers(api.proc.pid) == []
    assert "--workers 2 needs PostgreSQL" in api.log_tail()


# ---- PostgreSQL restarted while alerts flow ----------------------------------------------------


def test_postgresql_restarted_while_alerts_flow_loses_nothing(
    start_alert_api, private_postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "RETRY_AFTER_S", 0.2)  # retry the spool soon after the outage
    api = start_alert_api(db=private_postgres.url)
    send = delivery.SpoolingSender(api.url, None, tmp_path / delivery.SPOOL_NAME)
    sent: list[str] = []
    waiting = []
    try:
        for k in range(12):  # the follower's micro-batches
            batch = [_alert(f"T{k}-{i}", score=0.99) for i in range(25)]
            sent += [a["transaction_id"] for a in batch]
            if k == 4:
                private_postgres.stop()
                down = requests.post(f"{api.url}/alert", json=_alert("probe"), timeout=10)
                assert down.status_code == 503 and int(down.headers["Retry-After"]) == RETRY_AFTER_S
            if k == 8:
                private_postgres.start()
            waiting.append(send(batch))
            time.sleep(0.25)
        deadline = time.monotonic() + 30
        while send([]) and time.monotonic() < deadline:
            time.sleep(0.25)
    finally:
        send.close()
    assert max(waiting[4:8]) > 0  # the API answered 503 meanwhile: the alerts were spooled
    assert delivery.read_spool(tmp_path / delivery.SPOOL_NAME) == []  # all delivered since
    stored = api.transaction_ids()
    assert sorted(stored) == sorted(sent)  # every alert, each once

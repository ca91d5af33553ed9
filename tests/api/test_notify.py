"""Webhook notifications end to end: a real app (uvicorn in a thread) over a real database, its
sender delivering to a real HTTP receiver on a loopback port that verifies each signature with
the ``standardwebhooks`` library. Retry waits are shortened (``FAST``); nothing is mocked."""

from __future__ import annotations

import base64
import os
import re
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import both_backends
from tests.api.helpers import Http, alert, second_store, served
from tests.api.receivers import WebhookReceiver, wait_for
from wallet_monitor.api.app import create_app
from wallet_monitor.api.sender import NotifySettings
from wallet_monitor.api.tables import deliveries

FAST = NotifySettings(retry_delays_s=(0.3, 0.3, 0.3), jitter=0.1, timeout_s=1.0, poll_s=0.05)
EVENTS = ["alert.created", "alert.status_changed"]


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest, db_path: Path) -> str | Path:
    return both_backends(request, db_path)


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Iterator[Http]:
    """One app for the tests that leave nothing behind (the refusals)."""
    with _app(tmp_path_factory.mktemp("notify") / "alerts.db") as c:
        yield c


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver()
    yield r
    r.stop()


def _app(db, settings: NotifySettings = FAST, **kwargs):
    return served(create_app(db, notify=settings, **kwargs))


def _subscribe(c: Http, receiver: WebhookReceiver, **body) -> dict:
    r = c.post("/webhooks", json={"url": receiver.url, "events": EVENTS, **body})
    assert r.status_code == 201, r.text
    receiver.secret = r.json()["secret"]
    return r.json()


def _deliveries(c: Http, status: str | None = None) -> list[dict]:
    return c.get("/deliveries", params={"limit": 500, **({"status": status} if status else {})}).json()["items"]


def _all_delivered(c: Http, n: int):
    items = _deliveries(c)
    return len(items) == n and all(d["status"] == "delivered" for d in items) and items


def test_alerts_and_status_changes_reach_a_subscriber_signed_the_standard_webhooks_way(
        any_db, receiver) -> None:
    with _app(any_db) as c:
        sub = _subscribe(c, receiver)
        assert c.post("/alert", json=alert("T1", score=0.999)).status_code == 201
        assert c.post("/alert", json=[alert("T2"), alert("T1", score=0.999)]).status_code == 200
        assert c.patch("/alerts/1", json={"status": "acknowledged"}).status_code == 200
        items = wait_for(lambda: _all_delivered(c, 3), what="three deliveries")
    assert [verified for _, _, verified, _ in receiver.received] == [True] * 3
    bodies = {(b["type"], b["data"]["transaction_id"]): b for _, _, _, b in receiver.received}
    assert set(bodies) == {("alert.created", "T1"), ("alert.created", "T2"),
                           ("alert.status_changed", "T1")}
    changed = bodies["alert.status_changed", "T1"]["data"]
    assert (changed["status"], changed["previous_status"], changed["severity"]) == (
        "acknowledged", "open", "critical")
    assert sorted(receiver.ids()) == sorted(d["id"] for d in items)  # webhook-id: the delivery id
    assert {d["subscription_id"] for d in items} == {sub["id"]}


def test_the_secret_is_whsec_base64_and_shown_only_at_creation(client: Http, receiver) -> None:
    sub = _subscribe(client, receiver, min_severity="high")
    assert sub["secret"].startswith("whsec_")
    assert len(base64.b64decode(sub["secret"].removeprefix("whsec_"), validate=True)) >= 24
    listed = client.get("/webhooks").json()["items"]
    assert [s["id"] for s in listed] == [sub["id"]] and "secret" not in listed[0]
    assert listed[0]["min_severity"] == "high" and listed[0]["active"] is True
    assert client.delete(f"/webhooks/{sub['id']}").status_code == 204
    assert client.delete(f"/webhooks/{sub['id']}").status_code == 404
    assert client.get("/webhooks").json()["items"] == []


@pytest.mark.parametrize("body", [
    {"url": "not a url", "events": ["alert.created"]},
    {"url": "ftp://example.org/hook", "events": ["alert.created"]},
    {"url": "javascript:alert(1)", "events": ["alert.created"]},
    {"url": "http://", "events": ["alert.created"]},
    {"url": "https://example.org/hook", "events": ["alert.deleted"]},
    {"url": "https://example.org/hook", "events": []},
    {"url": "https://example.org/hook"},
    {"url": "https://example.org/hook", "events": ["alert.created"], "min_severity": "urgent"},
    {"url": "https://example.org/hook", "events": ["alert.created"], "secret": "mine"},
], ids=["malformed", "ftp", "javascript", "no-host", "unknown-event", "no-events",
        "events-missing", "bad-severity", "extra-field"])
def test_a_bad_subscription_is_refused_with_422(shared: Http, body: dict) -> None:
    r = shared.post("/webhooks", json=body)
    assert r.status_code == 422, r.text
    assert shared.get("/webhooks").json()["items"] == []


def test_the_subscription_endpoints_need_the_api_key(db_path, receiver, monkeypatch) -> None:
    monkeypatch.delenv("ALERT_API_KEY", raising=False)
    with _app(db_path, api_key="k") as c:
        for method, path in (("post", "/webhooks"), ("get", "/webhooks"),
                             ("delete", "/webhooks/1"), ("get", "/deliveries")):
            assert getattr(c, method)(path, json={"url": receiver.url, "events": EVENTS}
                                      if method == "post" else None).status_code == 401
        assert c.post("/webhooks", json={"url": receiver.url, "events": EVENTS},
                      headers={"X-API-Key": "k"}).status_code == 201


def test_events_and_minimum_severity_choose_what_is_sent(db_path, receiver) -> None:
    with _app(db_path) as c:
        _subscribe(c, receiver, events=["alert.status_changed"], min_severity="high")
        c.post("/alert", json=[alert("LOW", score=0.1), alert("HIGH", score=0.985)])
        c.patch("/alerts/1", json={"status": "resolved"})  # low: not sent
        c.patch("/alerts/2", json={"note": "looking"})  # a note only: no status change
        c.patch("/alerts/2", json={"status": "false_positive"})
        wait_for(lambda: _all_delivered(c, 1))
    assert [(b["type"], b["data"]["transaction_id"]) for *_, b in receiver.received] == [
        ("alert.status_changed", "HIGH")]


def test_a_refused_batch_records_no_notification(any_db, receiver) -> None:
    # The outbox rows are written in the alert's transaction: a conflict rolls back both.
    with _app(any_db) as c:
        _subscribe(c, receiver)
        c.post("/alert", json=alert("T1", score=0.5))
        wait_for(lambda: _all_delivered(c, 1))
        r = c.post("/alert", json=[alert("T2"), alert("T1", score=0.7)])
        assert r.status_code == 409
        assert len(_deliveries(c)) == 1
    with second_store(any_db) as store, store.engine.connect() as conn:
        assert conn.execute(deliveries.select()).all()[0].alert_id == 1
        assert len(conn.execute(deliveries.select()).all()) == 1


def test_receiver_down_while_alerts_arrive_then_up_gets_every_notification_once(
        any_db, free_port) -> None:
    # ... with the API restarted in between: the outbox is in the database, not in memory.
    receiver = WebhookReceiver(port=free_port)
    settings = NotifySettings(retry_delays_s=(0.5,) * 8, jitter=0.2, timeout_s=1.0, poll_s=0.05)
    ids = [f"D{i}" for i in range(30)]
    try:
        with _app(any_db, settings) as c:
            _subscribe(c, receiver)
            receiver.stop()
            for tx in ids[:10]:
                assert c.post("/alert", json=alert(tx)).status_code == 201
            assert c.post("/alert", json=[alert(tx) for tx in ids[10:]]).status_code == 200
            # Failing: probed one delivery at a time, the others waiting.
            wait_for(lambda: sum(d["attempts"] for d in _deliveries(c)) >= 2,
                     what="two failed attempts")
            assert c.get("/webhooks").json()["items"][0]["failing_since"] is not None
        with _app(any_db, settings) as c:
            receiver.start()
            items = wait_for(lambda: _all_delivered(c, 30), what="every delivery delivered")
    finally:
        receiver.stop()
    assert Counter(receiver.ids()) == Counter({d["id"]: 1 for d in items})
    assert sorted(b["data"]["transaction_id"] for *_, b in receiver.received) == sorted(ids)
    assert all(verified for _, _, verified, _ in receiver.received)
    assert max(d["attempts"] for d in items) >= 2


def test_a_slow_receiver_is_cut_off_at_the_timeout_and_retried_with_the_same_id(
        db_path, receiver) -> None:
    receiver.delay, receiver.slow_first = 3.0, 1  # longer than FAST's 1 s timeout
    with _app(db_path) as c:
        _subscribe(c, receiver)
        c.post("/alert", json=alert("SLOW"))
        (item,) = wait_for(lambda: _all_delivered(c, 1))
    assert item["attempts"] == 2 and item["last_error"] is None  # cleared by the success
    assert receiver.ids() == [item["id"], item["id"]]


def test_a_redirect_is_not_followed_and_a_failed_delivery_can_be_retried_by_hand(
        db_path, receiver) -> None:
    receiver.answer = 307
    with _app(db_path) as c:
        sub = _subscribe(c, receiver)
        c.post("/alert", json=alert("R1"))
        (failed,) = wait_for(lambda: _deliveries(c, "failed"), what="failed after the last try")
        assert failed["attempts"] == 1 + len(FAST.retry_delays_s)
        assert "redirect" in failed["last_error"] and "not followed" in failed["last_error"]
        assert {p for p, *_ in receiver.received} == {"/hook"}  # never /elsewhere
        assert c.get("/webhooks").json()["items"][0]["failed"] == 1
        receiver.answer = 204
        r = c.post(f"/deliveries/{failed['id']}/retry")
        assert r.status_code == 200 and r.json()["status"] == "pending"
        wait_for(lambda: _all_delivered(c, 1))
        assert c.post(f"/deliveries/{failed['id']}/retry").status_code == 409  # delivered
        assert c.post("/deliveries/msg_" + "0" * 32 + "/retry").status_code == 404
        assert c.get("/webhooks").json()["items"][0]["id"] == sub["id"]
    assert receiver.ids()[-1] == failed["id"]


def test_a_subscription_failing_for_the_pause_period_is_paused_then_resumed(
        db_path, free_port) -> None:
    dead = WebhookReceiver(port=free_port, start=False)  # nothing listens there
    settings = NotifySettings(retry_delays_s=(0.2,) * 50, jitter=0.1, timeout_s=1.0, poll_s=0.05,
                              pause_after_s=1.0)
    with _app(db_path, settings) as c:
        sub = _subscribe(c, dead)
        c.post("/alert", json=alert("P1"))
        paused = wait_for(lambda: [s for s in c.get("/webhooks").json()["items"] if not s["active"]])
        assert "paused" in paused[0]["paused_reason"] and paused[0]["pending"] == 0
        (failed,) = _deliveries(c, "failed")
        assert "paused" in failed["last_error"]
        c.post("/alert", json=alert("P2"))  # a paused subscription gets nothing new
        assert len(_deliveries(c)) == 1
        r = c.post(f"/webhooks/{sub['id']}/resume")
        assert r.status_code == 200 and r.json()["active"] and r.json()["paused_reason"] is None
        assert c.post("/webhooks/999/resume").status_code == 404


def test_two_api_workers_on_postgresql_run_one_sender_and_deliver_each_notification_once(
        pg_url, start_alert_api, receiver) -> None:  # pg_url first: dropped last
    server = start_alert_api(db=pg_url, args=("--workers", "2"))
    active = re.compile(r"notification sender active in this process \(pid (\d+)")

    def post(ids: list[str]) -> None:
        for start in range(0, len(ids), 4):  # new connections: both workers take some
            with Http(server.url) as fresh:
                assert fresh.post("/alert", json=[alert(tx) for tx in ids[start:start + 4]]).ok

    # Healthy once one worker answers: wait for both (a loaded machine starts them seconds apart).
    wait_for(lambda: server.log_tail(1_000_000).count("Application startup complete") >= 2,
             timeout=60, what="both workers started")
    with Http(server.url) as c:
        _subscribe(c, receiver)
        ids = [f"W{i}" for i in range(40)]
        post(ids)
        wait_for(lambda: _all_delivered(c, 40), what="every delivery delivered")
        (leader,) = active.findall(server.log_tail(1_000_000))  # one sender of two workers
        os.kill(int(leader), signal.SIGKILL)  # its lock goes with its connection
        post([f"X{i}" for i in range(8)])
        ids += [f"X{i}" for i in range(8)]
        items = wait_for(lambda: _all_delivered(c, 48), what="delivered after the sender died")
    assert Counter(receiver.ids()) == Counter({d["id"]: 1 for d in items})
    assert sorted(b["data"]["transaction_id"] for *_, b in receiver.received) == sorted(ids)
    assert len(set(active.findall(server.log_tail(1_000_000))) - {leader}) == 1  # the next one


def test_a_failing_receiver_is_probed_one_delivery_at_a_time_not_flooded(db_path, receiver) -> None:
    receiver.answer = 500
    settings = NotifySettings(retry_delays_s=(0.3,) * 20, jitter=0.1, timeout_s=1.0, poll_s=0.05)
    with _app(db_path, settings) as c:
        _subscribe(c, receiver)
        c.post("/alert", json=alert("FIRST"))
        wait_for(lambda: receiver.received, what="the first attempt")
        c.post("/alert", json=[alert(f"B{i}") for i in range(30)])
        wait_for(lambda: len(receiver.received) >= 4, what="a few probes")
        # 31 deliveries due, but while it fails it gets one attempt at a time (one per 0.3 s),
        # not one per delivery: fewer attempts than deliveries, though many rounds went by.
        assert sum(d["attempts"] for d in _deliveries(c)) <= len(receiver.received) < 31
        receiver.answer = 204
        items = wait_for(lambda: _all_delivered(c, 31), what="the backlog once it answers")
    ok = {d["id"] for d in items}
    assert set(receiver.ids()) == ok  # each one delivered; a failed try repeats its id later

"""Alert delivery in its own thread: in order, nothing lost, refusals stop it, on a real API."""

from __future__ import annotations

import json
import socket

import pytest

from tests.conftest import ALERT_API_TEST_KEY
from wallet_monitor.delivery import DeliveryError, SpoolingSender
from wallet_monitor.stream.outbox import Outbox


def _records(lo: int, hi: int) -> list[dict]:
    return [{"transaction_id": f"t{i}", "wallet_id": f"w{i % 3}", "fraud_score": 0.99,
             "timestamp": "2026-01-05T10:00:00Z", "amount": 100.0 + i, "type": "transfer",
             "reasons": "transactions in the last hour: tx_count_1h=9 (typical 1)",
             "model_version": "test"} for i in range(lo, hi)]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_batches_handed_over_are_all_delivered_and_the_outbox_is_then_idle(api, tmp_path):
    outbox = Outbox(SpoolingSender(api.url, None, tmp_path / "spool.jsonl"))
    try:
        for lo in (0, 3, 5):
            outbox.put(_records(lo, lo + 3 if lo < 5 else 9))
        assert outbox.drain(60)
        assert outbox.idle and outbox.oldest_age() == 0.0
    finally:
        outbox.close()
        outbox.sender.close()
    assert sorted(api.transaction_ids()) == sorted(f"t{i}" for i in range(9))
    assert not (tmp_path / "spool.jsonl").exists()


def test_alerts_the_api_cannot_take_wait_in_the_spool(tmp_path):
    spool = tmp_path / "spool.jsonl"
    outbox = Outbox(SpoolingSender(f"http://127.0.0.1:{_closed_port()}", None, spool))
    outbox.put(_records(0, 2))
    outbox.put(_records(2, 4))
    outbox.close()
    outbox.sender.close()
    waiting = [json.loads(line)["transaction_id"] for line in spool.read_text().splitlines()]
    assert waiting == ["t0", "t1", "t2", "t3"] and outbox.spooled == 4
    assert outbox.error is None


def test_a_refused_key_stops_delivery_and_keeps_every_later_alert(keyed_alert_api_server,
                                                                  tmp_path):
    spool = tmp_path / "spool.jsonl"
    outbox = Outbox(SpoolingSender(keyed_alert_api_server.url, "wrong-" + ALERT_API_TEST_KEY,
                                   spool))
    outbox.put(_records(0, 2))
    outbox.drain(60)
    outbox.put(_records(2, 3))  # after the refusal: straight to the spool
    outbox.close()
    outbox.sender.close()
    assert isinstance(outbox.error, DeliveryError)
    waiting = {json.loads(line)["transaction_id"] for line in spool.read_text().splitlines()}
    assert waiting == {"t0", "t1", "t2"}


@pytest.mark.parametrize("n", [0, 1])
def test_an_outbox_with_nothing_or_one_batch_closes_cleanly(api, tmp_path, n):
    outbox = Outbox(SpoolingSender(api.url, None, tmp_path / "spool.jsonl"))
    if n:
        outbox.put(_records(0, 1))
    outbox.close()
    outbox.sender.close()
    assert sorted(api.transaction_ids()) == [f"t{i}" for i in range(n)]

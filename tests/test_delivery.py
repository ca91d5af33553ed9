"""Alert delivery: batches, retries, the spool, refused alerts set aside."""

import http.server
import json
import logging
import threading

import pytest
import requests

from wallet_monitor.delivery import DeliveryError, SpoolingSender, send_alerts


def _records(n: int, start: int = 0) -> list[dict]:
    return [
        {
            "transaction_id": f"t{i}",
            "wallet_id": f"w{i % 3}",
            "fraud_score": 0.99,
            "timestamp": "2026-01-05T10:00:00Z",
            "amount": 100.0 + i,
            "type": "transfer",
            "reasons": "transactions in the last hour: tx_count_1h=9 (typical 1)",
            "model_version": "test",
        }
        for i in range(start, start + n)
    ]


def test_alerts_reach_the_api_in_batches(api, tmp_path):
    result = send_alerts(_records(7), api.url, tmp_path / "spool.jsonl", batch_size=3)
    assert (result.sent, result.created, result.existing, result.spooled) == (7, 7, 0, 0)
    assert sorted(api.transaction_ids()) == sorted(f"t{i}" for i in range(7))


def test_resending_stores_nothing_new(api, tmp_path):
    send_alerts(_records(4), api.url, tmp_path / "spool.jsonl")
    again = send_alerts(_records(4), api.url, tmp_path / "spool.jsonl")
    assert (again.created, again.existing) == (0, 4)
    assert len(api.transaction_ids()) == 4


def test_spooled_alerts_are_sent_first_and_the_spool_removed(api, tmp_path):
    spool = tmp_path / "spool.jsonl"
    spool.write_text("".join(json.dumps(r) + "\n" for r in _records(2, start=100)))
    result = send_alerts(_records(3), api.url, spool)
    assert (result.sent, result.spooled) == (5, 0)
    assert not spool.exists()
    assert set(api.transaction_ids()) == {"t100", "t101", "t0", "t1", "t2"}


def test_unreachable_api_spools_every_alert(tmp_path, free_port):
    spool = tmp_path / "spool.jsonl"
    url = f"http://127.0.0.1:{free_port}"
    result = send_alerts(_records(5), url, spool, batch_size=2, retries=1, backoff=0)
    assert (result.sent, result.spooled) == (0, 5)
    assert [json.loads(line) for line in spool.read_text().splitlines()] == _records(5)


def test_refused_key_raises_and_keeps_the_alerts(start_alert_api, tmp_path):
    server = start_alert_api(api_key="s3cret")
    spool = tmp_path / "spool.jsonl"
    with pytest.raises(DeliveryError, match="401"):
        send_alerts(_records(2), server.url, spool)
    assert len(spool.read_text().splitlines()) == 2
    ok = send_alerts([], server.url, spool, api_key="s3cret")
    assert (ok.sent, ok.spooled) == (2, 0)


class _Flaky(http.server.BaseHTTPRequestHandler):
    """Answers 503 to the first `failures` POSTs, then accepts the batch."""

    failures = 2
    posts: list[int] = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        batch = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).posts.append(len(batch))
        if len(self.posts) <= self.failures:
            self._answer(503, {"detail": "busy"})
        else:
            ids = [a["transaction_id"] for a in batch]
            self._answer(200, {"created": ids, "existing": [], "count": len(ids)})

    def _answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize(("failures", "sent"), [(2, 3), (10, 0)])
def test_5xx_is_retried_with_backoff(tmp_path, failures, sent):
    _Flaky.failures, _Flaky.posts = failures, []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = send_alerts(_records(3), url, tmp_path / "spool.jsonl", retries=3, backoff=0.01)
    finally:
        server.shutdown()
        server.server_close()
    assert len(_Flaky.posts) == min(failures + 1, 4)  # the first try and up to three retries
    assert (result.sent, result.spooled) == (sent, 3 - sent)


class _NoContent(http.server.BaseHTTPRequestHandler):
    posts: list = []

    def do_POST(self):
        _NoContent.posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)  # stored, with no JSON body to count from
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_2xx_without_a_json_body_still_counts_as_delivered(tmp_path):
    _NoContent.posts = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NoContent)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = send_alerts(_records(25), url, tmp_path / "spool.jsonl", batch_size=10)
    finally:
        server.shutdown()
        server.server_close()
    assert (result.sent, result.spooled) == (25, 0)
    assert sum(len(p) for p in _NoContent.posts) == 25
    assert not (tmp_path / "spool.jsonl").exists()


def test_an_alert_the_api_refuses_is_set_aside_and_blocks_nothing(api, tmp_path):
    spool = tmp_path / "spool.jsonl"
    bad = {**_records(1, start=99)[0], "transaction_id": "x" * 200}  # over the API's 128
    result = send_alerts([*_records(5), bad], api.url, spool, batch_size=10)
    assert (result.sent, result.rejected, result.spooled) == (5, 1, 0)
    assert sorted(api.transaction_ids()) == sorted(f"t{i}" for i in range(5))
    rejected = tmp_path / "spool.rejected.jsonl"
    assert [json.loads(line)["transaction_id"] for line in rejected.read_text().splitlines()] == [
        "x" * 200
    ]
    # The next run is not held back by it.
    again = send_alerts(_records(1, start=50), api.url, spool)
    assert (again.sent, again.rejected, again.spooled) == (1, 0, 0)
    assert "t50" in api.transaction_ids()



# ---- a repeat with other content: the API answers 409 (issue 19, finding 2) ----------------------


def _raised(records: list[dict]) -> list[dict]:
    """The same rows alerted again with a higher score, as an episode link raises them."""
    return [{**r, "fraud_score": 0.999, "reasons": "episode: leads to a flagged transfer"}
            for r in records]


def test_an_episode_raise_of_an_alerted_row_is_delivered_and_logged(api, tmp_path, caplog):
    spool = tmp_path / "spool.jsonl"
    send_alerts(_records(3), api.url, spool)
    with caplog.at_level(logging.INFO, logger="wallet_monitor.delivery"):
        result = send_alerts([*_raised(_records(2)), *_records(2, start=10)], api.url, spool,
                             batch_size=10)
    assert (result.sent, result.created, result.conflicts, result.spooled, result.rejected) == (
        4, 2, 2, 0, 0)
    assert not spool.exists() and not (tmp_path / "spool.rejected.jsonl").exists()
    assert sorted(api.transaction_ids()) == ["t0", "t1", "t10", "t11", "t2"]
    first = requests.get(f"{api.url}/alerts", params={"wallet_id": "w0"}, timeout=10).json()
    assert [a["fraud_score"] for a in first["items"]] == [0.99]  # the first alert stands
    logged = [r.getMessage() for r in caplog.records if "t0" in r.getMessage()]
    assert logged and all(r.levelno == logging.INFO for r in caplog.records
                          if "t0" in r.getMessage())


def test_a_spooled_conflict_never_blocks_or_loops(api, tmp_path):
    spool = tmp_path / "spool.jsonl"
    send_alerts(_records(2), api.url, spool)
    spool.write_text("".join(json.dumps(r) + "\n" for r in _raised(_records(2))))
    sender = SpoolingSender(api.url, None, spool)
    try:
        assert sender([*_records(1, start=20)]) == 0
        assert not spool.exists()
        assert sender([]) == 0  # nothing left to send again
    finally:
        sender.close()
    assert sorted(api.transaction_ids()) == ["t0", "t1", "t20"]


def test_alert_bodies_are_the_flagged_rows_as_plain_python_values():
    import numpy as np
    import pandas as pd

    from wallet_monitor.delivery import alert_bodies, alert_records

    det = pd.DataFrame({
        "transaction_id": ["T1", "T2", "T3"], "wallet_id": ["W1", "W2", "W3"],
        "timestamp": pd.to_datetime(["2026-01-01T00:00:01Z", "2026-01-02T03:04:05Z",
                                     "2026-01-03T00:00:00Z"], utc=True),
        "fraud_score": [0.99, 0.5, 0.975], "is_anomaly": [True, False, True],
        "reasons": ["a: 1 (typical 0)", "", "b" * 2500], "amount": [10.5, 2.0, 7.0],
        "type": ["transfer", "deposit", "redeem"],
    })
    want = [
        {"transaction_id": "T1", "wallet_id": "W1", "fraud_score": 0.99,
         "timestamp": "2026-01-01T00:00:01Z", "amount": 10.5, "type": "transfer",
         "reasons": "a: 1 (typical 0)", "model_version": "v1"},
        {"transaction_id": "T3", "wallet_id": "W3", "fraud_score": 0.975,
         "timestamp": "2026-01-03T00:00:00Z", "amount": 7.0, "type": "redeem",
         "reasons": "b" * 2000, "model_version": "v1"},
    ]
    assert alert_records(det, "v1") == want
    flagged = det["is_anomaly"].to_numpy()
    columns = {c: det[c].to_numpy()[flagged] for c in det if c not in ("timestamp", "is_anomaly")}
    assert alert_bodies({**columns, "timestamp": det["timestamp"].array[flagged]}, "v1") == want
    # What pandas' conversions give for other values: ids as text, amounts parsed, missing
    # reasons empty, times as text or naive; no amount or type columns.
    odd = pd.DataFrame({
        "transaction_id": np.array([7, None], dtype=object), "wallet_id": ["W1", np.nan],
        "timestamp": ["2026-01-01 00:00:01", None], "fraud_score": [1, 1],
        "is_anomaly": [True, True], "reasons": [None, "r"], "amount": ["12.5", None],
        "type": [None, "deposit"],
    })
    got = alert_records(odd, None)
    assert [r["transaction_id"] for r in got][0] == "7" and got[1]["transaction_id"] != "None"
    assert got[0]["timestamp"] == "2026-01-01T00:00:01Z" and pd.isna(got[1]["timestamp"])
    assert got[0]["amount"] == 12.5 and np.isnan(got[1]["amount"])
    assert [r["reasons"] for r in got] == ["", "r"] and got[0]["fraud_score"] == 1.0
    assert alert_records(odd.drop(columns=["amount", "type"]), None)[0]["amount"] is None
    odd["timestamp"] = pd.to_datetime(odd["timestamp"])  # naive: read as UTC
    assert alert_records(odd, None)[0]["timestamp"] == "2026-01-01T00:00:01Z"

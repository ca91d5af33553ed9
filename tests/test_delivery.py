"""Alert delivery from the detector to a real alert API (uvicorn subprocess on loopback)."""

import http.server
import json
import shutil
import threading

import pandas as pd
import pytest

import detect_anomalies as da
import feature_engineering as fe
import train_model as tm


@pytest.fixture
def api(start_alert_api):
    """A real alert API with a fresh database (tests/conftest.py)."""
    return start_alert_api()


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
    result = da.send_alerts(_records(7), api.url, tmp_path / "spool.jsonl", batch_size=3)
    assert (result.sent, result.created, result.existing, result.spooled) == (7, 7, 0, 0)
    assert sorted(api.transaction_ids()) == sorted(f"t{i}" for i in range(7))


def test_resending_stores_nothing_new(api, tmp_path):
    da.send_alerts(_records(4), api.url, tmp_path / "spool.jsonl")
    again = da.send_alerts(_records(4), api.url, tmp_path / "spool.jsonl")
    assert (again.created, again.existing) == (0, 4)
    assert len(api.transaction_ids()) == 4


def test_spooled_alerts_are_sent_first_and_the_spool_removed(api, tmp_path):
    spool = tmp_path / "spool.jsonl"
    spool.write_text("".join(json.dumps(r) + "\n" for r in _records(2, start=100)))
    result = da.send_alerts(_records(3), api.url, spool)
    assert (result.sent, result.spooled) == (5, 0)
    assert not spool.exists()
    assert set(api.transaction_ids()) == {"t100", "t101", "t0", "t1", "t2"}


def test_unreachable_api_spools_every_alert(tmp_path, free_port):
    spool = tmp_path / "spool.jsonl"
    url = f"http://127.0.0.1:{free_port}"
    result = da.send_alerts(_records(5), url, spool, batch_size=2, retries=1, backoff=0)
    assert (result.sent, result.spooled) == (0, 5)
    assert [json.loads(line) for line in spool.read_text().splitlines()] == _records(5)


def test_refused_key_raises_and_keeps_the_alerts(start_alert_api, tmp_path):
    server = start_alert_api(api_key="s3cret")
    spool = tmp_path / "spool.jsonl"
    with pytest.raises(da.DeliveryError, match="401"):
        da.send_alerts(_records(2), server.url, spool)
    assert len(spool.read_text().splitlines()) == 2
    ok = da.send_alerts([], server.url, spool, api_key="s3cret")
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
        result = da.send_alerts(_records(3), url, tmp_path / "spool.jsonl", retries=3, backoff=0.01)
    finally:
        server.shutdown()
        server.server_close()
    assert len(_Flaky.posts) == min(failures + 1, 4)  # the first try and up to three retries
    assert (result.sent, result.spooled) == (sent, 3 - sent)


# -------------------------------------------------------- the detector CLI, end to end


@pytest.fixture(scope="module")
def chain(small_data_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("delivery")
    shutil.copytree(small_data_dir, root / "data")
    assert fe.main(["--data-dir", str(root / "data")]) == 0
    assert tm.main(_dirs(root)) == 0
    return root


def _dirs(root) -> list[str]:
    return ["--data-dir", str(root / "data"), "--models-dir", str(root / "models"),
            "--reports-dir", str(root / "reports")]


def _detect(root, url, *extra):
    return da.main([*_dirs(root), "--api-url", url, "--no-figures", *extra])


def _flagged(root) -> set[str]:
    d = pd.read_csv(root / "data" / "detections.csv", dtype={"transaction_id": str})
    return set(d.loc[d["is_anomaly"], "transaction_id"])


def test_detector_posts_every_flagged_transaction(chain, api):
    assert _detect(chain, api.url) == 0
    ids = api.transaction_ids()
    assert len(ids) == len(set(ids))
    assert set(ids) == _flagged(chain) and ids


def test_api_down_then_up_delivers_exactly_the_flagged_set(chain, start_alert_api, free_port,
                                                           capsys):
    spool = chain / "data" / da.SPOOL_NAME
    url = f"http://127.0.0.1:{free_port}"
    assert _detect(chain, url) == 1
    flagged = _flagged(chain)
    err = capsys.readouterr().err
    assert f"{len(flagged)} alerts wait in {spool}" in err
    assert len(spool.read_text().splitlines()) == len(flagged)

    server = start_alert_api(port=free_port)  # up where the detector has been trying
    assert _detect(chain, url) == 0
    assert not spool.exists()
    assert _detect(chain, url) == 0  # a rerun stores nothing twice
    ids = server.transaction_ids()
    assert len(ids) == len(set(ids))
    assert set(ids) == flagged


# ------------------------------------------------ answers and alerts the API did not expect


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
        result = da.send_alerts(_records(25), url, tmp_path / "spool.jsonl", batch_size=10)
    finally:
        server.shutdown()
        server.server_close()
    assert (result.sent, result.spooled) == (25, 0)
    assert sum(len(p) for p in _NoContent.posts) == 25
    assert not (tmp_path / "spool.jsonl").exists()


def test_an_alert_the_api_refuses_is_set_aside_and_blocks_nothing(api, tmp_path):
    spool = tmp_path / "spool.jsonl"
    bad = {**_records(1, start=99)[0], "transaction_id": "x" * 200}  # over the API's 128
    result = da.send_alerts([*_records(5), bad], api.url, spool, batch_size=10)
    assert (result.sent, result.rejected, result.spooled) == (5, 1, 0)
    assert sorted(api.transaction_ids()) == sorted(f"t{i}" for i in range(5))
    rejected = tmp_path / "spool.rejected.jsonl"
    assert [json.loads(line)["transaction_id"] for line in rejected.read_text().splitlines()] == [
        "x" * 200
    ]
    # The next run is not held back by it.
    again = da.send_alerts(_records(1, start=50), api.url, spool)
    assert (again.sent, again.rejected, again.spooled) == (1, 0, 0)
    assert "t50" in api.transaction_ids()


def test_a_broken_labels_file_skips_the_evaluation_not_the_alerts(chain, api, tmp_path):
    root = tmp_path / "run"
    shutil.copytree(chain, root)
    (root / "data" / "labels.csv").write_text("transaction_id\n\"unterminated\n")
    assert _detect(root, api.url) == 0
    assert set(api.transaction_ids()) == _flagged(root)
    assert json.loads((root / "reports" / "metrics.json").read_text())["evaluation"] is None

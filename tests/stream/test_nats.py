"""The follower over NATS JetStream (the machine's server; a private one for its restart):
sharded scoring equals batch with chains that cross shards, malformed messages, restarts."""

from __future__ import annotations

import copy
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

from tests.conftest import _free_port, load_bench
from wallet_monitor.features import load_logins, load_transactions, load_wallets
from wallet_monitor.scoring import detect
from wallet_monitor.stream import STREAM_DETECTIONS_NAME, STREAM_EPISODES_NAME, shard
from wallet_monitor.stream.metrics import DetectorMetrics
from wallet_monitor.stream.nats_io import LoopThread, connect, delete_streams
from wallet_monitor.stream.nats_source import NatsSource
from wallet_monitor.stream.partition import parse_nats_url, partition_of
from wallet_monitor.stream.publish import publish_events
from wallet_monitor.stream.shard import follow_nats

ROOT = Path(__file__).resolve().parents[2]
replay = load_bench("replay")
NATS = "nats://127.0.0.1:4222"
PARTITIONS = 8


def _drop(url: str) -> None:
    loop = LoopThread("nats-test")
    try:
        async def go():
            nc = await connect(parse_nats_url(url), "wallet-monitor-test")
            await delete_streams(nc.jetstream(), parse_nats_url(url))
            await nc.close()
        loop.run(go(), 30)
    finally:
        loop.stop()


@pytest.fixture
def stream_url():
    """A stream name of its own on the machine's NATS, deleted afterwards."""
    url = f"{NATS}/T{uuid.uuid4().hex[:10]}"
    yield url
    _drop(url)


def _folder(chain, tmp_path) -> Path:
    """A data folder with wallets, history and the logins before the holdout (the rest of the
    holdout comes from the stream)."""
    live = tmp_path / "live"
    replay.prepare(chain / "data", live)
    return live


def _run_shard(live, bundle, url, shard, **kw):
    return follow_nats(
        bundle, url, live / f"shard{shard[0]}", shard=shard, partitions=PARTITIONS,
        history=load_transactions(live / "transactions.csv"), wallets=load_wallets(live / "wallets.csv"),
        logins=load_logins(live / "logins.csv"),
        tx_columns=pd.read_csv(live / "transactions.csv", nrows=0).columns,
        login_columns=pd.read_csv(live / "logins.csv", nrows=0).columns,
        **{"max_idle": 1.5, "poll": 0.02, **kw})


def _final(out_dir: Path) -> pd.DataFrame:
    """Each transaction's last word in one shard's outputs (its rise, else its detection)."""
    got = pd.read_csv(out_dir / STREAM_DETECTIONS_NAME, dtype={"transaction_id": str}).astype(
        {"reasons": object}).set_index("transaction_id")
    path = out_dir / STREAM_EPISODES_NAME
    if path.exists() and path.stat().st_size:
        raised = pd.read_csv(path, dtype={"transaction_id": str}).groupby("transaction_id").last()
        raised = raised.loc[raised.index.isin(got.index)]  # a new owner's rises of older rows
        cols = ["fraud_score", "is_anomaly", "reasons"]
        got.loc[raised.index, cols] = raised[cols].astype({"reasons": object})
    return got


def _assert_like_batch(got: pd.DataFrame, batch: pd.DataFrame) -> None:
    assert sorted(got.index) == sorted(batch.index)
    want = batch.loc[got.index]
    np.testing.assert_allclose(got["fraud_score"], want["fraud_score"], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(got["is_anomaly"].to_numpy(), want["is_anomaly"].to_numpy())
    assert got["reasons"].fillna("").tolist() == want["reasons"].fillna("").tolist()


# A threshold flagging more of the small data than the trained one: the chains that cross wallets
# (money followed into a counterparty's wallet) start at transfers near the trained threshold,
# and which of them a model flags moves with its ranking (at the trained threshold issue 18j's
# left the data none; at 0.96 three, with the model before it as well).
CHAIN_THRESHOLD = 0.96


def test_two_shards_score_like_the_batch_path_with_chains_that_cross_shards(
        chain, bundle, tmp_path, stream_url):
    bundle = copy.deepcopy(bundle)
    bundle.threshold = min(bundle.threshold, CHAIN_THRESHOLD)
    d = chain / "data"
    batch = detect(bundle, load_transactions(d / "new_transactions.csv"),
                   load_transactions(d / "transactions.csv"), load_wallets(d / "wallets.csv"),
                   load_logins(d / "logins.csv")).set_index("transaction_id")
    live = _folder(chain, tmp_path)
    tx, logins = replay.holdout_events(chain / "data")
    publish_events(stream_url, tx, logins, partitions=PARTITIONS)
    results = {}
    threads = [threading.Thread(target=lambda s=s: results.__setitem__(
        s, _run_shard(live, bundle, stream_url, (s, 2), max_batch=150))) for s in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert sorted(results) == [0, 1]
    parts = [_final(live / f"shard{s}") for s in (0, 1)]
    assert not set(parts[0].index) & set(parts[1].index)  # each row scored by one shard
    got = pd.concat(parts)
    assert sum(r.scored for r in results.values()) == len(batch)
    _assert_like_batch(got, batch)
    # Rises in one shard made by a row that another shard scored: a cross-shard link.
    shard_of = {t: s for s in (0, 1) for t in parts[s].index}
    wallet = batch["wallet_id"].astype(str)
    cross = [(t, s) for s in (0, 1) if (live / f"shard{s}" / STREAM_EPISODES_NAME).exists()
             for t, via in pd.read_csv(live / f"shard{s}" / STREAM_EPISODES_NAME,
                                       dtype={"transaction_id": str, "linked_to": str})[
                 ["transaction_id", "linked_to"]].itertuples(index=False)
             if shard_of.get(via, s) != s]
    assert cross, "the data should hold an episode whose rows two shards score"
    for t, s in cross:
        assert partition_of(wallet[t], PARTITIONS) % 2 == s


def test_malformed_messages_are_counted_dead_lettered_acknowledged_and_skipped(
        chain, bundle, tmp_path, stream_url, caplog, monkeypatch):
    live = _folder(chain, tmp_path)
    tx, logins = replay.holdout_events(chain / "data", limit=30)
    bad_amount = tx.iloc[[5]].assign(transaction_id="bad-amount", amount="-3")
    publish_events(stream_url, tx.iloc[:10], None, partitions=PARTITIONS)
    publish_events(stream_url, bad_amount, None)

    loop = LoopThread("nats-test")
    address = parse_nats_url(stream_url)
    first = tx.iloc[9].dropna().astype(str).to_dict()  # a repeat of it, in the same poll

    async def garbage():
        nc = await connect(address, "test")
        js = nc.jetstream()
        await js.publish(address.tx_subject(3), b"{not json")
        await js.publish(address.tx_subject(4), b"[1, 2]")
        await js.publish(address.tx_subject(partition_of(first["wallet_id"], PARTITIONS)),
                         json.dumps(first).encode())  # no Nats-Msg-Id: stored again
        await nc.close()
    loop.run(garbage(), 30)
    publish_events(stream_url, tx.iloc[10:], None)
    metrics = DetectorMetrics(_free_port(), shard="0/1")
    sources = []

    class Kept(NatsSource):  # the shard's own source, kept to look at once the run is over
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            sources.append(self)
    monkeypatch.setattr(shard, "NatsSource", Kept)
    try:
        stats = _run_shard(live, bundle, stream_url, (0, 1), max_idle=1.0, metrics=metrics)
        text = requests.get(f"http://127.0.0.1:{metrics.server.server_port}/metrics",
                            timeout=10).text
    finally:
        metrics.close()
    assert stats.malformed == 4 and stats.scored == 30
    # Every own row's publish time was read once, a refused row's dropped: none lingers (the
    # repeat's had replaced the kept row's, whose own then stayed for good).
    assert sources[0].published_at == {}
    assert 'wallet_monitor_rows_scored_total{shard="0/1"} 30.0' in text
    assert 'wallet_monitor_consumer_pending{shard="0/1"} 0.0' in text
    assert 'wallet_monitor_append_to_scored_seconds_count{shard="0/1"} 30.0' in text
    assert "wallet_monitor_spool_depth" in text
    assert "bad-amount" in " ".join(r for _, _, r in stats.malformed_lines) or any(
        "amount" in r for _, _, r in stats.malformed_lines)

    async def dead_letters():
        nc = await connect(address, "test")
        js = nc.jetstream()
        info = await js.stream_info(address.stream, subjects_filter=address.invalid_subject)
        await nc.close()
        return info.state.subjects or {}
    try:
        assert loop.run(dead_letters(), 30).get(address.invalid_subject) == 4
    finally:
        loop.stop()
    # Everything was acknowledged: a second run finds nothing to do.
    again = _run_shard(live, bundle, stream_url, (0, 1), max_idle=0.5)
    assert again.scored == again.malformed == again.raised == 0


def _lines(path: Path) -> int:
    return max(0, len(path.read_text().splitlines()) - 1) if path.exists() else 0


def _wait(cond, timeout=120.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _detector(chain, live, url, shard, api):
    return subprocess.Popen(
        [sys.executable, str(ROOT / "detect_anomalies.py"), "--follow", url, "--shard", shard,
         "--partitions", str(PARTITIONS), "--ack-wait", "2", "--max-idle", "4",
         "--data-dir", str(live), "--models-dir", str(chain / "models"), "--api-url", api.url],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _batch_of(chain, bundle, ids) -> pd.DataFrame:
    """The batch path's answer for the holdout rows `ids` (a prefix in time)."""
    d = chain / "data"
    targets = load_transactions(d / "new_transactions.csv")
    return detect(bundle, targets.loc[targets["transaction_id"].isin(ids)],
                  load_transactions(d / "transactions.csv"), load_wallets(d / "wallets.csv"),
                  load_logins(d / "logins.csv")).set_index("transaction_id")


def test_a_detector_killed_mid_stream_and_restarted_loses_and_repeats_no_alert(
        chain, bundle, tmp_path, stream_url, start_alert_api):
    api = start_alert_api()
    live = _folder(chain, tmp_path)
    tx, logins = replay.holdout_events(chain / "data", limit=1200)
    batch = _batch_of(chain, bundle, tx["transaction_id"])
    name = parse_nats_url(stream_url).stream
    out = [live / f"nats-{name}-{s}-of-2" for s in (0, 1)]
    procs = [_detector(chain, live, stream_url, f"{s}/2", api) for s in (0, 1)]
    try:
        publisher = threading.Thread(target=publish_events, args=(stream_url, tx, logins),
                                     kwargs={"rate": 400, "partitions": PARTITIONS})
        publisher.start()
        _wait(lambda: _lines(out[0] / STREAM_DETECTIONS_NAME) > 100, what="shard 0 scoring")
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(timeout=30)
        procs[0] = _detector(chain, live, stream_url, "0/2", api)
        publisher.join(timeout=120)
        errs = [p.communicate(timeout=240)[1] for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [0, 0], errs
    got = pd.concat([_final(o) for o in out])
    _assert_like_batch(got, batch)
    ids = api.transaction_ids()
    assert len(ids) == len(set(ids))
    assert set(ids) == set(batch.index[batch["is_anomaly"]])


@pytest.fixture
def private_nats(tmp_path):
    """A nats-server with JetStream of the test's own on a free port (so restarting it never
    touches the machine's); yields start() and stop()."""
    port, store = _free_port(), tmp_path / "nats-store"
    procs = []

    def start():
        procs.append(subprocess.Popen(
            ["nats-server", "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(store)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        _wait(lambda: _listening(port), 30, "nats-server")

    def stop():
        procs[-1].terminate()
        procs[-1].wait(timeout=30)

    start()
    yield f"nats://127.0.0.1:{port}/RESTART", start, stop
    for p in procs:
        p.kill()
        p.wait()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_a_detector_reconnects_after_nats_restarts_and_goes_on(chain, bundle, tmp_path,
                                                                  private_nats):
    url, start, stop = private_nats
    live = _folder(chain, tmp_path)
    tx, logins = replay.holdout_events(chain / "data", limit=700)
    half = len(tx) // 2
    cut = tx["timestamp"].iloc[half]
    publish_events(url, tx.iloc[:half], logins.loc[logins["timestamp"] < cut],
                   partitions=PARTITIONS)
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault(
        "stats", _run_shard(live, bundle, url, (0, 1), max_idle=6.0, max_batch=100)))
    worker.start()
    _wait(lambda: _lines(live / "shard0" / STREAM_DETECTIONS_NAME) >= half, what="first half")
    stop()
    time.sleep(1.0)
    start()
    publish_events(url, tx.iloc[half:], logins.loc[logins["timestamp"] >= cut])
    worker.join(timeout=240)
    assert result["stats"].scored == len(tx)
    _assert_like_batch(_final(live / "shard0"), _batch_of(chain, bundle, tx["transaction_id"]))


def test_adding_a_shard_moves_partitions_with_their_position_and_scores_like_batch(
        chain, bundle, batch, tmp_path, stream_url):
    live = _folder(chain, tmp_path)
    tx, logins = replay.holdout_events(chain / "data")
    publish_events(stream_url, tx, logins, partitions=PARTITIONS)
    first = _run_shard(live, bundle, stream_url, (0, 1), stop_after=900, max_batch=300)
    assert 0 < first.scored <= 900
    results = {}
    threads = [threading.Thread(target=lambda s=s: results.__setitem__(s, follow_nats(
        bundle, stream_url, live / f"two{s}", shard=(s, 2),
        history=load_transactions(live / "transactions.csv"),
        wallets=load_wallets(live / "wallets.csv"), logins=load_logins(live / "logins.csv"),
        tx_columns=pd.read_csv(live / "transactions.csv", nrows=0).columns,
        login_columns=pd.read_csv(live / "logins.csv", nrows=0).columns,
        max_idle=1.5, poll=0.02, max_batch=300))) for s in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert first.scored + sum(r.scored for r in results.values()) == len(batch)
    # Each row's last word: its detection wherever it was scored, then rises in run order.
    got = pd.concat([_final(live / "shard0"), *(_final(live / f"two{s}") for s in (0, 1))])
    got = got.loc[~got.index.duplicated(keep="last")]
    for s in (0, 1):
        path = live / f"two{s}" / STREAM_EPISODES_NAME
        if path.exists() and path.stat().st_size:
            rises = pd.read_csv(path, dtype={"transaction_id": str}).groupby("transaction_id").last()
            cols = ["fraud_score", "is_anomaly", "reasons"]
            got.loc[rises.index, cols] = rises[cols].astype({"reasons": object})
    _assert_like_batch(got, batch)


def test_a_shard_is_woken_by_a_transaction_on_its_partitions_not_by_another_shards(stream_url):
    # The broker's push ends the follower's wait: no poll interval in a row's latency.
    source = NatsSource(stream_url, 0, 2, partitions=PARTITIONS)
    address = parse_nats_url(stream_url)
    loop = LoopThread("nats-test")

    def publish_on(p):
        async def go():
            nc = await connect(address, "test")
            await nc.jetstream().publish(address.tx_subject(p), b'{"transaction_id": "w"}')
            await nc.close()
        loop.run(go(), 30)
    try:
        list(source.replay(None))  # opens the consumers (and the wake-up subscriptions)
        other = next(p for p in range(PARTITIONS) if p not in set(source.mine))
        publish_on(other)
        start = time.monotonic()
        source.wait(0.5)
        assert time.monotonic() - start >= 0.45  # another shard's row: the wait runs out
        timer = threading.Timer(0.2, publish_on, args=(source.mine[0],))
        timer.start()
        start = time.monotonic()
        source.wait(30.0)
        woke = time.monotonic() - start
        timer.join()
        assert 0.15 <= woke < 10.0  # woken by the row, long before the timeout
    finally:
        source.close()
        loop.stop()

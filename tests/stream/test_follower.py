"""The follower end to end: streaming equals batch, restarts, malformed rows, live alerts."""

from __future__ import annotations

import gc
import json
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

from tests.conftest import load_bench
from wallet_monitor.delivery import SPOOL_NAME, SpoolingSender
from wallet_monitor.features import (
    load_logins,
    load_transactions,
    load_wallets,
)
from wallet_monitor.scoring import detect
from wallet_monitor.stream import (
    CHECKPOINT_NAME,
    STREAM_DETECTIONS_NAME,
    STREAM_EPISODES_NAME,
    Follower,
    follow,
)
from wallet_monitor.stream.metrics import DetectorMetrics
from wallet_monitor.stream.source import FileSource

ROOT = Path(__file__).resolve().parents[2]


replay = load_bench("replay")


def _live(chain, tmp_path, limit=None):
    """A follower data dir with the holdout appended (all of it, or the first `limit` rows)."""
    live = tmp_path / "live"
    replay.replay(live, replay.prepare(chain / "data", live, limit))
    return live


def _follow(live, bundle, **kw):
    return follow(
        bundle, live / "new_transactions.csv", live,
        history=load_transactions(live / "transactions.csv"),
        wallets=load_wallets(live / "wallets.csv"), logins_path=live / "logins.csv",
        **{"max_idle": 0.3, "poll": 0.01, **kw},
    )


def _stream(live) -> pd.DataFrame:
    return pd.read_csv(live / STREAM_DETECTIONS_NAME, dtype={"transaction_id": str})


def _final(live) -> pd.DataFrame:
    """Each transaction's last word: its stream_episodes.csv line if it was raised, else its
    stream_detections.csv line; indexed by transaction_id in scoring order."""
    got = _stream(live).set_index("transaction_id")
    path = live / STREAM_EPISODES_NAME
    if path.exists():
        raised = pd.read_csv(path, dtype={"transaction_id": str}).groupby("transaction_id").last()
        # Either file's reasons may be all empty (read as floats) or text: compare as objects.
        cols = ["fraud_score", "is_anomaly", "reasons"]
        got = got.astype({"reasons": object})
        got.loc[raised.index, cols] = raised[cols].astype({"reasons": object})
    return got


def _ids(path: Path) -> list[str]:
    return pd.read_csv(path, dtype={"transaction_id": str})["transaction_id"].tolist()


@pytest.mark.parametrize("max_batch", [1, 17, 5000])
def test_followed_holdout_scores_like_the_batch_path(chain, bundle, batch, tmp_path, max_batch):
    live = _live(chain, tmp_path, limit=None if max_batch > 1 else 20)
    stats = _follow(live, bundle, max_batch=max_batch)
    if max_batch == 17:  # rows were raised after they were first written: revisions happened
        assert stats.raised > 0 and len(pd.read_csv(live / STREAM_EPISODES_NAME)) == stats.raised
    got = _final(live)
    if max_batch == 1:  # the first 20 rows only: the batch answer for those same 20 events
        d = chain / "data"
        targets = load_transactions(d / "new_transactions.csv")
        batch = detect(bundle, targets.loc[targets["transaction_id"].isin(got.index)],
                          load_transactions(d / "transactions.csv"), load_wallets(d / "wallets.csv"),
                          load_logins(d / "logins.csv")).set_index("transaction_id")
    want = batch.loc[got.index]
    assert stats.scored == len(got) == (len(batch) if max_batch > 1 else 20)
    # Features are equal bit for bit (the property test below); the model's sums may differ in
    # the last bit with the batch size.
    np.testing.assert_allclose(got["fraud_score"], want["fraud_score"], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(got["is_anomaly"].to_numpy(), want["is_anomaly"].to_numpy())
    assert got["reasons"].fillna("").tolist() == want["reasons"].fillna("").tolist()


def test_the_file_follower_serves_its_metrics(chain, bundle, tmp_path):
    live = _live(chain, tmp_path)
    metrics = DetectorMetrics(0)  # any free port
    try:
        stats = _follow(live, bundle, metrics=metrics)
        text = requests.get(f"http://127.0.0.1:{metrics.server.server_port}/metrics",
                            timeout=10).text
    finally:
        metrics.close()
    flagged = int(_final(live)["is_anomaly"].sum())  # on arrival, or raised later
    assert flagged > 0
    assert f'wallet_monitor_rows_scored_total{{shard="0/1"}} {stats.scored}.0' in text
    assert f'wallet_monitor_rows_flagged_total{{shard="0/1"}} {flagged}.0' in text
    assert 'wallet_monitor_spool_depth{shard="0/1"} 0.0' in text


def test_the_look_back_is_kept_out_of_the_cyclic_collector_while_following(chain, bundle,
                                                                          tmp_path):
    # gc.freeze() once the look-back is loaded; gc.unfreeze() when the run ends, so a process
    # that goes on (a notebook, these tests) gets its objects collected again.
    live = _live(chain, tmp_path)
    frozen, done = [], threading.Event()

    def watch():
        while not done.is_set():
            frozen.append(gc.get_freeze_count())
            time.sleep(0.005)
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        stats = _follow(live, bundle, max_idle=1.0)
    finally:
        done.set()
        watcher.join()
    assert stats.scored > 0
    assert max(frozen) > 10_000  # the loaded history's frames, arrays and ids
    assert gc.get_freeze_count() == 0


def test_the_compiled_kernels_are_loaded_before_the_follower_says_it_is_ready(
        chain, bundle, tmp_path, monkeypatch):
    # Loading numba's compiled code takes ~0.5-1 s in a new process, compiling it seconds in a
    # new checkout, stacking the bundle's forests for it ~30 ms: the follower pays them when it
    # is made, before `resume` writes the checkpoint that tells a watcher it is ready, not in
    # the first batch a row waits behind. Unloaded caches stand for a new process.
    from wallet_monitor.features import kernels
    from wallet_monitor.model import compiled, stacked
    monkeypatch.setattr(kernels, "_KERNELS", [])
    monkeypatch.setattr(compiled, "_STACKED", [])
    monkeypatch.setattr(stacked, "_STACKS", {})
    built, init = [], stacked.StackedForests.__init__

    def counted_init(self, stacked_bundle):
        built.append(stacked_bundle)
        init(self, stacked_bundle)
    monkeypatch.setattr(stacked.StackedForests, "__init__", counted_init)
    live = _live(chain, tmp_path, limit=0)
    follower = Follower(bundle, FileSource(live / "new_transactions.csv", live / "logins.csv"),
                        live, history=load_transactions(live / "transactions.csv"),
                        wallets=load_wallets(live / "wallets.csv"))
    assert not (live / CHECKPOINT_NAME).exists()  # not ready yet
    # loaded (each None where numba is missing; the stacked walk is not tried then)
    assert kernels._KERNELS and (compiled._STACKED or compiled.forest_walk() is None)
    assert built == ([] if compiled.stacked_walk() is None else [bundle])
    follower.source.close()


def test_without_a_country_column_the_follower_locates_addresses_as_the_batch_path(
        chain, bundle, tmp_path):
    # Exports carrying IPs only, some private or malformed: both paths derive the countries.
    data = tmp_path / "ips_only"
    data.mkdir()
    for name in ("wallets", "transactions", "new_transactions", "logins"):
        frame = pd.read_csv(chain / "data" / f"{name}.csv", dtype=str)
        if "ip_address" in frame and name != "transactions":
            frame.loc[frame.index[5::40], "ip_address"] = "10.1.2.3"
            frame.loc[frame.index[9::50], "ip_address"] = "999.1.1.1"
            frame.loc[frame.index[13::60], "ip_address"] = None
        frame.drop(columns="country", errors="ignore").to_csv(data / f"{name}.csv", index=False)
    live = tmp_path / "live"
    replay.replay(live, replay.prepare(data, live))
    stats = _follow(live, bundle, max_batch=23)
    got = _final(live)
    want = detect(bundle, load_transactions(data / "new_transactions.csv"),
                  load_transactions(data / "transactions.csv"), load_wallets(data / "wallets.csv"),
                  load_logins(data / "logins.csv")).set_index("transaction_id").loc[got.index]
    assert stats.scored == len(got) == len(want) and stats.malformed == 0
    np.testing.assert_allclose(got["fraud_score"], want["fraud_score"], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(got["is_anomaly"].to_numpy(), want["is_anomaly"].to_numpy())
    assert got["reasons"].fillna("").tolist() == want["reasons"].fillna("").tolist()


def test_resume_after_a_stop_neither_skips_nor_repeats(chain, bundle, tmp_path):
    live = _live(chain, tmp_path)
    all_ids = _ids(live / "new_transactions.csv")
    first = _follow(live, bundle, stop_after=40, max_batch=7)
    assert first.scored == 40
    ckpt = json.loads((live / CHECKPOINT_NAME).read_text())
    assert ckpt["transactions"]["line"] == 41  # header + 40 rows
    second = _follow(live, bundle, max_batch=50)
    assert second.scored == len(all_ids) - 40
    assert _stream(live)["transaction_id"].tolist() == all_ids


def test_a_rise_that_spans_a_stop_is_still_made_after_resuming(chain, bundle, batch, tmp_path):
    # Find, in an uninterrupted run, a row raised by a later row; stop between the two.
    whole = _live(chain, tmp_path / "whole")
    _follow(whole, bundle, max_batch=50)
    rises = pd.read_csv(whole / STREAM_EPISODES_NAME, dtype={"transaction_id": str, "linked_to": str})
    order = {t: i for i, t in enumerate(_ids(whole / "new_transactions.csv"))}
    spans = rises.loc[rises["transaction_id"].map(order) < rises["linked_to"].map(order)]
    assert len(spans)
    row, trigger = spans.iloc[0][["transaction_id", "linked_to"]]

    live = _live(chain, tmp_path / "resumed")
    _follow(live, bundle, stop_after=order[trigger], max_batch=7)  # the trigger is not read yet
    assert row in set(_stream(live)["transaction_id"])
    _follow(live, bundle, max_batch=50)
    got = _final(live)
    want = batch.loc[got.index]
    assert got.index.tolist() == list(order)
    np.testing.assert_allclose(got["fraud_score"], want["fraud_score"], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(got["is_anomaly"].to_numpy(), want["is_anomaly"].to_numpy())
    assert got.loc[row, "fraud_score"] > _stream(live).set_index("transaction_id").loc[row, "fraud_score"]


def test_rows_past_the_checkpoint_are_scored_once_after_a_crash(chain, bundle, tmp_path):
    live = _live(chain, tmp_path)
    _follow(live, bundle, stop_after=30)
    ckpt_path = live / CHECKPOINT_NAME
    saved = ckpt_path.read_text()
    _follow(live, bundle, stop_after=20)  # scored and written, then "crashed" before its checkpoint
    ckpt_path.write_text(saved)
    _follow(live, bundle)
    assert _stream(live)["transaction_id"].tolist() == _ids(live / "new_transactions.csv")


def test_a_partial_last_line_waits_until_it_is_complete(chain, bundle, tmp_path):
    live = _live(chain, tmp_path, limit=5)
    src = (chain / "data" / "new_transactions.csv").read_text().splitlines()
    row = src[6]
    with (live / "new_transactions.csv").open("a") as f:
        f.write(row[:15])
    assert _follow(live, bundle).scored == 5
    with (live / "new_transactions.csv").open("a") as f:
        f.write(row[15:] + "\n")
    assert _follow(live, bundle).scored == 1
    assert _stream(live)["transaction_id"].tolist() == _ids(live / "new_transactions.csv")


def test_malformed_rows_are_reported_by_line_counted_and_skipped(chain, bundle, tmp_path, caplog):
    live = _live(chain, tmp_path, limit=3)
    good = (chain / "data" / "new_transactions.csv").read_text().splitlines()[4:7]
    header = (live / "new_transactions.csv").read_text().splitlines()[0].split(",")
    col = {name: i for i, name in enumerate(header)}

    def edit(line, name, value):
        parts = line.split(",")
        parts[col[name]] = value
        return ",".join(parts)

    first_id = good[0].split(",")[col["transaction_id"]]
    rows = [
        good[0],                                     # line 5: fine
        edit(good[1], "timestamp", "yesterday"),     # line 6
        edit(good[1], "amount", "-3"),               # line 7
        edit(good[1], "type", "steal"),              # line 8
        edit(good[1], "wallet_id", ""),              # line 9
        edit(good[1], "transaction_id", first_id),   # line 10: duplicate of line 5
        good[1] + ",extra",                          # line 11: one field too many
        good[2],                                     # line 12: fine, after the bad ones
    ]
    with (live / "new_transactions.csv").open("a") as f:
        f.write("\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING):
        stats = _follow(live, bundle)
    assert stats.malformed == 6
    assert [line for _, line, _ in stats.malformed_lines] == [6, 7, 8, 9, 10, 11]
    for line, word in [(6, "timestamp"), (7, "amount"), (8, "type"), (9, "wallet_id"),
                       (10, "duplicate"), (11, "fields")]:
        assert f"new_transactions.csv line {line} skipped" in caplog.text
        assert any(n == line and word in why for _, n, why in stats.malformed_lines)
    ids = _stream(live)["transaction_id"].tolist()
    assert len(ids) == 5 and ids[-1] == good[2].split(",")[col["transaction_id"]]


def _checkpoint_line(live: Path) -> int | None:
    try:
        return json.loads((live / CHECKPOINT_NAME).read_text())["transactions"]["line"]
    except (OSError, ValueError, KeyError):
        return None


def test_follower_alerts_appended_rows_live_and_stops_cleanly_on_sigterm(chain, batch, start_alert_api,
                                                                         tmp_path):
    api = start_alert_api()  # tests/conftest.py: a real alert API with a fresh database
    live = tmp_path / "live"
    timeline = replay.prepare(chain / "data", live)
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "detect_anomalies.py"), "--follow", "--data-dir", str(live),
         "--models-dir", str(chain / "models"), "--api-url", api.url],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (live / CHECKPOINT_NAME).exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        replay.replay(live, timeline, rate=2000)
        flagged = set(batch.index[batch["is_anomaly"]])
        assert flagged
        # Stop only once every row is read (checkpoint at the last line), not merely alerted:
        # rows after the last flagged one may still be in flight.
        while time.monotonic() < deadline and not (
            set(api.transaction_ids()) == flagged and _checkpoint_line(live) == len(batch) + 1
        ):
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    ids = api.transaction_ids()
    assert len(ids) == len(set(ids)) and set(ids) == flagged
    ckpt = json.loads((live / CHECKPOINT_NAME).read_text())
    assert ckpt["transactions"]["line"] == len(batch) + 1
    assert "stopped (stop requested)" in err



def test_the_checkpoint_waits_for_alerts_in_flight_and_scoring_does_not(chain, bundle, batch,
                                                                        tmp_path):
    whole = _live(chain, tmp_path / "whole")
    order = _ids(whole / "new_transactions.csv")
    first_flagged = next(i for i, t in enumerate(order) if batch.loc[t, "is_anomaly"])
    n = first_flagged + 1
    live = _live(chain, tmp_path / "live", limit=n)
    # A real listener that never answers: the alert POST hangs until the listener closes.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    sender = SpoolingSender(f"http://127.0.0.1:{listener.getsockname()[1]}", None,
                            live / SPOOL_NAME)
    follower = Follower(bundle, FileSource(live / "new_transactions.csv", live / "logins.csv"),
                        live, history=load_transactions(live / "transactions.csv"),
                        wallets=load_wallets(live / "wallets.csv"), sender=sender)
    try:
        follower.resume()
        assert follower.poll_once(n) == n  # scored and written while the alert is in flight
        assert len(_stream(live)) == n
        assert json.loads((live / CHECKPOINT_NAME).read_text())["transactions"]["line"] == 0
        listener.close()  # the POST fails: the alert goes to the spool
        assert follower.outbox.drain(60)
        follower.poll_once(n)  # nothing new: the checkpoint now covers the batch
        assert json.loads((live / CHECKPOINT_NAME).read_text())["transactions"]["line"] == n + 1
        spooled = [json.loads(line)["transaction_id"]
                   for line in (live / SPOOL_NAME).read_text().splitlines()]
        assert order[first_flagged] in spooled
    finally:
        listener.close()
        follower.outbox.close()
        sender.close()
        follower.source.close()


def test_rows_flagged_on_arrival_are_handed_over_before_the_batch_is_retained(chain, bundle,
                                                                             batch, tmp_path):
    whole = _live(chain, tmp_path / "whole")
    order = _ids(whole / "new_transactions.csv")
    n = next(i for i, t in enumerate(order) if batch.loc[t, "is_anomaly"]) + 1
    live = _live(chain, tmp_path / "live", limit=n)
    follower = Follower(bundle, FileSource(live / "new_transactions.csv", live / "logins.csv"),
                        live, history=load_transactions(live / "transactions.csv"),
                        wallets=load_wallets(live / "wallets.csv"))
    handed = []

    class Kept:  # an outbox that notes what was retained when each alert came
        error, idle = None, True

        def put(self, records):
            handed.append((len(follower.state.tx), records))

        def oldest_age(self):
            return 0.0

    try:
        follower.resume()
        follower.outbox = Kept()
        before = len(follower.state.tx)
        assert follower.poll_once(n) == n
    finally:
        follower.source.close()
    assert len(follower.state.tx) == before + n
    assert [retained for retained, _ in handed] == [before]  # the batch not retained yet
    det = _stream(live)
    flagged = det.loc[det["is_anomaly"]]
    assert [r["transaction_id"] for r in handed[0][1]] == flagged["transaction_id"].tolist()
    assert order[n - 1] in flagged["transaction_id"].tolist()
    assert [r["fraud_score"] for r in handed[0][1]] == pytest.approx(flagged["fraud_score"])

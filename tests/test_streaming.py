"""The follow (streaming) mode: same answers as the batch path, resume, bad rows, live alerts."""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import detect_anomalies as da
import feature_engineering as fe
import train_model as tm

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("replay", ROOT / "bench" / "replay.py")
replay = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(replay)


@pytest.fixture(scope="module")
def chain(small_data_dir, tmp_path_factory):
    """Small generated data, its features and a model trained on them."""
    root = tmp_path_factory.mktemp("streaming")
    shutil.copytree(small_data_dir, root / "data")
    assert fe.main(["--data-dir", str(root / "data")]) == 0
    assert tm.main(["--data-dir", str(root / "data"), "--models-dir", str(root / "models"),
                    "--reports-dir", str(root / "reports")]) == 0
    return root


@pytest.fixture(scope="module")
def bundle(chain):
    return tm.load_bundle(chain / "models" / "fraud_model.pkl")


@pytest.fixture(scope="module")
def batch(chain, bundle):
    """detect() over the whole holdout in one call: the answer streaming must give."""
    d = chain / "data"
    targets = fe.load_transactions(d / "new_transactions.csv")
    out = da.detect(bundle, targets, fe.load_transactions(d / "transactions.csv"),
                    fe.load_wallets(d / "wallets.csv"), fe.load_logins(d / "logins.csv"))
    return out.set_index("transaction_id")


def _live(chain, tmp_path, limit=None):
    """A follower data dir with the holdout appended (all of it, or the first `limit` rows)."""
    live = tmp_path / "live"
    replay.replay(live, replay.prepare(chain / "data", live, limit))
    return live


def _follow(live, bundle, **kw):
    return da.follow(
        bundle, live / "new_transactions.csv", live,
        history=fe.load_transactions(live / "transactions.csv"),
        wallets=fe.load_wallets(live / "wallets.csv"), logins_path=live / "logins.csv",
        **{"max_idle": 0.3, "poll": 0.01, **kw},
    )


def _stream(live) -> pd.DataFrame:
    return pd.read_csv(live / da.STREAM_DETECTIONS_NAME, dtype={"transaction_id": str})


def _final(live) -> pd.DataFrame:
    """Each transaction's last word: its stream_episodes.csv line if it was raised, else its
    stream_detections.csv line; indexed by transaction_id in scoring order."""
    got = _stream(live).set_index("transaction_id")
    path = live / da.STREAM_EPISODES_NAME
    if path.exists():
        raised = pd.read_csv(path, dtype={"transaction_id": str}).groupby("transaction_id").last()
        got.loc[raised.index, ["fraud_score", "is_anomaly", "reasons"]] = raised[
            ["fraud_score", "is_anomaly", "reasons"]]
    return got


def _ids(path: Path) -> list[str]:
    return pd.read_csv(path, dtype={"transaction_id": str})["transaction_id"].tolist()


# ---------------------------------------------------------------- streaming equals batch


@pytest.mark.parametrize("max_batch", [1, 17, 5000])
def test_followed_holdout_scores_like_the_batch_path(chain, bundle, batch, tmp_path, max_batch):
    live = _live(chain, tmp_path, limit=None if max_batch > 1 else 20)
    stats = _follow(live, bundle, max_batch=max_batch)
    if max_batch == 17:  # rows were raised after they were first written: revisions happened
        assert stats.raised > 0 and len(pd.read_csv(live / da.STREAM_EPISODES_NAME)) == stats.raised
    got = _final(live)
    if max_batch == 1:  # the first 20 rows only: the batch answer for those same 20 events
        d = chain / "data"
        targets = fe.load_transactions(d / "new_transactions.csv")
        batch = da.detect(bundle, targets.loc[targets["transaction_id"].isin(got.index)],
                          fe.load_transactions(d / "transactions.csv"), fe.load_wallets(d / "wallets.csv"),
                          fe.load_logins(d / "logins.csv")).set_index("transaction_id")
    want = batch.loc[got.index]
    assert stats.scored == len(got) == (len(batch) if max_batch > 1 else 20)
    # Features are equal bit for bit (the property test below); the model's sums may differ in
    # the last bit with the batch size.
    np.testing.assert_allclose(got["fraud_score"], want["fraud_score"], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(got["is_anomaly"].to_numpy(), want["is_anomaly"].to_numpy())
    assert got["reasons"].fillna("").tolist() == want["reasons"].fillna("").tolist()


_T0 = pd.Timestamp("2026-01-01", tz="UTC")
_WALLETS = ["A", "B", "C", "D"]


@st.composite
def _events(draw):
    """Transactions (in (timestamp, id) order) and logins over up to ~70 days, so that events
    leave the retained window while later ones still arrive."""
    n = draw(st.integers(2, 40))
    # Gaps cluster near the windows' edges (minutes, ~1 day, ~30 days) where off-by-ones live.
    gaps = draw(st.lists(st.sampled_from([0, 60, 1800, 3600, 86_000, 86_400, 90_000,
                                          2_500_000, 2_592_000, 2_600_000]), min_size=n, max_size=n))
    t = _T0 + pd.to_timedelta(np.cumsum(gaps), unit="s")
    wallet = draw(st.lists(st.sampled_from(_WALLETS), min_size=n, max_size=n))
    cp = draw(st.lists(st.sampled_from([*_WALLETS, None]), min_size=n, max_size=n))
    tx = pd.DataFrame({
        "transaction_id": [f"T{i:03d}" for i in range(n)],
        "wallet_id": wallet,
        "timestamp": t,
        "amount": draw(st.lists(st.sampled_from([1.0, 20.0, 99.5, 5000.0]), min_size=n, max_size=n)),
        "type": draw(st.lists(st.sampled_from(fe.TX_TYPES), min_size=n, max_size=n)),
        "ip_address": draw(st.lists(st.sampled_from(["1.1.1.1", "2.2.2.2", "3.3.3.3"]),
                                    min_size=n, max_size=n)),
        "counterparty_wallet_id": cp,
        "country": draw(st.lists(st.sampled_from(["US", "FR", "JP"]), min_size=n, max_size=n)),
        "device_id": draw(st.lists(st.sampled_from(["d1", "d2"]), min_size=n, max_size=n)),
    })
    tx.loc[tx["type"] != "transfer", "counterparty_wallet_id"] = None
    m = draw(st.integers(0, 15))
    lt = _T0 + pd.to_timedelta(draw(st.lists(st.integers(0, max(int(sum(gaps)), 1)),
                                             min_size=m, max_size=m)), unit="s")
    logins = pd.DataFrame({
        "login_id": [f"L{i:03d}" for i in range(m)],
        "wallet_id": draw(st.lists(st.sampled_from(_WALLETS), min_size=m, max_size=m)),
        "timestamp": pd.DatetimeIndex(lt).astype("datetime64[ns, UTC]"),
        "ip_address": draw(st.lists(st.sampled_from(["1.1.1.1", "9.9.9.9"]), min_size=m, max_size=m)),
        "success": draw(st.lists(st.sampled_from([0, 1]), min_size=m, max_size=m)),
        "country": draw(st.lists(st.sampled_from(["US", "RU"]), min_size=m, max_size=m)),
        "device_id": draw(st.lists(st.sampled_from(["d1", "d9"]), min_size=m, max_size=m)),
    }).sort_values(["timestamp", "login_id"], ignore_index=True)
    n_hist = draw(st.integers(0, n - 1))
    inner = st.sets(st.integers(n_hist + 1, n - 1), max_size=4) if n_hist + 1 < n else st.just(set())
    cuts = sorted(draw(inner))
    return tx, logins, n_hist, [n_hist, *cuts, n]


_WALLET_TABLE = pd.DataFrame({
    "wallet_id": _WALLETS, "kyc_verified": [1, 0, 1, 0],
    "registration_date": pd.to_datetime(["2025-06-01", "2025-12-30", "2025-01-01", "2025-11-01"], utc=True),
    "home_country": ["US", "FR", "JP", "US"],
})


def test_batch_features_do_not_depend_on_how_targets_are_grouped():
    """A 24 h count of "new" pairs must not change when earlier targets move into history
    (it once did: history was trimmed at min target - LOOKBACK, too early for such counts)."""
    day, look = pd.Timedelta(days=1), fe.LOOKBACK
    tx = pd.DataFrame({
        "transaction_id": ["a", "b", "c"], "wallet_id": ["A"] * 3,
        "timestamp": [_T0 + day * 0.6, _T0 + look + day / 2, _T0 + look + day * 0.9],
        "amount": [1.0] * 3, "type": ["transfer"] * 3, "ip_address": ["x"] * 3,
        "counterparty_wallet_id": ["B", "B", "C"],
    })
    whole = fe.build_features(tx.iloc[1:], history=tx)
    alone = fe.build_features(tx.iloc[2:], history=tx)
    assert whole["new_counterparties_24h_log"].iloc[1] == alone["new_counterparties_24h_log"].iloc[0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_events(), st.booleans())
def test_streaming_features_equal_batch_features_for_any_chunking(events, forced):
    # forced: every poll evicts and rebuilds; else the follower's own policy, with chunks merged
    # every second poll so that its partial merges and expired-but-kept events are exercised.
    tx, logins, n_hist, cuts = events
    want = fe.build_features(tx.iloc[n_hist:], history=tx.iloc[:n_hist],
                             wallets=_WALLET_TABLE, logins=logins)
    state = da._StreamState({}, _WALLET_TABLE, with_logins=True)
    state.add_history(tx.iloc[:n_hist])
    fed, parts = 0, []
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        # A poll brings every login up to the newest transaction it reads (and maybe later ones).
        upto = int(np.searchsorted(logins["timestamp"], tx["timestamp"].iloc[hi - 1], side="right"))
        state.add_logins(logins.iloc[fed:upto])
        fed = upto
        parts.append(state.features(tx.iloc[lo:hi]))
        with mock.patch.object(da, "COMPACT_CHUNKS", 2):
            state.evict(force=forced)
    got = pd.concat(parts)
    assert got["transaction_id"].tolist() == want["transaction_id"].tolist()
    np.testing.assert_array_equal(got.drop(columns="transaction_id").to_numpy(),
                                  want.drop(columns="transaction_id").to_numpy())


def test_retained_events_stay_within_the_horizon():
    day = pd.Timedelta(days=1)
    tx = pd.DataFrame({
        "transaction_id": [f"T{i:03d}" for i in range(90)], "wallet_id": ["A"] * 90,
        "timestamp": [_T0 + i * day for i in range(90)], "amount": [5.0] * 90,
        "type": ["deposit"] * 90, "ip_address": ["1.1.1.1"] * 90,
    })
    state = da._StreamState({}, None, with_logins=False)
    for i in range(0, 90, 3):
        state.features(tx.iloc[i : i + 3])
        state.evict(force=True)
    oldest = min(int(ts.min()) for *_, ts in state.tx.chunks)
    assert oldest >= (tx["timestamp"].iloc[-1] - da._horizon()).value
    assert len(state.tx) < 40


def test_the_bulk_of_the_retained_events_is_rebuilt_rarely_and_memory_stays_bounded(monkeypatch):
    # 200 days at 20 events a day, 5 events a poll: the look-back holds ~620 events.
    n = 4000
    tx = pd.DataFrame({
        "transaction_id": [f"T{i:05d}" for i in range(n)], "wallet_id": ["A", "B"] * (n // 2),
        "timestamp": [_T0 + i * pd.Timedelta(hours=1.2) for i in range(n)],
        "amount": [5.0] * n, "type": ["deposit"] * n, "ip_address": ["1.1.1.1"] * n,
    })
    state = da._StreamState({}, None, with_logins=False)
    state.add_history(tx.iloc[:1000])
    state.evict(force=True)
    rebuilds, sizes = [], []
    merged = da._Retained._merged

    def counting(self, chunks, cutoff):
        if chunks and chunks[0] is self.chunks[0]:
            rebuilds.append(len(chunks[0][0]))
        return merged(self, chunks, cutoff)

    monkeypatch.setattr(da._Retained, "_merged", counting)
    for lo in range(1000, n, 5):
        state.add_history(tx.iloc[lo : lo + 5])
        state.evict()
        sizes.append(len(state.tx))
    in_horizon = int(da._horizon() / pd.Timedelta(hours=1.2))
    # The bulk is rebuilt once a quarter of it has expired or arrived (about every 150 events
    # here, 20 times), not at every merge of the recent polls (75 merges in 600 polls).
    assert 10 <= len(rebuilds) <= 30
    assert max(sizes) <= (1 + 2 * da.REBUILD_SHARE) * in_horizon + da.COMPACT_CHUNKS * 5
    assert len(state.tx.ids) == len(state.tx)  # the ids of evicted events are forgotten too


# ------------------------------------------------------------------ resume, partial lines


def test_resume_after_a_stop_neither_skips_nor_repeats(chain, bundle, tmp_path):
    live = _live(chain, tmp_path)
    all_ids = _ids(live / "new_transactions.csv")
    first = _follow(live, bundle, stop_after=40, max_batch=7)
    assert first.scored == 40
    ckpt = json.loads((live / da.CHECKPOINT_NAME).read_text())
    assert ckpt["transactions"]["line"] == 41  # header + 40 rows
    second = _follow(live, bundle, max_batch=50)
    assert second.scored == len(all_ids) - 40
    assert _stream(live)["transaction_id"].tolist() == all_ids


def test_a_rise_that_spans_a_stop_is_still_made_after_resuming(chain, bundle, batch, tmp_path):
    # Find, in an uninterrupted run, a row raised by a later row; stop between the two.
    whole = _live(chain, tmp_path / "whole")
    _follow(whole, bundle, max_batch=50)
    rises = pd.read_csv(whole / da.STREAM_EPISODES_NAME, dtype={"transaction_id": str, "linked_to": str})
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
    ckpt_path = live / da.CHECKPOINT_NAME
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


# ------------------------------------------------------------------------ malformed rows


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


# ----------------------------------------------------------------------- live, end to end


def _checkpoint_line(live: Path) -> int | None:
    try:
        return json.loads((live / da.CHECKPOINT_NAME).read_text())["transactions"]["line"]
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
        while not (live / da.CHECKPOINT_NAME).exists() and time.monotonic() < deadline:
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
    ckpt = json.loads((live / da.CHECKPOINT_NAME).read_text())
    assert ckpt["transactions"]["line"] == len(batch) + 1
    assert "stopped (stop requested)" in err

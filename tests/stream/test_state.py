"""The retained look-back: features equal batch for any chunking; memory bounded."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wallet_monitor.features import (
    LOOKBACK,
    build_features,
)
from wallet_monitor.schema import TX_TYPES
from wallet_monitor.stream import state as stream_state
from wallet_monitor.stream.state import (
    COMPACT_CHUNKS,
    REBUILD_SHARE,
    Retained,
    StreamState,
    horizon,
)

_T0 = pd.Timestamp("2026-01-01", tz="UTC")


_WALLETS = ["A", "B", "C", "D"]
# Real addresses of known countries, private, IPv6, malformed: for events located from the IP.
_REAL_IPS = ["8.8.8.8", "193.0.14.129", "2001:218::1", "81.2.69.160", "10.0.0.1", "abc", None]


@st.composite
def _events(draw):
    """Transactions (in (timestamp, id) order) and logins over up to ~70 days, so that events
    leave the retained window while later ones still arrive. Countries are given, given on
    some rows only, or absent (located from the IP addresses)."""
    countries = draw(st.sampled_from(["given", "some", "none"]))
    ips = ["1.1.1.1", "2.2.2.2", "3.3.3.3"] if countries == "given" else _REAL_IPS
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
        "type": draw(st.lists(st.sampled_from(TX_TYPES), min_size=n, max_size=n)),
        "ip_address": draw(st.lists(st.sampled_from(ips), min_size=n, max_size=n)),
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
        "ip_address": draw(st.lists(st.sampled_from(ips[:2] + ips[-3:]), min_size=m, max_size=m)),
        "success": draw(st.lists(st.sampled_from([0, 1]), min_size=m, max_size=m)),
        "country": draw(st.lists(st.sampled_from(["US", "RU"]), min_size=m, max_size=m)),
        "device_id": draw(st.lists(st.sampled_from(["d1", "d9"]), min_size=m, max_size=m)),
    }).sort_values(["timestamp", "login_id"], ignore_index=True)
    if countries == "none":
        tx, logins = tx.drop(columns="country"), logins.drop(columns="country")
    elif countries == "some":
        tx.loc[tx.index[::2], "country"] = None
        logins.loc[logins.index[1::2], "country"] = None
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
    day, look = pd.Timedelta(days=1), LOOKBACK
    tx = pd.DataFrame({
        "transaction_id": ["a", "b", "c"], "wallet_id": ["A"] * 3,
        "timestamp": [_T0 + day * 0.6, _T0 + look + day / 2, _T0 + look + day * 0.9],
        "amount": [1.0] * 3, "type": ["transfer"] * 3, "ip_address": ["x"] * 3,
        "counterparty_wallet_id": ["B", "B", "C"],
    })
    whole = build_features(tx.iloc[1:], history=tx)
    alone = build_features(tx.iloc[2:], history=tx)
    assert whole["new_counterparties_24h_log"].iloc[1] == alone["new_counterparties_24h_log"].iloc[0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_events(), st.booleans())
def test_streaming_features_equal_batch_features_for_any_chunking(events, forced):
    # forced: every poll evicts and rebuilds; else the follower's own policy, with chunks merged
    # every second poll so that its partial merges and expired-but-kept events are exercised.
    tx, logins, n_hist, cuts = events
    want = build_features(tx.iloc[n_hist:], history=tx.iloc[:n_hist],
                             wallets=_WALLET_TABLE, logins=logins)
    state = StreamState({}, _WALLET_TABLE, with_logins=True)
    state.add_history(tx.iloc[:n_hist])
    fed, parts = 0, []
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        # A poll brings every login up to the newest transaction it reads (and maybe later ones).
        upto = int(np.searchsorted(logins["timestamp"], tx["timestamp"].iloc[hi - 1], side="right"))
        state.add_logins(logins.iloc[fed:upto])
        fed = upto
        parts.append(state.features(tx.iloc[lo:hi]))
        with mock.patch.object(stream_state, "COMPACT_CHUNKS", 2):
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
    state = StreamState({}, None, with_logins=False)
    for i in range(0, 90, 3):
        state.features(tx.iloc[i : i + 3])
        state.evict(force=True)
    oldest = min(int(ts.min()) for *_, ts in state.tx.chunks)
    assert oldest >= (tx["timestamp"].iloc[-1] - horizon()).value
    assert len(state.tx) < 40


def test_the_bulk_of_the_retained_events_is_rebuilt_rarely_and_memory_stays_bounded(monkeypatch):
    # 200 days at 20 events a day, 5 events a poll: the look-back holds ~620 events.
    n = 4000
    tx = pd.DataFrame({
        "transaction_id": [f"T{i:05d}" for i in range(n)], "wallet_id": ["A", "B"] * (n // 2),
        "timestamp": [_T0 + i * pd.Timedelta(hours=1.2) for i in range(n)],
        "amount": [5.0] * n, "type": ["deposit"] * n, "ip_address": ["1.1.1.1"] * n,
    })
    state = StreamState({}, None, with_logins=False)
    state.add_history(tx.iloc[:1000])
    state.evict(force=True)
    rebuilds, sizes = [], []
    merged = Retained._merged

    def counting(self, chunks, cutoff):
        if chunks and chunks[0] is self.chunks[0]:
            rebuilds.append(len(chunks[0][0]))
        return merged(self, chunks, cutoff)

    monkeypatch.setattr(Retained, "_merged", counting)
    for lo in range(1000, n, 5):
        state.add_history(tx.iloc[lo : lo + 5])
        state.evict()
        sizes.append(len(state.tx))
    in_horizon = int(horizon() / pd.Timedelta(hours=1.2))
    # The bulk is rebuilt once a quarter of it has expired or arrived (about every 150 events
    # here, 20 times), not at every merge of the recent polls (75 merges in 600 polls).
    assert 10 <= len(rebuilds) <= 30
    assert max(sizes) <= (1 + 2 * REBUILD_SHARE) * in_horizon + COMPACT_CHUNKS * 5
    assert len(state.tx.ids) == len(state.tx)  # the ids of evicted events are forgotten too



def test_the_vocabulary_forgets_codes_of_evicted_events_and_features_still_equal_batch(monkeypatch):
    # A new IP address and device on every event for 120 days: the codes stay bounded by the
    # events of the look-back, and a batch scored after the vocabulary was compacted (codes
    # renumbered) still gets the batch path's features.
    monkeypatch.setattr(stream_state, "VOCAB_MIN", 50)
    n, step, gap = 2400, 30, pd.Timedelta(hours=4)
    tx = pd.DataFrame({
        "transaction_id": [f"T{i:05d}" for i in range(n)], "wallet_id": ["A", "B", "C"] * (n // 3),
        "timestamp": [_T0 + i * gap for i in range(n)],
        "amount": [5.0] * n, "type": ["deposit", "transfer", "redeem"] * (n // 3),
        "ip_address": [f"10.0.{i // 250}.{i % 250}" for i in range(n)],
        "counterparty_wallet_id": [None, "D", None] * (n // 3),
        "device_id": [f"d{i % 4}" for i in range(n)],
        "country": ["US", "FR"] * (n // 2),
    })
    state = StreamState({}, _WALLET_TABLE, with_logins=False)
    sizes = []
    for lo in range(0, n - step, step):
        state.features(tx.iloc[lo : lo + step])
        state.evict()
        sizes.append(state.vocab.size("ip"))
    in_horizon = int(horizon() / gap)
    # Compacted once the codes double: at most twice those of the events kept (Retained.compact
    # keeps up to 2 * REBUILD_SHARE more than the horizon, and the polls not yet merged).
    kept = (1 + 2 * REBUILD_SHARE) * in_horizon + COMPACT_CHUNKS * step
    assert max(sizes) <= 2 * (kept + 20)
    assert max(sizes) < n // 2
    got = state.features(tx.iloc[n - step :])
    want = build_features(tx.iloc[n - step :], history=tx.iloc[: n - step], wallets=_WALLET_TABLE)
    np.testing.assert_array_equal(got.drop(columns="transaction_id").to_numpy(),
                                  want.drop(columns="transaction_id").to_numpy())

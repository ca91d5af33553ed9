"""The wallet ledger (each wallet's events kept in context order): a batch's features equal
`build_features` on the events that have arrived, whatever order they arrive in within the
allowed lag, across evictions and restarts; evicted events leave it."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wallet_monitor.features import build_features
from wallet_monitor.features.ledger import TS, WalletLedger
from wallet_monitor.schema import TX_TYPES
from wallet_monitor.stream import state as stream_state
from wallet_monitor.stream.state import EVICT_SLACK, StreamState, horizon

_T0 = pd.Timestamp("2026-01-01", tz="UTC")
_WALLETS = ["A", "B", "C"]
_WALLET_TABLE = pd.DataFrame({
    "wallet_id": ["A", "B"], "kyc_verified": [1, 0],
    "registration_date": pd.to_datetime(["2025-06-01", "2025-12-30"], utc=True),
    "home_country": ["US", "FR"],
})
_LAG_S = int(EVICT_SLACK.total_seconds())  # how late a row may arrive and still find its context


@st.composite
def _stream(draw):
    """Transactions and logins in arrival order: times drift forward over up to ~70 days (so
    events leave the look-back while later ones arrive), each up to the allowed lag earlier
    than the latest before it; several share a timestamp. Cut into polls, some with a restart."""
    n = draw(st.integers(2, 45))
    steps = draw(st.lists(st.sampled_from([0, 0, 60, 600, 3600, 86_400, 1_000_000, 2_600_000]),
                          min_size=n, max_size=n))
    back = draw(st.lists(st.sampled_from([0, 0, 0, 30, 1800, _LAG_S]), min_size=n, max_size=n))
    clock = np.cumsum(steps)
    t = _T0 + pd.to_timedelta(clock - np.minimum(back, clock), unit="s")
    tx = pd.DataFrame({
        # ids not in time order, so ties at one timestamp are broken by the id, not arrival
        "transaction_id": [f"T{(i * 7) % 97:03d}" for i in range(n)],
        "wallet_id": draw(st.lists(st.sampled_from(_WALLETS), min_size=n, max_size=n)),
        "timestamp": t,
        "amount": draw(st.lists(st.sampled_from([1.0, 20.0, 2950.0, 9500.0]), min_size=n,
                                max_size=n)),
        "type": draw(st.lists(st.sampled_from(TX_TYPES), min_size=n, max_size=n)),
        "ip_address": draw(st.lists(st.sampled_from(["1.1.1.1", "2.2.2.2", "3.3.3.3"]),
                                    min_size=n, max_size=n)),
        "counterparty_wallet_id": draw(st.lists(st.sampled_from([*_WALLETS, "Z", None]),
                                                min_size=n, max_size=n)),
        "country": draw(st.lists(st.sampled_from(["US", "FR", "JP"]), min_size=n, max_size=n)),
        "device_id": draw(st.lists(st.sampled_from(["d1", "d2", None]), min_size=n, max_size=n)),
    })
    tx.loc[tx["type"] != "transfer", "counterparty_wallet_id"] = None
    m = draw(st.integers(0, 25))
    at = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))  # arrives with tx i
    early = draw(st.lists(st.sampled_from([0, 0, 60, 1800, _LAG_S]), min_size=m, max_size=m))
    logins = pd.DataFrame({
        "login_id": [f"l{(i * 5) % 31:03d}" for i in range(m)],  # after "T": the tie order shows
        "wallet_id": draw(st.lists(st.sampled_from(_WALLETS), min_size=m, max_size=m)),
        "timestamp": [tx["timestamp"].iloc[i] - pd.Timedelta(seconds=e)
                      for i, e in zip(at, early, strict=True)],
        "ip_address": draw(st.lists(st.sampled_from(["1.1.1.1", "9.9.9.9"]), min_size=m,
                                    max_size=m)),
        "success": draw(st.lists(st.sampled_from([0, 1]), min_size=m, max_size=m)),
        "country": draw(st.lists(st.sampled_from(["US", "RU"]), min_size=m, max_size=m)),
        "device_id": draw(st.lists(st.sampled_from(["d1", "d9"]), min_size=m, max_size=m)),
        "at": at,
    }).astype({"timestamp": "datetime64[ns, UTC]"})
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), max_size=6)))
    restarts = draw(st.sets(st.sampled_from(cuts), max_size=2)) if cuts else set()
    return tx, logins, [0, *cuts, n], restarts


def _restarted(tx: pd.DataFrame, logins: pd.DataFrame, with_table: bool) -> StreamState:
    """A new state loaded as the follower loads one after a stop: the retained history, the
    logins so far, then a forced eviction."""
    state = StreamState({}, _WALLET_TABLE if with_table else None, with_logins=True)
    state.add_logins(logins)
    state.add_history(tx)
    state.evict(force=True)
    return state


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_stream(), st.booleans(), st.booleans())
def test_ledger_features_equal_batch_features_of_the_events_arrived(stream, with_table, forced):
    tx, logins, cuts, restarts = stream
    wallets = _WALLET_TABLE if with_table else None
    state = StreamState({}, wallets, with_logins=True)
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        arrived = logins[logins["at"] < hi].drop(columns="at")
        if lo in restarts:
            before = logins[logins["at"] < lo].drop(columns="at")
            state = _restarted(tx.iloc[:lo], before, with_table)
        # A poll's logins (those arriving with its rows) come in before its transactions.
        state.add_logins(logins[(logins["at"] >= lo) & (logins["at"] < hi)].drop(columns="at"))
        batch = tx.iloc[lo:hi]
        assert state.ledger is not None
        got = state.features(batch)
        want = build_features(batch, history=tx.iloc[:lo], wallets=wallets, logins=arrived)
        assert got["transaction_id"].tolist() == want["transaction_id"].tolist()
        np.testing.assert_array_equal(got.drop(columns="transaction_id").to_numpy(),
                                      want.drop(columns="transaction_id").to_numpy())
        with mock.patch.object(stream_state, "COMPACT_CHUNKS", 2):
            state.evict(force=forced)


def test_evicted_events_leave_the_ledger_and_a_wallet_without_events_is_forgotten():
    hours = 24 * 100
    tx = pd.DataFrame({
        "transaction_id": [f"T{i:05d}" for i in range(hours)],
        "wallet_id": [f"W{i // 500}" for i in range(hours)],  # a new wallet every ~3 weeks
        "timestamp": [_T0 + pd.Timedelta(hours=i) for i in range(hours)],
        "amount": [5.0] * hours, "type": ["transfer"] * hours, "ip_address": ["1.1.1.1"] * hours,
        "counterparty_wallet_id": ["Z"] * hours,
    })
    state = StreamState({}, None, with_logins=False)
    for lo in range(0, hours, 24):
        state.features(tx.iloc[lo:lo + 24])
        state.evict()
    state.evict(force=True)
    cutoff = (tx["timestamp"].iloc[-1] - horizon()).value
    ledger = state.ledger
    assert min(int(e[TS, 0]) for e in ledger.events.values()) >= cutoff
    # Own events and the counterparty's incoming ones of the horizon, nothing older.
    assert len(ledger) == 2 * int((tx["timestamp"] >= tx["timestamp"].iloc[-1] - horizon()).sum())
    kept = tx.loc[tx["timestamp"].map(lambda t: t.value) >= cutoff, "wallet_id"].unique()
    codes = state.vocab.code_values("wallet", pd.Series([*kept, "Z"], dtype="string[pyarrow]"))
    assert set(ledger.events) == set(codes.tolist())


def test_a_repeated_id_leaves_the_ledger_for_the_batch_path():
    tx = pd.DataFrame({
        "transaction_id": ["a", "b", "a"], "wallet_id": ["A"] * 3,
        "timestamp": [_T0, _T0 + pd.Timedelta(minutes=1), _T0 + pd.Timedelta(minutes=2)],
        "amount": [1.0, 2.0, 3.0], "type": ["deposit"] * 3, "ip_address": ["x"] * 3,
    })
    state = StreamState({}, None, with_logins=False)
    state.features(tx.iloc[:2])
    got = state.features(tx.iloc[2:])
    assert state.ledger is None
    want = build_features(tx.iloc[2:], history=tx.iloc[:2])
    np.testing.assert_array_equal(got.drop(columns="transaction_id").to_numpy(),
                                  want.drop(columns="transaction_id").to_numpy())


def test_a_late_event_is_merged_into_its_own_wallet_only():
    ledger = WalletLedger()
    ev = pd.DataFrame({"ts": [10, 30], "login_id": pd.Series(["L1", "L2"], dtype="string[pyarrow]"),
                       "wallet_id": [0, 1], "ip_address": [-1, -1], "country": [-1, -1],
                       "device_id": [-1, -1], "success": [1, 0]})
    ledger.add_logins(ev)
    before = ledger.events[1]
    ledger.add_logins(ev.iloc[:1].assign(ts=5, login_id=pd.Series(["L0"], dtype="string[pyarrow]")))
    assert ledger.events[0][TS].tolist() == [5, 10]
    assert ledger.events[1] is before

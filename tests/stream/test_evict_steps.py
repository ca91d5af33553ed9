"""Eviction in small steps: the ledger's few wallets at a time (oldest first, room to append
kept), one part's chunks merged per poll, the episodes' raw columns kept through merges; and
features still equal batch when the ledger evicts one wallet at a time."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings

from tests.stream.test_ledger import _WALLET_TABLE, _restarted, _stream
from wallet_monitor.features import build_features
from wallet_monitor.features.ledger import TS, WalletLedger
from wallet_monitor.stream import state as stream_state
from wallet_monitor.stream.state import COMPACT_CHUNKS, StreamState

_T0 = pd.Timestamp("2026-01-01", tz="UTC")


def _logins(wallets: list[int], ts: list[int], first_id: int = 0) -> pd.DataFrame:
    n = len(ts)
    return pd.DataFrame({
        "ts": ts, "wallet_id": wallets, "success": [1] * n, "ip_address": [-1] * n,
        "country": [-1] * n, "device_id": [-1] * n,
        "login_id": pd.Series([f"L{first_id + i:03d}" for i in range(n)], dtype="string[pyarrow]"),
    })


def test_the_ledger_evicts_the_wallets_with_the_oldest_events_first_and_keeps_their_room():
    ledger = WalletLedger()
    # Wallet w's first event at 10 * (5 - w): wallet 4 holds the oldest, wallet 0 the newest.
    ledger.add_logins(_logins([w for w in range(5) for _ in range(4)],
                              [10 * (5 - w) + k for w in range(5) for k in range(4)]))
    ledger.add_logins(_logins(list(range(5)), [100] * 5, first_id=50))  # room to append
    before = {w: ledger.events[w] for w in range(5)}
    ledger.evict(100, most=2)
    assert sorted(w for w in range(5) if ledger.events[w] is before[w]) == [0, 1, 2]
    for w in (3, 4):
        assert ledger.events[w][TS].tolist() == [100]
        assert ledger.ids[w].tolist() == [f"L{50 + w:03d}"]
        buf, ibuf = ledger._room[w]
        assert ledger.events[w].base is buf and ibuf[1:5].tolist() == [None] * 4
    ledger.add_logins(_logins([4], [101], first_id=90))  # appended in place: the same arrays
    assert ledger.events[4].base is buf and ledger.events[4][TS].tolist() == [100, 101]
    ledger.evict(1000)
    assert ledger.events == {}


def test_a_late_event_before_a_wallets_first_makes_it_the_oldest_to_evict():
    # The oldest wallets are found without a pass over all of them: a late event that becomes
    # a wallet's first must count, its former first must not, and codes renumbered by the
    # vocabulary's compaction must still be found.
    ledger = WalletLedger()
    ledger.add_logins(_logins([0, 1, 2], [30, 20, 40]))
    ledger.add_logins(_logins([2], [5], first_id=10))  # late: wallet 2 is now the oldest
    ledger.evict(100, most=1)
    assert sorted(ledger.events) == [0, 1]
    ledger.evict(100, most=1)
    assert sorted(ledger.events) == [0]
    ledger.add_logins(_logins([3, 3], [10, 200], first_id=20))
    remap = np.arange(10)[::-1].copy()  # wallet w becomes 9 - w
    ledger.recode({"wallet": remap})
    ledger.evict(100, most=1)  # wallet 3 (now 6) holds the oldest event: emptied to [200]
    assert ledger.events[6][TS].tolist() == [200] and ledger.events[9][TS].tolist() == [30]
    ledger.evict(100, most=5)
    assert sorted(ledger.events) == [6]


def test_one_part_is_merged_per_poll_and_the_ledger_evicts_in_a_poll_without_merges():
    tx = pd.DataFrame({
        "transaction_id": [f"T{i:03d}" for i in range(40)], "wallet_id": ["A", "B"] * 20,
        "timestamp": [_T0 + pd.Timedelta(hours=i) for i in range(40)], "amount": [5.0] * 40,
        "type": ["deposit"] * 40, "ip_address": ["1.1.1.1"] * 40,
    })
    logins = tx[["wallet_id", "timestamp", "ip_address"]].assign(
        login_id=[f"L{i:03d}" for i in range(40)], success=1)
    state = StreamState({}, None, with_logins=True)
    merged = []

    def recording(method):
        def call(self, *args, **kwargs):
            merged.append(self)
            return method(self, *args, **kwargs)
        return call

    with mock.patch.object(stream_state.Retained, "compact", recording(stream_state.Retained.compact)), \
         mock.patch.object(WalletLedger, "evict", recording(WalletLedger.evict)):
        for i in range(COMPACT_CHUNKS):
            state.add_logins(logins.iloc[i : i + 1])
            state.features(tx.iloc[i : i + 1])
        state.evict()  # both parts are due: the transactions' chunks first
        assert merged == [state.tx]
        state.evict()  # then the logins'
        assert merged == [state.tx, state.logins]
        state.evict()  # a poll without merges: the ledger's turn
        assert merged == [state.tx, state.logins, state.ledger]
        state.evict()  # nothing arrived since: no turn
        for i in range(COMPACT_CHUNKS, 2 * COMPACT_CHUNKS - 1):
            state.features(tx.iloc[i : i + 1])
        state.evict()  # events arrived, but this poll merges the transactions' chunks
        assert merged == [state.tx, state.logins, state.ledger, state.tx]
        state.evict()  # a poll without merges
    assert merged == [state.tx, state.logins, state.ledger, state.tx, state.ledger]


def test_the_episodes_raw_columns_are_those_the_events_arrived_with_through_merges():
    n = 30
    tx = pd.DataFrame({
        "transaction_id": [f"T{i:03d}" for i in range(n)], "wallet_id": [" A", "B", "C"] * 10,
        "timestamp": [_T0 + pd.Timedelta(days=2 * i) for i in range(n)], "amount": [5.0] * n,
        "type": ["transfer", "deposit", "redeem"] * 10, "ip_address": ["1.1.1.1"] * n,
        "counterparty_wallet_id": [" B ", None, None] * 10,
    })
    state = StreamState({}, None, with_logins=False)
    state.add_history(tx.iloc[:4].drop(columns="counterparty_wallet_id"))
    for lo in range(4, n, 2):
        state.features(tx.iloc[lo : lo + 2])
        with mock.patch.object(stream_state, "COMPACT_CHUNKS", 2):
            state.evict()
    got = state.tx.select_all()
    kept = tx.set_index("transaction_id").loc[got["transaction_id"]].reset_index()
    assert 0 < len(got) < n and kept["timestamp"].is_monotonic_increasing
    # As a concat of the frames the events arrived in: no counterparty column in the first ones.
    want = pd.concat([tx.iloc[:4].drop(columns="counterparty_wallet_id"), tx.iloc[4:]],
                     ignore_index=True).set_index("transaction_id").loc[got["transaction_id"]]
    for col in ("wallet_id", "type", "counterparty_wallet_id", "amount"):
        assert got[col].tolist() == want[col].tolist() or (
            col == "counterparty_wallet_id" and got[col].isna().tolist() == want[col].isna().tolist()
            and got[col].dropna().tolist() == want[col].dropna().tolist())


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_stream())
def test_features_equal_batch_when_the_ledger_evicts_one_wallet_at_a_time(stream):
    # The follower's own eviction, and the ledger's eviction of one wallet after every poll.
    tx, logins, cuts, restarts = stream
    state = StreamState({}, _WALLET_TABLE, with_logins=True)
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        if lo in restarts:
            state = _restarted(tx.iloc[:lo], logins[logins["at"] < lo].drop(columns="at"), True)
        state.add_logins(logins[(logins["at"] >= lo) & (logins["at"] < hi)].drop(columns="at"))
        got = state.features(tx.iloc[lo:hi])
        want = build_features(tx.iloc[lo:hi], history=tx.iloc[:lo], wallets=_WALLET_TABLE,
                              logins=logins[logins["at"] < hi].drop(columns="at"))
        np.testing.assert_array_equal(got.drop(columns="transaction_id").to_numpy(),
                                      want.drop(columns="transaction_id").to_numpy())
        with mock.patch.object(stream_state, "COMPACT_CHUNKS", 2):
            state.evict()
        state.ledger.evict(state.watermark - stream_state.horizon().value, most=1)


def test_recent_events_are_merged_in_segments_and_read_back_as_one_chunk_of_them():
    # A bulk of 400 events, then 2-event polls merged once 4 chunks piled up into segments of
    # about 6 events: a full segment is left as it is and not counted as a chunk piled up, and
    # every reader sees what one merged chunk of the recent events gives (the same state with
    # segments too large to fill).
    n = 496  # 96 recent events: under REBUILD_SHARE of the bulk, which is not rebuilt
    tx = pd.DataFrame({
        "transaction_id": [f"T{i:03d}" for i in range(n)], "wallet_id": ["A", "B", "C", "D"] * 124,
        "timestamp": [_T0 + i * pd.Timedelta(minutes=7) for i in range(n)], "amount": [5.0] * n,
        "type": ["transfer", "deposit"] * 248, "ip_address": ["1.1.1.1"] * n,
        "counterparty_wallet_id": ["B", None, "A", None] * 124,
    }).astype({c: object for c in ("transaction_id", "wallet_id", "type", "ip_address",
                                   "counterparty_wallet_id")})  # as the follower parses them
    states = [StreamState({}, None, with_logins=False) for _ in range(2)]
    merged = []  # the events each merge took in, per state
    real = stream_state.Retained._merged

    def recording(self, chunks, cutoff):
        assert chunks[0] is not self.chunks[0]  # not the bulk
        merged[-1].append(sum(len(c[0]) for c in chunks))
        return real(self, chunks, cutoff)

    for state, segment in zip(states, (6, 10_000), strict=True):
        state.add_history(tx.iloc[:400])
        state.evict(force=True)
        merged.append([])
        with mock.patch.object(stream_state, "SEGMENT_EVENTS", segment), \
             mock.patch.object(stream_state, "COMPACT_CHUNKS", 4), \
             mock.patch.object(stream_state.Retained, "_merged", recording):
            for lo in range(400, n, 2):
                state.features(tx.iloc[lo : lo + 2])
                state.evict()
    segmented, whole = states
    assert len(whole.tx.chunks) < 4  # the bulk, one chunk of the recent events, polls since
    assert len(segmented.tx.chunks) > 10
    assert all(len(c[0]) >= 6 for c in segmented.tx.chunks[1:-1])
    # No merge took more than the open segment and the polls': a full one is not copied again.
    assert max(merged[0]) <= 5 + 3 * 2 and max(merged[1]) > 80
    # Merges no more often than with one chunk of recent events (polls between for the ledger's
    # turns; one poll later where a merge filled its segment), not at every poll once full
    # segments alone make COMPACT_CHUNKS chunks.
    assert len(merged[1]) > 20 and len(merged[1]) // 2 <= len(merged[0]) <= len(merged[1])
    pd.testing.assert_frame_equal(segmented.tx.select_all(), whole.tx.select_all())
    # The raw columns as a concat of the frames they arrived in gives them, dtypes too (objects).
    raw = ["wallet_id", "type", "counterparty_wallet_id", "amount"]
    pd.testing.assert_frame_equal(segmented.tx.select_all()[raw], tx[raw])
    assert segmented.tx.ids == whole.tx.ids and len(segmented.tx) == len(whole.tx)
    codes = np.arange(segmented.vocab.size("wallet"))
    for a, b in zip(segmented.tx.select_prepared(codes), whole.tx.select_prepared(codes),
                    strict=True):
        if isinstance(a, pd.DataFrame):
            pd.testing.assert_frame_equal(a, b)
        else:
            assert a == b

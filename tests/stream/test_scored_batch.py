"""A follower's batch scored as arrays equals the frames' path, column for column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wallet_monitor.features import Locator, load_logins, load_transactions, load_wallets
from wallet_monitor.features.arrays import ColumnCache
from wallet_monitor.features.compute import prepare_transactions
from wallet_monitor.features.vocab import Vocabulary
from wallet_monitor.schema import DETECTION_COLUMNS
from wallet_monitor.scoring import ScoredBatch, detect_features
from wallet_monitor.stream.state import StreamState, horizon


def _state(chain, bundle) -> tuple[StreamState, pd.DataFrame]:
    d = chain / "data"
    history = load_transactions(d / "transactions.csv")
    state = StreamState(bundle, load_wallets(d / "wallets.csv"))
    state.add_logins(load_logins(d / "logins.csv"))
    state.add_history(history.loc[history["timestamp"] >= history["timestamp"].max() - horizon()])
    return state, load_transactions(d / "new_transactions.csv")


def test_a_batch_scored_as_arrays_equals_the_frames_path(chain, bundle):
    arrays, new = _state(chain, bundle)
    frames, _ = _state(chain, bundle)
    flagged = 0
    for lo in range(0, 400, 7):
        batch = new.iloc[lo:lo + 7].reset_index(drop=True)
        got = arrays.detect(batch)
        features, prepared, ledgered = frames._features(batch)
        assert isinstance(features, pd.DataFrame) and ledgered
        want = detect_features(bundle, batch, features, link=False)
        frames.add_history(batch, prepared, ledgered)
        assert isinstance(got, ScoredBatch) and len(got) == len(want)
        for c in DETECTION_COLUMNS:
            if c == "timestamp":
                assert got[c].equals(want[c].array)
            else:
                np.testing.assert_array_equal(got[c], want[c].to_numpy(), strict=True)
        flagged += int(got["is_anomaly"].sum())
    assert flagged  # the comparison covers rows with reasons


def test_a_batch_on_the_look_back_path_is_scored_as_arrays_too(chain, bundle):
    """Without the ledger (an id repeated), the frames' features, then the same arrays."""
    arrays, new = _state(chain, bundle)
    arrays.ledger = None
    frames, _ = _state(chain, bundle)
    batch = new.iloc[:9].reset_index(drop=True)
    got = arrays.detect(batch)
    features, _, _ = frames._features(batch)
    want = ScoredBatch.of(detect_features(bundle, batch, features, link=False))
    for c in DETECTION_COLUMNS:
        assert np.array_equal(np.asarray(got[c]), np.asarray(want[c]))


@pytest.mark.parametrize("rows", [1, 5, 300])
def test_prepared_transactions_as_arrays_are_the_frames_columns(chain, rows):
    tx = load_transactions(chain / "data" / "new_transactions.csv").iloc[:rows]
    geo = Locator()
    framed = prepare_transactions(tx, geo, vocab=Vocabulary(None, False))
    columns = prepare_transactions(tx, geo, vocab=Vocabulary(None, False), arrays=True)
    assert list(columns) == framed.columns.tolist()
    for c, values in columns.items():
        assert len(values) == rows
        np.testing.assert_array_equal(np.asarray(values), framed[c].to_numpy(), strict=True)


def test_a_batch_read_through_the_column_cache_reads_each_column_once(chain):
    tx = load_transactions(chain / "data" / "new_transactions.csv").iloc[:5]
    reads = []

    class Counted(pd.DataFrame):
        def __getitem__(self, key):
            reads.append(key)
            return super().__getitem__(key)

    cached = ColumnCache(Counted(tx))
    first = cached["wallet_id"]
    assert cached["wallet_id"] is first and reads == ["wallet_id"]
    pd.testing.assert_series_equal(first, tx["wallet_id"])
    assert len(cached) == 5 and "amount" in cached and "nope" not in cached
    assert cached.columns.equals(tx.columns) and cached.index.equals(tx.index)

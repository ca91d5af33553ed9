"""A follower's transactions prepared and coded on arrays (`prepare_transactions(..., vocab)`)
give the frame `Vocabulary.code(prepare_transactions(...))` gives, batch after batch, with the
same warnings."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.features.test_coded_logins import (
    _IPS,
    _T0,
    assert_coded_as_prepared,
    assert_warned_as_prepared,
)
from wallet_monitor.features import Locator
from wallet_monitor.features.compute import prepare_transactions
from wallet_monitor.features.vocab import Vocabulary
from wallet_monitor.schema import InputError

_TYPES = ["transfer", " Deposit ", "REDEMPTION", "refund", "", None]


@st.composite
def _transactions(draw, n_max=8):
    n = draw(st.integers(0, n_max))
    pick = lambda values: draw(st.lists(st.sampled_from(values), min_size=n, max_size=n))  # noqa: E731
    cols = {
        "transaction_id": [f"T{draw(st.integers(0, 99))}" for _ in range(n)],
        "wallet_id": pick(["A", "B", " C", "D"]),
        "timestamp": [_T0 + pd.Timedelta(seconds=draw(st.integers(0, 10**6))) for _ in range(n)],
        "amount": pick([0.5, 12.0, 1e6, -3.0]),
        "type": pick(_TYPES),
        "ip_address": pick(_IPS),
        "counterparty_wallet_id": pick(["A", "B", "m1 ", "", None]),
        "country": pick(["US", " fr", "", None]),
        "device_id": pick(["d1", " d2 ", None]),
    }
    df = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in cols.items()})
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    df["amount"] = df["amount"].astype(float)
    dropped = draw(st.sets(st.sampled_from(["ip_address", "counterparty_wallet_id", "country",
                                            "device_id"])))
    return df.drop(columns=sorted(dropped))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_transactions(), min_size=1, max_size=4), st.booleans(), st.booleans())
def test_coded_transactions_equal_the_coded_prepared_frame(batches, table, locate):
    def prepare(df, geo, vocab):
        return prepare_transactions(df, geo, locate and "ip_address" in df.columns, vocab=vocab)
    assert_coded_as_prepared(batches, table, prepare)


def test_a_malformed_address_is_warned_about_as_before(caplog):
    df = pd.DataFrame({"transaction_id": ["T1", "T2", "T3"], "wallet_id": ["A", "A", "B"],
                       "timestamp": pd.to_datetime(["2026-01-01"] * 3, utc=True),
                       "amount": [1.0, 2.0, 3.0], "type": ["transfer"] * 3,
                       "ip_address": ["abc", "8.8.8.8", ""], "country": [None, None, "US"]})
    assert_warned_as_prepared(caplog, df, lambda d, geo, vocab: prepare_transactions(
        d, geo, vocab=vocab), "T1")


def test_a_missing_required_column_is_refused_on_both_paths():
    df = pd.DataFrame({"transaction_id": ["T1"], "wallet_id": ["A"], "amount": [1.0]})
    for vocab in (Vocabulary(None, False), None):
        with pytest.raises(InputError, match="missing required column"):
            prepare_transactions(df, Locator(), vocab=vocab)

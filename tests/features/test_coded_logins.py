"""A follower's logins prepared and coded on arrays (`prepare_logins(..., vocab)`) give the frame
`Vocabulary.code(prepare_logins(...))` gives, batch after batch, with the same warnings."""

from __future__ import annotations

import logging

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wallet_monitor.features import Locator
from wallet_monitor.features.compute import prepare_logins
from wallet_monitor.features.vocab import Vocabulary

_T0 = pd.Timestamp("2026-01-01", tz="UTC")
# Located, private, IPv4-mapped, padded, malformed, empty and missing addresses.
_IPS = ["8.8.8.8", "10.0.0.1", "::ffff:81.2.69.160", " 193.0.14.129 ", "abc", "", None]
_WALLETS = pd.DataFrame({"wallet_id": ["A", "B"], "kyc_verified": [1, 0],
                         "registration_date": pd.to_datetime(["2025-01-01", "2025-06-01"], utc=True),
                         "home_country": ["US", "fr"]})


@st.composite
def _logins(draw, n_max=8):
    n = draw(st.integers(0, n_max))
    cols = {
        "login_id": [f"L{draw(st.integers(0, 99))}" for _ in range(n)],
        "wallet_id": draw(st.lists(st.sampled_from(["A", "B", " C", "D"]), min_size=n, max_size=n)),
        "timestamp": [_T0 + pd.Timedelta(seconds=draw(st.integers(0, 10**6))) for _ in range(n)],
        "ip_address": draw(st.lists(st.sampled_from(_IPS), min_size=n, max_size=n)),
        "success": draw(st.lists(st.sampled_from([0, 1]), min_size=n, max_size=n)),
        "country": draw(st.lists(st.sampled_from(["US", " fr", "", None]), min_size=n, max_size=n)),
        "device_id": draw(st.lists(st.sampled_from(["d1", " d2 ", None]), min_size=n, max_size=n)),
    }
    df = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in cols.items()})
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    df["success"] = df["success"].astype("int8")
    dropped = draw(st.sets(st.sampled_from(["login_id", "country", "device_id"])))
    return df.drop(columns=sorted(dropped))


def assert_coded_as_prepared(batches, table: bool, prepare) -> None:
    """`prepare(df, geo, vocab)` (the coded path) gives `vocab.code(prepare(df, geo, None))`,
    batch after batch, and both vocabularies end with the same codes."""
    wallets = _WALLETS if table else None
    fast, slow = Vocabulary(wallets, table), Vocabulary(wallets, table)
    geo = Locator()
    for df in batches:
        got = prepare(df, geo, fast)
        want = slow.code(prepare(df, geo, None))
        pd.testing.assert_frame_equal(got, want)
    for kind in ("wallet", "ip", "country", "device"):
        assert fast.names(kind).tolist() == slow.names(kind).tolist()


def assert_warned_as_prepared(caplog, df, prepare, first_id: str) -> None:
    """A malformed address (the first row's, whose id is `first_id`) is warned about once, in
    the same words, on the coded path as on the prepared one; the country is left missing."""
    logs = []
    for vocab in (Vocabulary(None, False), None):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            out = prepare(df, Locator(), vocab)
        logs.append([r.getMessage() for r in caplog.records])
    assert logs[0] == logs[1] and len(logs[0]) == 1 and f"'{first_id}'" in logs[0][0]
    assert out["country"].isna().tolist() == [True, False, False]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_logins(), min_size=1, max_size=4), st.booleans())
def test_coded_logins_equal_the_coded_prepared_frame(batches, table):
    assert_coded_as_prepared(batches, table, prepare_logins)


def test_a_malformed_address_is_warned_about_as_before(caplog):
    df = pd.DataFrame({"login_id": ["L1", "L2", "L3"], "wallet_id": ["A", "A", "B"],
                       "timestamp": pd.to_datetime(["2026-01-01"] * 3, utc=True),
                       "ip_address": ["abc", "8.8.8.8", ""], "success": [1, 0, 1],
                       "country": [None, None, "US"]})
    assert_warned_as_prepared(caplog, df, prepare_logins, "L1")

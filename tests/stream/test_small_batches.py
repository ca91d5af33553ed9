"""The follower's small-batch paths give what the general ones give: relinking only the rows a
batch reaches, CSV rows written without a frame, text columns parsed with pyarrow's kernels."""

import io

import numpy as np
import pandas as pd
import pytest

from tests._episode_support import _random_rows
from wallet_monitor.episodes import link_episodes
from wallet_monitor.stream.follower import write_csv_rows
from wallet_monitor.stream.parse import _stripped, _timestamps
from wallet_monitor.stream.recent import RecentEpisodes


def _links_written(rows, ends, threshold=0.975):
    """Feed `rows` to RecentEpisodes in batches ending at `ends`; the link written last for each
    row, and whether the wallet codes were ever rebuilt."""
    episodes = RecentEpisodes(threshold)
    last = pd.Series("", index=rows["transaction_id"])
    rebuilt = False
    for lo, hi in zip([0, *ends[:-1]], ends, strict=True):
        part = rows.iloc[lo:hi]
        codes = len(episodes._wallets)
        raised = episodes.add(part[["transaction_id", "wallet_id", "timestamp", "fraud_score",
                                    "reasons"]], part)
        rebuilt |= len(episodes._wallets) < codes
        last[raised["transaction_id"]] = raised["linked_to"].to_numpy()
    return last.tolist(), rebuilt


@pytest.mark.parametrize("seed", range(8))
def test_relinking_only_the_wallets_a_batch_reaches_ends_where_linking_everything_ends(seed):
    # Many wallets over many hours: each batch reaches a few of them, and rows are let go.
    rows = _random_rows(seed, n=400, wallets=40, minutes=1500).sort_values(
        ["timestamp", "transaction_id"], ignore_index=True)
    want = link_episodes(rows, threshold=0.975)["linked_to"].tolist()
    ends = np.unique(np.r_[np.random.default_rng(200 + seed).integers(1, len(rows), 150),
                           len(rows)]).tolist()
    assert _links_written(rows, ends)[0] == want
    assert sum(w != "" for w in want) > 10  # the case is not empty


def test_wallet_codes_rebuilt_from_the_kept_rows_change_no_link():
    # Nearly every row names new wallets: the codes outgrow the rows kept and are rebuilt.
    rows = _random_rows(7, n=20000, wallets=40000, minutes=60000).sort_values(
        ["timestamp", "transaction_id"], ignore_index=True)
    links, rebuilt = _links_written(rows, list(range(100, len(rows) + 1, 100)))
    assert rebuilt
    assert links == link_episodes(rows, threshold=0.975)["linked_to"].tolist()


def test_csv_rows_are_what_to_csv_writes():
    frame = pd.DataFrame({
        "transaction_id": ["a", "b,c", 'say "hi"', "line\nbreak", ""],
        "fraud_score": [0.1, 1e-05, np.nan, 123456789012345678.0, 2 / 3],
        "is_anomaly": [True, False, True, False, True],
        "reasons": ["x=1; y=2", None, np.nan, " spaced ", "ünïcode"],
        "scored_at": np.full(5, round(1765093412.1234567, 3)),
        "when": pd.Series(["2026-01-01T00:00:00Z", None, "x", "y", "z"], dtype="str"),
    })
    want = io.StringIO()
    frame.to_csv(want, index=False)
    got = io.StringIO()
    write_csv_rows(got, [frame[c] for c in frame.columns], list(frame.columns))
    assert got.getvalue() == want.getvalue()
    again = io.StringIO()
    write_csv_rows(again, [frame[c] for c in frame.columns])
    assert again.getvalue() == want.getvalue().split("\n", 1)[1]


def test_stripped_text_is_what_pandas_string_methods_give():
    rng = np.random.default_rng(0)
    spaces = [" ", "\t", "\n", "\u00a0", "\u2003", "\u3000", "\x1c", "\x1f", "\u200b", "\u180e"]
    words = ["Deposit", "TRANSFER", "redeem", "İstanbul", "ΣΑΣ", "", "1", "True"]
    values = pd.Series([None if rng.random() < 0.1 else
                        "".join(rng.choice(spaces, rng.integers(0, 3))) + str(rng.choice(words))
                        + "".join(rng.choice(spaces, rng.integers(0, 3))) for _ in range(500)],
                       dtype=object)
    want = values.astype("string").str.strip().str.lower()
    got = _stripped(values, lower=True)
    assert got == [None if pd.isna(v) else v for v in want]


@pytest.mark.parametrize("values", [
    ["2026-02-16T00:00:11Z", "2024-02-29T23:59:59Z", "1999-12-31T23:59:59Z"],  # the plain form
    ["2026-02-16T00:00:11Z", "2026-02-30T00:00:00Z"],  # a day out of range
    ["2026-02-16T00:00:11Z", "2026-02-16T01:00:00+01:00", "2026-02-16 00:00:11"],  # other forms
    ["2026-02-16T00:00:11Z", None, "yesterday"],
    ["2026-02-16T00:00:11.250Z", "2026-02-16"],
])
def test_timestamps_are_parsed_as_pandas_parses_them(values):
    frame = pd.DataFrame({"timestamp": pd.Series(values, dtype=object)})
    want = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601", errors="coerce")
    reasons = np.full(len(values), "", dtype=object)
    got = _timestamps(frame, reasons)
    pd.testing.assert_series_equal(got, want.astype("datetime64[ns, UTC]"))
    assert [bool(r) for r in reasons] == (want.isna() & frame["timestamp"].notna()).tolist()


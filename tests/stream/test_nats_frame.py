"""A NatsSource's records -> frame (`_frame`): the frame pandas' own construction gave (columns
in first-named order then the expected ones, None for null, NaN and empty values, JSON arrays
and objects as their JSON text), for records as they come from `json.loads`."""

from __future__ import annotations

import json
import random

import pandas as pd
import pytest

from wallet_monitor.stream.nats_messages import records_frame as _frame

COLUMNS = ["transaction_id", "wallet_id", "amount", "timestamp", "type"]
KEYS = [*COLUMNS, "country", "ip", "extra"]
VALUES = ["T1", "W9", "", "12.50", "2026-01-01T00:00:00Z", "transfer", " ", None, 0, 3, 2.5,
          float("nan"), True, False, [1, "a"], [], {"k": "v"}, ["x"], [[1]]]


def _by_pandas(items, columns) -> pd.DataFrame:
    """The frame as the source built it before: pd.DataFrame(records), then cleaned."""
    records = [{k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in r.items()}
               for _, r in items]  # arrays and objects as their JSON text, as a CSV holds them
    df = pd.DataFrame(records, dtype=object)
    for c in columns:
        if c not in df:
            df[c] = None
    df = df.astype(object)
    return df.where(df.notna() & (df != ""), None) if len(df) else df


def _records(rng: random.Random, n: int) -> list[tuple[int, dict]]:
    out = []
    for i in range(n):
        keys = rng.sample(KEYS, rng.randrange(len(KEYS) + 1))
        text = json.dumps({k: rng.choice(VALUES) for k in keys})  # NaN as JSON's NaN
        out.append((i + 1, json.loads(text)))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_frame_is_what_pandas_built_from_the_records(seed):
    rng = random.Random(seed)
    items = _records(rng, rng.choice([0, 1, 2, 5, 30]))
    if seed % 4 == 0:  # text values only, as a publisher sends them
        items = [(s, {k: v for k, v in r.items() if isinstance(v, str)}) for s, r in items]
    got, want = _frame(items, COLUMNS), _by_pandas(items, COLUMNS)
    pd.testing.assert_frame_equal(got, want, check_index_type=True, check_column_type=True)
    # Missing values are None itself (what parsing tests with `is None` / pd.isna).
    assert [[v is None for v in row] for row in got.to_numpy().tolist()] == \
        [[v is None for v in row] for row in want.to_numpy().tolist()]


def test_a_message_with_arrays_for_values_is_checked_not_a_crash():
    # A JSON array as an id had raised "unhashable type" in every poll that read it; as its
    # JSON text it is checked as any other text: an array amount is a bad row, reported.
    import numpy as np

    from wallet_monitor.stream.parse import RawRows, valid_transactions

    items = [(1, {"transaction_id": ["t1"], "wallet_id": "W1", "amount": "5",
                  "timestamp": "2026-01-01T00:00:00Z", "type": "deposit"}),
             (2, {"transaction_id": "t2", "wallet_id": {"w": 1}, "amount": [5],
                  "timestamp": "2026-01-01T00:00:01Z", "type": "deposit"})]
    raw = RawRows("nats", _frame(items, COLUMNS), np.array([1, 2]))
    good, bad = valid_transactions(raw, set())
    assert good["transaction_id"].tolist() == ['["t1"]']
    assert [(where, reason) for _, where, reason in bad] == [
        (2, "amount not a positive number: '[5]'")]

"""A NatsSource's records -> rows (`records_rows`): as a frame, the frame pandas' own
construction gave (columns in first-named order then the expected ones, None for null, NaN and
empty values, JSON arrays and objects as their JSON text), for records as they come from
`json.loads`; and checked on their lists (a small poll), what checking that frame gives."""

from __future__ import annotations

import json
import random

import numpy as np
import pandas as pd
import pytest

from wallet_monitor.stream.nats_messages import records_rows
from wallet_monitor.stream.parse import RawRows, valid_logins, valid_transactions


def _raw(items, columns) -> RawRows:
    header, rows = records_rows(items, columns)
    return RawRows("nats", None, np.array([s for s, _ in items], dtype=np.int64), [],
                   header=header, rows=rows)


def _frame(items, columns) -> pd.DataFrame:
    return _raw(items, columns).frame

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


LOGIN_COLUMNS = ["login_id", "wallet_id", "timestamp", "success"]
TX_VALUES = {"transaction_id": ["T1", "T2", "T1", "", None, 7, ["x"]],
             "wallet_id": ["W1", "W2", None, 3], "amount": ["12.50", 3, 0, "-1", "x", 2.5, None],
             "timestamp": ["2026-01-01T00:00:00Z", "2026-01-01T00:00:00.5Z", "2026-02-30T00:00:00Z",
                           "2026-01-01 00:00:00+01:00", "soon", 1, None],
             "type": ["transfer", " Deposit ", "withdrawal", "bogus", True, None],
             "success": ["1", "0", "true", "False", True, 0, "maybe", None],
             "login_id": ["L1", "L2", "L1", None], "country": ["DE", "", None, "é"]}


def _checked(rng: random.Random, n: int, keys: list[str]) -> list[tuple[int, dict]]:
    items = []
    for i in range(n):
        rec = {k: rng.choice(TX_VALUES[k]) for k in keys if rng.random() < 0.9}
        for k in keys[:5]:  # the required columns named by every record (the checks say why)
            rec.setdefault(k, rng.choice(TX_VALUES[k]))
        items.append((i + 1, json.loads(json.dumps(rec))))
    return items


@pytest.mark.parametrize("seed", range(30))
def test_checked_on_lists_is_what_checking_the_frame_gives(seed):
    # A poll's few messages are checked on their lists (`RawRows.lists`), not as a frame: the
    # rows kept, their typed columns and the reasons for the rest must be the frame's.
    rng = random.Random(seed)
    n = rng.choice([1, 2, 5, 40])
    tx = _checked(rng, n, ["transaction_id", "wallet_id", "timestamp", "amount", "type", "country"])
    lg = _checked(rng, n, ["login_id", "wallet_id", "timestamp", "success", "country"])
    known = {"T2", "L2"}
    for items, columns, check in ((tx, COLUMNS, valid_transactions),
                                  (lg, LOGIN_COLUMNS, valid_logins)):
        lists = _raw(items, columns)
        assert lists.lists() is not None  # the lists path is the one taken
        frame = RawRows("nats", _frame(items, columns), lists.where, [])
        assert frame.lists() is None
        got, got_bad = check(lists, set(known))
        want, want_bad = check(frame, set(known))
        pd.testing.assert_frame_equal(got, want)
        assert got_bad == want_bad


def test_a_message_with_arrays_for_values_is_checked_not_a_crash():
    # A JSON array as an id had raised "unhashable type" in every poll that read it; as its
    # JSON text it is checked as any other text: an array amount is a bad row, reported.
    items = [(1, {"transaction_id": ["t1"], "wallet_id": "W1", "amount": "5",
                  "timestamp": "2026-01-01T00:00:00Z", "type": "deposit"}),
             (2, {"transaction_id": "t2", "wallet_id": {"w": 1}, "amount": [5],
                  "timestamp": "2026-01-01T00:00:01Z", "type": "deposit"})]
    good, bad = valid_transactions(_raw(items, COLUMNS), set())
    assert good["transaction_id"].tolist() == ['["t1"]']
    assert [(where, reason) for _, where, reason in bad] == [
        (2, "amount not a positive number: '[5]'")]

"""Point-in-time features for wallet transactions: `build_features`.

`build_features` turns transactions (plus the wallets table and logins) into one numeric row
per target transaction. Training and detection, batch and streaming, all call it, so no path
computes a feature any other way.

Point-in-time invariant: the features of a transaction at time t depend only on the wallets
table and on this wallet's events (its own transactions, incoming transfers where it is the
counterparty, its logins) with timestamp in [t - LOOKBACK, t] that come before it in
(timestamp, transaction_id) order; logins count when their timestamp is <= t. Hence dropping
events older than t - LOOKBACK, or appending later ones, never changes a row, and a streaming
path that keeps the last LOOKBACK of events reproduces the batch features exactly. An IP,
country or device is "new" while the wallet has known it for less than NEW_ACCESS_SPAN (so a
takeover's failed logins, login and drains all count as new, not only the first event of the
session). Every window sum is taken over exact integer (fixed-point) cumulative sums, so a
row's value does not depend on how much older history was loaded.

Everything runs on sorted arrays (sort by wallet and time, `searchsorted` for window starts,
cumulative sums, stable sorts on (wallet, value) pairs); there is no per-row Python loop.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.api.internals import create_dataframe_from_blocks

from wallet_monitor.features.arrays import (
    SMALL_ROWS,
    arrow_str,
    as_str,
    flag,
    frame,
    small_text,
    text,
    text_arrow,
    utc_ns,
)
from wallet_monitor.features.catalog import FEATURE_NAMES
from wallet_monitor.features.context import Columns, Context, FeatureMatrix, make_context
from wallet_monitor.features.families import (
    access_family,
    amount_family,
    flow_family,
    velocity_family,
    window_totals,
)
from wallet_monitor.features.geoip import Locator
from wallet_monitor.features.params import LOOKBACK
from wallet_monitor.features.vocab import CODED, Vocabulary
from wallet_monitor.schema import LOGIN_REQUIRED, TX_REQUIRED, TX_TYPES, InputError

# The output frame's columns and blocks, made once (an Index of 74 names is ~40 us a batch).
_COLUMNS = pd.Index(["transaction_id", *FEATURE_NAMES])
_STR = pd.StringDtype("pyarrow", na_value=np.nan)  # what pandas infers for a column of text
_ID_SLOT, _FEATURE_SLOTS = np.array([0]), np.arange(1, len(_COLUMNS))


def build_features(targets, history=None, wallets=None, logins=None,
                   geo: Locator | None = None) -> pd.DataFrame:
    """Point-in-time features for each target transaction, in the targets' order.

    Context is history ∪ targets (deduplicated by transaction_id, targets win) plus logins and
    the wallets table. Each event's country is the given one, else where `geo` (default: the
    bundled database) locates its ip_address: this is the one place every path derives it.
    Returns `transaction_id` then float columns `FEATURE_NAMES`, no NaN/inf; the index is the
    targets' index.
    """
    tgt = _prepare_transactions(targets)
    if len(tgt) == 0:
        return _empty(targets.index)
    tx_columns = set(targets.columns)
    t_lo, t_hi = _span(tgt)
    hist = None
    if history is not None and len(history):
        tx_columns |= set(history.columns)
        hist = _prepare_transactions(history)
    tx, tgt_rows = _context_rows(tgt, hist, t_lo, t_hi)
    geo = Locator() if geo is None else geo
    tx["country"] = geo.fill(tx["ip_address"] if "ip_address" in tx_columns else None,
                             tx["country"], tx["transaction_id"], "transactions")
    lg = None if logins is None else _prepare_logins(logins, t_lo, t_hi)
    login_columns = None if logins is None else set(logins.columns)
    if lg is not None:
        lg["country"] = geo.fill(lg["ip_address"] if "ip_address" in login_columns else None,
                                 lg["country"], lg["login_id"], "logins")
    features = _compute(tx, tgt_rows, lg, wallets, Columns.of(tx_columns, login_columns, wallets))
    return _frame(features, tx["transaction_id"].take(tgt_rows), targets.index)


def prepare_transactions(df: pd.DataFrame, geo: Locator, locate: bool | None = None,
                         vocab: Vocabulary | None = None, arrays: bool = False
                         ) -> pd.DataFrame | dict:
    """Transactions as `build_features` reads them, countries located (`locate`: look up
    addresses; default: when the frame has an ip_address column). Every step is row by row,
    so the follower prepares each row once, when it arrives, instead of with every batch
    whose look-back it is in (`features_of_prepared`). With `vocab`: `vocab.code` of that
    frame, made from arrays in one frame, as `prepare_logins` does; `arrays` (with `vocab`):
    that frame's columns as {column: array}, as `prepare_logins` gives them."""
    locate = "ip_address" in df.columns if locate is None else locate
    if vocab is not None:
        columns = _coded_transactions(df, geo, vocab, locate)
        return columns if arrays else frame(columns, pd.RangeIndex(len(df)))
    out = _prepare_transactions(df)
    out["country"] = geo.fill(out["ip_address"] if locate else None, out["country"],
                              out["transaction_id"], "transactions")
    return out


def prepare_logins(df: pd.DataFrame, geo: Locator, vocab: Vocabulary | None = None,
                   arrays: bool = False) -> pd.DataFrame | dict:
    """Logins (with login_id) as `build_features` reads them, countries located; row by row,
    as `prepare_transactions`. With `vocab`: `vocab.code` of that frame, made from pyarrow and
    numpy arrays in one frame (a follower's logins: pandas' cost per call was most of it);
    `arrays` (with `vocab`): that frame's columns as {column: array}, as a `Retained` chunk and
    the `WalletLedger` read them, without the frame."""
    if vocab is not None:
        columns = _coded_logins(df, geo, vocab)
        return columns if arrays else frame(columns, pd.RangeIndex(len(df)))
    lg = _prepare_logins(df, np.iinfo(np.int64).min, np.iinfo(np.int64).max)
    lg["country"] = geo.fill(lg["ip_address"] if "ip_address" in df.columns else None,
                             lg["country"], lg["login_id"], "logins")
    return lg


def features_of_prepared(tgt: pd.DataFrame, history: pd.DataFrame | None,
                         logins: pd.DataFrame | None, wallets, cols: Columns,
                         index: pd.Index, unique: bool = False,
                         vocab: Vocabulary | None = None) -> pd.DataFrame:
    """`build_features` on frames from `prepare_transactions` / `prepare_logins`: the same
    context rows, in the same order, through the same `_compute`; `cols` says which optional
    columns the raw frames had (Columns.of over their column names). `unique`: the caller
    knows no transaction_id repeats across history and targets (the follower refuses a
    repeated id), so there is nothing to deduplicate. `vocab`: the frames' strings are coded
    with it (`Vocabulary.code`), so the context codes nothing again."""
    if len(tgt) == 0:
        return _empty(index)
    t_lo, t_hi = _span(tgt)
    tx, tgt_rows = _context_rows(tgt, history if history is not None and len(history) else None,
                                 t_lo, t_hi, unique)
    lg = None
    if logins is not None:
        lts = logins["ts"].to_numpy()
        lg = logins[(lts >= t_lo) & (lts <= t_hi)].reset_index(drop=True)
    return _frame(_compute(tx, tgt_rows, lg, wallets, cols, vocab),
                  tx["transaction_id"].take(tgt_rows), index)


def features_of_context(ctx: Context, ids: pd.Series, index: pd.Index) -> pd.DataFrame:
    """`build_features`' frame from a context built elsewhere (a follower's `WalletLedger`);
    `ids`: the targets' transaction ids, in the targets' order."""
    return _frame(matrix_of_context(ctx), ids, index)


def matrix_of_context(ctx: Context) -> np.ndarray:
    """`features_of_context`'s values without the frame: targets x FEATURE_NAMES, in the
    targets' order."""
    ctx.cols.log_missing()
    return _families(ctx)


def _empty(index: pd.Index) -> pd.DataFrame:
    cols = {"transaction_id": pd.Series(dtype=str)}
    cols.update({name: pd.Series(dtype=np.float64) for name in FEATURE_NAMES})
    return pd.DataFrame(cols, index=index)


def _span(tgt: pd.DataFrame) -> tuple[int, int]:
    """The times that can matter to the targets: [min target - LOOKBACK, max target]."""
    return int(tgt["ts"].min()) - LOOKBACK.value, int(tgt["ts"].max())


def _context_rows(tgt: pd.DataFrame, hist: pd.DataFrame | None, t_lo: int, t_hi: int,
                  unique: bool = False):
    """History in [t_lo, t_hi] then the targets, each transaction once (targets win); and the
    targets' rows in it (with `unique`, every id is known to be there once)."""
    tx = tgt
    if hist is not None:
        # Only events in [min target - LOOKBACK, max target] can matter (the invariant itself).
        hts = hist["ts"].to_numpy()
        tx = pd.concat([hist[(hts >= t_lo) & (hts <= t_hi)], tgt], ignore_index=True)
        if not unique:
            tx = tx.drop_duplicates("transaction_id", keep="last").reset_index(drop=True)
    elif not unique and tgt["transaction_id"].duplicated().any():
        tx = tgt.drop_duplicates("transaction_id", keep="last").reset_index(drop=True)
    if unique:  # the targets are the last rows, in order
        return tx, np.arange(len(tx) - len(tgt), len(tx))
    return tx, pd.Index(tx["transaction_id"]).get_indexer(tgt["transaction_id"])


def _frame(features: np.ndarray, ids: pd.Series, index: pd.Index) -> pd.DataFrame:
    """`transaction_id` (as "str", the ids' text) then the features, on `index`: the frame
    `pd.DataFrame(features, columns=FEATURE_NAMES)` with the ids inserted first gives, made from
    its two blocks (~45 against ~240 us: a follower's every batch pays it)."""
    # Only the targets' ids leave the arrow column (the context's can be 100x as many).
    text_ids = pa.array(ids.to_numpy().astype(str), pa.large_string())
    ids_array = pd.arrays.ArrowStringArray(text_ids, dtype=_STR)
    return create_dataframe_from_blocks(
        [(np.asarray(features, np.float64).T, _FEATURE_SLOTS), (ids_array, _ID_SLOT)],
        index, _COLUMNS)


def _compute(tx, tgt_rows, lg, wallets, cols: Columns, vocab: Vocabulary | None = None
             ) -> np.ndarray:
    """Feature matrix (targets x FEATURE_NAMES) for the context `tx` and logins `lg`."""
    cols.log_missing()
    return _families(make_context(tx, tgt_rows, lg, wallets, cols, vocab))


def _families(ctx: Context) -> np.ndarray:
    """Every feature family on one context: the matrix in the targets' order."""
    f = FeatureMatrix(ctx.perm, FEATURE_NAMES)
    totals = window_totals(ctx)
    prev_max = amount_family(ctx, totals, f)
    velocity_family(ctx, totals, prev_max, f)
    flow_family(ctx, totals, f)
    # The matrix holds what the amount families computed; free their intermediates before the
    # (wallet, value) pair sorts of the access family, which set the peak memory.
    del totals, prev_max
    ctx.release_amounts()
    access_family(ctx, f)
    return f.done()


_TX_ACCESS = ("ip_address", "counterparty_wallet_id", "country", "device_id")
_LOGIN_ACCESS = ("ip_address", "country", "device_id")


def _check_transactions(df: pd.DataFrame) -> None:
    missing = [c for c in TX_REQUIRED if c not in df.columns and c != "ip_address"]
    if missing:
        raise InputError(f"transactions: missing required column(s) {missing}")


_TYPE_INDEX = {t: i for i, t in enumerate(TX_TYPES)}


def _type_codes(df: pd.DataFrame) -> np.ndarray:
    """Each row's index in TX_TYPES: "" (missing) and an unknown type both get -1."""
    small = small_text(df["type"], lower=True) if "type" in df.columns else None
    if small is not None:
        return np.array([_TYPE_INDEX.get(k, -1) for k in small], np.int8)
    kind_codes, kinds = pd.factorize(text(df, "type", len(df), lower=True))
    lut = np.array([TX_TYPES.index(k) if k in TX_TYPES else -1 for k in kinds] + [-1], np.int8)
    return lut[kind_codes]


def _prepare_transactions(df: pd.DataFrame) -> pd.DataFrame:
    _check_transactions(df)
    columns = {
        "transaction_id": as_str(df["transaction_id"]).reset_index(drop=True),
        "wallet_id": as_str(df["wallet_id"]).reset_index(drop=True),
        "ts": utc_ns(df["timestamp"]),
        "amount": pd.to_numeric(df["amount"]).to_numpy(dtype=np.float64),
        "tcode": _type_codes(df),
    }
    for col in _TX_ACCESS:
        columns[col] = text(df, col, len(df), upper=col == "country")
    return frame(columns, pd.RangeIndex(len(df)))  # once: a follower's small batches feel each insert


def _coded_transactions(df: pd.DataFrame, geo: Locator, vocab: Vocabulary, locate: bool
                        ) -> dict:
    """`vocab.code(prepare_transactions(df, geo, locate))`'s columns on arrays: the same values,
    dtypes."""
    _check_transactions(df)
    ids = pd.arrays.ArrowStringArray(arrow_str(df["transaction_id"]))
    columns = {
        "transaction_id": ids,
        "wallet_id": vocab.code_values("wallet", df["wallet_id"]),
        "ts": utc_ns(df["timestamp"]),
        "amount": _amounts(df["amount"]),
        "tcode": _type_codes(df),
        **_coded_access(df, _TX_ACCESS, locate, ids, "transaction_id", "transactions", geo,
                        vocab),
    }
    return columns


def _amounts(values: pd.Series) -> np.ndarray:
    if values.dtype == np.float64:  # parsed already (a follower's rows): as to_numeric leaves them
        return values.to_numpy()
    return pd.to_numeric(values).to_numpy(dtype=np.float64)


def _coded_access(df: pd.DataFrame, cols: tuple[str, ...], locate: bool, ids, id_name: str,
                  what: str, geo: Locator, vocab: Vocabulary) -> dict:
    """The optional text columns `cols` as `text` gives them, countries located where `locate`
    (`Locator.fill` on arrays), coded by `vocab` in `cols`' order, as `Vocabulary.code` codes
    a prepared frame's columns. A few rows of ASCII text are done on lists (`small_text`,
    `Locator.fill_list`, `Vocabulary.code_list`) when there is nothing to warn about."""
    n = len(df)
    small = {col: (small_text(df[col], upper=col == "country") if col in df.columns
                   else [None] * n) for col in cols} if n <= SMALL_ROWS else {}
    if small and all(v is not None for v in small.values()):
        country = geo.fill_list(small["ip_address"] if locate else None, small["country"])
        if country is not None:
            small["country"] = country
            return {col: vocab.code_list(CODED[col], small[col]) for col in cols}
    access = {col: (text_arrow(df[col], upper=col == "country") if col in df.columns
                    else pa.nulls(n, pa.large_string())) for col in cols}
    access["country"] = geo.fill_arrow(access["ip_address"] if locate else None,
                                       access["country"], pa.array(ids), id_name, what)
    return {col: vocab.code_values(CODED[col], access[col]) for col in cols}


def _check_logins(logins: pd.DataFrame) -> None:
    missing = [c for c in LOGIN_REQUIRED if c not in logins.columns and c != "login_id"]
    if missing:
        raise InputError(f"logins: missing required column(s) {missing}")


def _login_ids(logins: pd.DataFrame) -> pd.Series:
    if "login_id" in logins.columns:
        return as_str(logins["login_id"]).reset_index(drop=True)
    return pd.Series(np.arange(len(logins)).astype(str), dtype="string[pyarrow]")


def _coded_logins(logins: pd.DataFrame, geo: Locator, vocab: Vocabulary) -> dict:
    """`vocab.code(prepare_logins(logins, geo))`'s columns on arrays: the same values, dtypes."""
    _check_logins(logins)
    ids = (pd.arrays.ArrowStringArray(arrow_str(logins["login_id"]))
           if "login_id" in logins.columns else _login_ids(logins).array)
    columns = {
        "login_id": ids,
        "wallet_id": vocab.code_values("wallet", logins["wallet_id"]),
        "ts": utc_ns(logins["timestamp"]),
        "success": flag(logins["success"]).astype(np.int64),
        **_coded_access(logins, _LOGIN_ACCESS, "ip_address" in logins.columns, ids, "login_id",
                        "logins", geo, vocab),
    }
    return columns


def _prepare_logins(logins: pd.DataFrame, t_lo: int, t_hi: int) -> pd.DataFrame:
    """The logins in [t_lo, t_hi] as the context reads them."""
    _check_logins(logins)
    lts = utc_ns(logins["timestamp"])
    keep = (lts >= t_lo) & (lts <= t_hi)
    lsub = logins if keep.all() else logins[keep]  # a follower's logins: all kept, no copy
    columns = {
        "login_id": _login_ids(lsub),
        "wallet_id": as_str(lsub["wallet_id"]).reset_index(drop=True),
        "ts": lts[keep],
        "success": flag(lsub["success"]).astype(np.int64),
    }
    for col in _LOGIN_ACCESS:
        columns[col] = text(lsub, col, len(lsub), upper=col == "country")
    return frame(columns, pd.RangeIndex(len(lsub)))

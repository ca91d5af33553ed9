"""From simulated arrays to the contract's frames and CSV files; no random draws here.

`assemble` merges legitimate and injected events in time order, numbers them and builds the
frames (labels and episodes included); `write` writes the five contract CSVs with ISO-8601
UTC timestamps and amounts with exactly two decimals (or, as Parquet, folders of part files
written a chunk at a time). Text is built in Arrow, never one
Python string per row.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from wallet_monitor import schema
from wallet_monitor.synth.geo import COUNTRIES, ip_country
from wallet_monitor.synth.injector import Ledger
from wallet_monitor.synth.world import TOKENS, TYPE_NAMES, World

logger = logging.getLogger(__name__)

# The generator writes every optional column of the contract, in the contract's order.
WALLET_COLUMNS = [*schema.WALLET_REQUIRED, *schema.WALLET_OPTIONAL]
TRANSACTION_COLUMNS = [*schema.TX_REQUIRED, *schema.TX_OPTIONAL]
LOGIN_COLUMNS = [*schema.LOGIN_REQUIRED, *schema.LOGIN_OPTIONAL]
LABEL_COLUMNS = list(schema.LABEL_COLUMNS)
EPISODE_COLUMNS = ["episode_id", "scenario", "variant", "wallet_id", "transaction_ids"]
FILES = {"wallets": schema.WALLETS_FILE, "transactions": schema.TRANSACTIONS_FILE,
         "new_transactions": schema.NEW_TRANSACTIONS_FILE, "logins": schema.LOGINS_FILE,
         "labels": schema.LABELS_FILE}


# --- text columns ------------------------------------------------------------------------------

def _take_str(vocab, idx: np.ndarray):
    """Strings ``vocab[idx]`` as a pandas ``str`` array, built in Arrow without Python objects."""
    arr = pa.array(vocab, type=pa.large_string()).take(pa.array(idx))
    return pd.array(arr, dtype="str")


def _ip_text(ip: np.ndarray):
    uniq, inv = np.unique(ip, return_inverse=True)
    vocab = [f"{x >> 24}.{x >> 16 & 255}.{x >> 8 & 255}.{x & 255}" for x in uniq.tolist()]
    return _take_str(vocab, inv)


def _device_text(dev: np.ndarray):
    uniq, inv = np.unique(dev, return_inverse=True)
    return _take_str([f"dev-{x:012x}" for x in uniq.tolist()], inv)


def _seq_ids(prefix: str, n: int, first: int = 0):
    """Ids `prefix` + first+1 .. first+n, zero-padded to at least 8 digits."""
    width = max(8, len(str(first + n)))
    nums = pc.cast(pa.array(np.arange(first + 1, first + n + 1)), pa.large_string())
    padded = pc.utf8_lpad(nums, width=width, padding="0")
    return pd.array(pc.binary_join_element_wise(pa.scalar(prefix, pa.large_string()), padded,
                                    pa.scalar("", pa.large_string())), dtype="str")


def _utc(seconds: np.ndarray) -> pd.DatetimeIndex:
    return pd.to_datetime(np.asarray(seconds, dtype="datetime64[s]")).tz_localize("UTC")


# --- frames ------------------------------------------------------------------------------------

def _time_order(parts: list[dict]) -> tuple[dict, np.ndarray]:
    """Concatenate event dicts and sort them by time, ties in concatenation order."""
    merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((np.arange(merged["w"].size), merged["t"]))
    return {k: v[order] for k, v in merged.items()}, order


def _tx_frame(tx: dict, ids, wallet_ids: list[str]) -> pd.DataFrame:
    cp = np.where(tx["cp"] >= 0, tx["cp"], len(wallet_ids))
    return pd.DataFrame({
        "transaction_id": ids,
        "wallet_id": _take_str(wallet_ids, tx["w"]),
        "timestamp": _utc(tx["t"]),
        "amount": tx["cents"] / 100.0,
        "type": _take_str(TYPE_NAMES.tolist(), tx["type"]),
        "ip_address": _ip_text(tx["ip"]),
        "counterparty_wallet_id": _take_str([*wallet_ids, None], cp),
        "token": _take_str(TOKENS.tolist(), tx["token"]),
        "country": _take_str(COUNTRIES.tolist(), ip_country(tx["ip"])),
        "device_id": _device_text(tx["dev"]),
    })


def _login_frame(logins: dict, wallet_ids: list[str], first: int = 0) -> pd.DataFrame:
    return pd.DataFrame({
        "login_id": _seq_ids("L", logins["w"].size, first),
        "wallet_id": _take_str(wallet_ids, logins["w"]),
        "timestamp": _utc(logins["t"]),
        "ip_address": _ip_text(logins["ip"]),
        "success": logins["success"].astype(np.int8),
        "country": _take_str(COUNTRIES.tolist(), ip_country(logins["ip"])),
        "device_id": _device_text(logins["dev"]),
    })


def _wallet_frame(world: World, wallet_ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame({
        "wallet_id": pd.array(wallet_ids, dtype="str"),
        "kyc_verified": world.kyc.astype(np.int8),
        "registration_date": _utc(world.reg_s),
        "home_country": _take_str(COUNTRIES.tolist(), world.home),
    })


def _label_frames(ledger: Ledger, rank: np.ndarray, n_norm: int, tx_ids,
                  wallet_ids: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(labels, episodes)``; `rank` maps ledger index ``n_norm + i`` to its row in time order."""
    rows = []
    for i, ep in enumerate(ledger.episodes):
        ids = tx_ids.take(rank[n_norm + np.array(ep["tx"], dtype=np.int64)])
        rows.append((i, ep["scenario"], ep["variant"], wallet_ids[ep["wallet"]], tuple(ids)))
    episodes = pd.DataFrame(rows, columns=EPISODE_COLUMNS)
    scenario = np.empty(rank.size, dtype=object)
    for ep in ledger.episodes:
        scenario[rank[n_norm + np.array(ep["tx"], dtype=np.int64)]] = ep["scenario"]
    fraud_pos = np.sort(rank[n_norm:])
    labels = pd.DataFrame({"transaction_id": tx_ids.take(fraud_pos),
                           "scenario": pd.array(scenario[fraud_pos], dtype="str")})
    return labels, episodes


def assemble(world: World, tx: dict, logins: dict, ledger: Ledger,
             fraud_tokens: np.ndarray, first: dict | None = None) -> dict[str, pd.DataFrame]:
    """The frames `generate` returns, from legitimate traffic and the fraud ledger.

    `fraud_tokens` holds the token index of each ledger transaction; transactions and logins
    are numbered in time order, legitimate before injected at equal times, after `first`
    ("wallets", "transactions", "logins": how many an earlier chunk numbered; default none).
    """
    first = first or {}
    n_norm = tx["w"].size
    ftx = {k: np.array(v, dtype=np.int64) for k, v in ledger.tx.items()}
    ftx["token"] = fraud_tokens
    allt, order = _time_order([tx, ftx])
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    tx_ids = _seq_ids("T", order.size, first.get("transactions", 0))
    w0 = first.get("wallets", 0)
    wallet_ids = [f"W{i:06d}" for i in range(w0, w0 + world.n)]

    frame = _tx_frame(allt, tx_ids, wallet_ids)
    train = allt["t"] < world.holdout_s
    flog = {k: np.array(v, dtype=np.int64) for k, v in ledger.logins.items()}
    alll, _ = _time_order([logins, flog])
    labels, episodes = _label_frames(ledger, rank, n_norm, tx_ids, wallet_ids)
    return {
        "wallets": _wallet_frame(world, wallet_ids),
        "transactions": frame[train].reset_index(drop=True),
        "new_transactions": frame[~train].reset_index(drop=True),
        "logins": _login_frame(alll, wallet_ids, first.get("logins", 0)),
        "labels": labels,
        "episodes": episodes,
    }


# --- CSV and Parquet --------------------------------------------------------------------------

# Rows per Parquet part file: one part is converted to Arrow at a time, and a Dask partition
# reads one part (about 1 GB of features work per part).
PARQUET_CHUNK_ROWS = 1_000_000

_TIME_OF_DAY: list[str] = []


def _iso_text(secs: np.ndarray) -> pa.Array:
    """``YYYY-MM-DDTHH:MM:SSZ`` for epoch seconds, via per-day and per-second lookups."""
    if not _TIME_OF_DAY:
        _TIME_OF_DAY.extend(f"{h:02d}:{m:02d}:{s:02d}Z" for h in range(24) for m in range(60)
                            for s in range(60))
    days, tod = np.divmod(secs, 86400)
    first = int(days.min()) if days.size else 0
    span = np.arange(first, (int(days.max()) if days.size else first) + 1)
    dates = np.datetime_as_string(span.astype("datetime64[D]")).tolist()
    date = pa.array(dates, type=pa.large_string()).take(pa.array(days - first))
    clock = pa.array(_TIME_OF_DAY, type=pa.large_string()).take(pa.array(tod))
    return pc.binary_join_element_wise(date, clock, pa.scalar("T", pa.large_string()))


def _to_arrow(df: pd.DataFrame) -> pa.Table:
    table = pa.Table.from_pandas(df, preserve_index=False)
    for i, name in enumerate(df.columns):
        s = df[name]
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            secs = s.dt.tz_convert(None).to_numpy().astype("datetime64[s]").astype(np.int64)
            col = _iso_text(secs)
        elif name == "amount":
            # Fixed two decimals, formatted from integer cents so no float noise leaks in.
            cents = np.round(s.to_numpy(dtype=float) * 100).astype(np.int64)
            whole = pc.cast(pa.array(cents // 100), pa.string())
            frac = pc.utf8_lpad(pc.cast(pa.array(cents % 100), pa.string()), width=2, padding="0")
            col = pc.binary_join_element_wise(whole, frac, ".")
        else:
            continue
        table = table.set_column(i, name, col)
    return table


def write(frames: dict[str, pd.DataFrame], data_dir, fmt: str = "csv",
          chunk_rows: int = PARQUET_CHUNK_ROWS) -> dict[str, Path]:
    """Write the five contract files into ``data_dir`` (CSV, or with ``fmt="parquet"``
    ``NAME.parquet/`` folders of part files of ``chunk_rows`` rows); returns their paths."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        return write_parquet_chunks([frames], data_dir, chunk_rows)
    paths = {}
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    for key, fname in FILES.items():
        df = frames[key]
        path = data_dir / fname
        with pa.OSFile(str(path), "wb") as sink:
            # The header is written by hand: Arrow would quote the column names.
            sink.write((",".join(df.columns) + "\n").encode())
            if len(df):
                pacsv.write_csv(_to_arrow(df), sink, options)
        paths[key] = path
        logger.info("wrote %s: %d rows", path, len(df))
    return paths


def write_parquet_chunks(chunks, data_dir, chunk_rows: int = PARQUET_CHUNK_ROWS) -> dict[str, Path]:
    """Each contract file as ``NAME.parquet/part-NNNNN.parquet``, from `chunks` (an iterable
    of `generate`'s frames, such as `generate_chunks`), one chunk of rows converted and
    written at a time: only the chunk being written is held in memory. Timestamps are UTC
    timestamps, amounts floats (the cents / 100 the CSV's two decimals read back as)."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = {key: (data_dir / fname).with_suffix(".parquet") for key, fname in FILES.items()}
    for path in paths.values():
        if path.is_dir():
            shutil.rmtree(path)
        path.mkdir()
    parts = dict.fromkeys(FILES, 0)
    rows = dict.fromkeys(FILES, 0)
    for frames in chunks:
        for key, path in paths.items():
            df = frames[key]
            # An empty file still gets one (empty) part: its schema.
            for start in range(0, len(df) if parts[key] else max(len(df), 1), chunk_rows):
                chunk = pa.Table.from_pandas(df.iloc[start:start + chunk_rows],
                                             preserve_index=False)
                pq.write_table(chunk, path / f"part-{parts[key]:05d}.parquet")
                parts[key] += 1
            rows[key] += len(df)
    for key, path in paths.items():
        logger.info("wrote %s: %d rows in %d parts", path, rows[key], parts[key])
        if (data_dir / FILES[key]).exists():
            logger.warning("%s is read in place of %s while it exists", data_dir / FILES[key], path)
    return paths

"""features.csv: written fast (million-row files in seconds) and read back validated.

`--output-format parquet` writes `features.parquet/` instead (a folder of part files,
`transaction_id` a column); `read_features` and `features_file` read either.

Beside it, features.meta.json says how the features were computed (which database located the
addresses), so that training can record it in the model bundle.
"""

from __future__ import annotations

import json
import logging
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from wallet_monitor.io import atomic_write, write_json
from wallet_monitor.schema import InputError

logger = logging.getLogger(__name__)

_CHUNK_ROWS = 100_000
_IN_FLIGHT = 4  # chunks formatted ahead of the writer: bounds memory


def meta_path(path) -> Path:
    """The companion of a features file: features.csv -> features.meta.json."""
    return Path(path).with_suffix(".meta.json")


def write_features(features: pd.DataFrame, path, chunk_rows: int = _CHUNK_ROWS,
                   meta: dict | None = None) -> None:
    """Write features.csv via pyarrow, formatting row chunks on parallel threads (float
    formatting dominates, and pyarrow releases the GIL); atomically replaces `path`. `meta`
    (e.g. `{"geoip": database info}`) goes to its companion, with the file's size so a reader
    can tell it belongs to this file; without `meta` an older companion is removed. A `path`
    ending in `.parquet` is written as a folder of part files (`write_feature_parts`)."""
    write_feature_parts([features], path, chunk_rows, meta)


def write_feature_parts(parts, path, chunk_rows: int = _CHUNK_ROWS,
                        meta: dict | None = None) -> int:
    """`write_features` for features that arrive as an iterable of frames, in order (the Dask
    engine gathers one partition at a time); returns the rows written."""
    path = Path(path)
    if path.suffix == ".parquet":
        rows = _write_parquet_parts(parts, path)
    else:
        rows = _write_csv_parts(parts, path, chunk_rows)
    companion = meta_path(path)
    if meta is None:
        companion.unlink(missing_ok=True)
    else:
        write_json(companion, {**meta, "rows": rows, "features_bytes": _size(path)},
                   durable=False, indent=2)
    return rows


def _write_csv_parts(parts, path: Path, chunk_rows: int) -> int:
    rows = 0
    header = True

    def render(chunk: pd.DataFrame, first: bool) -> bytes:
        # Round one chunk at a time: a full rounded copy would double peak memory.
        sink = pa.BufferOutputStream()
        options = pacsv.WriteOptions(include_header=first)
        pacsv.write_csv(pa.Table.from_pandas(chunk.round(6), preserve_index=False), sink,
                        write_options=options)
        return sink.getvalue().to_pybytes()

    # Not fsynced: features.csv is derived data, rebuilt by rerunning the step.
    with atomic_write(path, "wb", durable=False) as fh, ThreadPoolExecutor(max_workers=2) as pool:
        for features in parts:
            if not len(features) and not header:
                continue
            n_chunks = max(1, -(-len(features) // chunk_rows))
            for start in range(0, n_chunks, _IN_FLIGHT):
                chunks = [(features.iloc[i * chunk_rows: (i + 1) * chunk_rows], header and i == 0)
                          for i in range(start, min(start + _IN_FLIGHT, n_chunks))]
                for part in pool.map(lambda c: render(*c), chunks):
                    fh.write(part)
            header = False
            rows += len(features)
    return rows


def _write_parquet_parts(parts, path: Path) -> int:
    """A folder of part files, replaced whole: written beside, then renamed over."""
    tmp = path.with_name(path.name + ".tmp")
    _remove(tmp)
    tmp.mkdir(parents=True)
    rows = 0
    for i, features in enumerate(parts):
        if len(features) or i == 0:
            pq.write_table(pa.Table.from_pandas(features, preserve_index=False),
                           tmp / f"part-{i:05d}.parquet")
        rows += len(features)
    _remove(path)
    tmp.rename(path)
    return rows


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _size(path: Path) -> int:
    """Bytes of a file, or of the part files of a folder."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def features_file(data_dir, name: str = "features.csv") -> Path:
    """The features to train on: features.csv, or features.parquet where only it exists or
    it is the newer of the two."""
    csv = Path(data_dir) / name
    parquet = csv.with_suffix(".parquet")
    if parquet.exists() and (not csv.exists() or parquet.stat().st_mtime > csv.stat().st_mtime):
        return parquet
    return csv


def read_features_meta(path) -> dict:
    """What the companion of features file `path` says; {} when there is none, or when it
    describes another file (the size differs: features.csv was rewritten by something else)."""
    companion = meta_path(path)
    if not companion.exists():
        return {}
    try:
        meta = json.loads(companion.read_text())
        size = _size(Path(path))
    except (OSError, ValueError) as exc:
        logger.warning("%s ignored: %s", companion, exc)
        return {}
    if not isinstance(meta, dict) or meta.get("features_bytes") != size:
        logger.warning("%s ignored: it does not describe %s", companion, path)
        return {}
    return meta


def read_features(path) -> pd.DataFrame:
    """features.csv as written by `write_features`, checked: an id column, numeric features,
    no NaN or infinity."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: not found; run feature_engineering.py first")
    if path.suffix == ".parquet":
        files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
        features = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    else:
        features = pd.read_csv(path, engine="pyarrow")
    return check_features(features, path)


def check_features(features: pd.DataFrame, path) -> pd.DataFrame:
    """`read_features`' checks on rows read from `path` (also a sample of them)."""
    if "transaction_id" not in features.columns:
        raise InputError(f"{path}: column transaction_id is missing")
    bad = [
        c
        for c in features.columns
        if c != "transaction_id" and not pd.api.types.is_numeric_dtype(features[c])
    ]
    if bad:
        raise InputError(f"{path}: non-numeric feature columns {bad[:5]}")
    rows = features.index[
        ~np.isfinite(features.drop(columns="transaction_id").to_numpy(dtype=float)).all(axis=1)
    ]
    if len(rows):
        raise InputError(
            f"{path}: NaN or infinite values in rows {list(rows[:5] + 2)} (file lines)"
        )
    return features

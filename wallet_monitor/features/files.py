"""features.csv: written fast (million-row files in seconds) and read back validated."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from wallet_monitor.io import atomic_write
from wallet_monitor.schema import InputError

_CHUNK_ROWS = 100_000
_IN_FLIGHT = 4  # chunks formatted ahead of the writer: bounds memory


def write_features(features: pd.DataFrame, path, chunk_rows: int = _CHUNK_ROWS) -> None:
    """Write features.csv via pyarrow, formatting row chunks on parallel threads (float
    formatting dominates, and pyarrow releases the GIL); atomically replaces `path`."""

    def render(i: int) -> bytes:
        # Round and convert one chunk at a time: a full rounded copy would double peak memory.
        chunk = features.iloc[i * chunk_rows : (i + 1) * chunk_rows].round(6)
        sink = pa.BufferOutputStream()
        options = pacsv.WriteOptions(include_header=i == 0)
        pacsv.write_csv(pa.Table.from_pandas(chunk, preserve_index=False), sink, write_options=options)
        return sink.getvalue().to_pybytes()

    n_chunks = max(1, -(-len(features) // chunk_rows))
    # Not fsynced: features.csv is derived data, rebuilt by rerunning the step.
    with atomic_write(path, "wb", durable=False) as fh, ThreadPoolExecutor(max_workers=2) as pool:
        for start in range(0, n_chunks, _IN_FLIGHT):
            for part in pool.map(render, range(start, min(start + _IN_FLIGHT, n_chunks))):
                fh.write(part)


def read_features(path) -> pd.DataFrame:
    """features.csv as written by `write_features`, checked: an id column, numeric features,
    no NaN or infinity."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: not found; run feature_engineering.py first")
    features = pd.read_csv(path, engine="pyarrow")
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

"""Input files as Dask frames: each partition is one part file (or a few row groups) of a
Parquet input, or one block of lines of a CSV, read on a worker and validated by the pandas
loaders' own checks (`features.load.check_transactions` / `check_logins`).

Every row gets `_row`, its place in the input (`part << 32 | row in part`), so outputs can be
written back in the input's order. A malformed part stops the run with the message the pandas
path gives (file, column, first rows: the CSV's line numbers, counted up front, or the
Parquet row numbers across its part files); duplicate ids across parts are found by one
`value_counts` over a hash of the whole column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from wallet_monitor.features.load import (
    RowsError,
    Where,
    check_logins,
    check_transactions,
    is_parquet,
    parquet_frame,
    parquet_parts,
    read_csv_block,
    read_parquet_part,
)
from wallet_monitor.schema import (
    LOGIN_OPTIONAL,
    LOGIN_REQUIRED,
    TX_OPTIONAL,
    TX_REQUIRED,
    InputError,
)

PART_ROWS = 1_000_000  # rows per read partition: a Parquet part file's row groups are grouped up to it
CSV_BLOCK_BYTES = 64 << 20  # ~600k transaction lines: a partition of about PART_ROWS / 2
_ROW_BITS = 32  # `_row` = part << 32 | row in part: parts of up to 4 billion rows

TX_TEXT = ("transaction_id", "wallet_id", "timestamp", "type", "ip_address") + TX_OPTIONAL
LOGIN_TEXT = ("login_id", "wallet_id", "timestamp", "ip_address", "success") + LOGIN_OPTIONAL
_KINDS = {"transactions": (TX_TEXT, check_transactions, "transaction_id", TX_REQUIRED),
          "logins": (LOGIN_TEXT, check_logins, "login_id", LOGIN_REQUIRED)}
# The order the loaders check in (empty values column by column, then each parse): a file's
# error is its first failing check, wherever in the file.
_PROBLEMS = ("empty value", "unparsable timestamp", "not a positive number", "unknown type",
             "expected 0/1", "duplicate id")


@dataclass(frozen=True)
class Part:
    """One partition of an input: Parquet `files` (with `groups`, those row groups of its one
    file) or the CSV bytes [start, end); `first_row` data rows of the input come before it."""

    path: str
    index: int
    first_row: int
    files: tuple[str, ...] = ()
    groups: tuple[int, ...] | None = None
    start: int = 0
    end: int = 0
    rows: int = 0  # data rows in the part (a CSV's: lines)

    def where(self) -> Where:
        return Where.of(Path(self.path), self.first_row)


def plan_parts(path) -> list[Part]:
    """The partitions of input `path` (CSV, or Parquet: a file or a folder of part files)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    return _parquet_plan(path) if is_parquet(path) else _csv_plan(path)


def _parquet_plan(path: Path) -> list[Part]:
    parts: list[Part] = []
    first = 0
    files = parquet_parts(path)
    if not files:
        raise InputError(f"{path.name}: no part files (*.parquet) in the folder")
    for f in files:
        try:
            meta = pq.ParquetFile(f).metadata
        except (OSError, ValueError) as exc:
            raise InputError(f"{path.name}: cannot be read as Parquet ({exc})") from exc
        group: list[int] = []
        rows = 0
        for g in range(meta.num_row_groups):
            n = meta.row_group(g).num_rows
            if group and rows + n > PART_ROWS:
                parts.append(Part(str(path), len(parts), first, (str(f),), tuple(group),
                                  rows=rows))
                first, group, rows = first + rows, [], 0
            group.append(g)
            rows += n
        parts.append(Part(str(path), len(parts), first, (str(f),), tuple(group) or None,
                          rows=rows))
        first += rows
    return parts


def _csv_plan(path: Path, block: int | None = None) -> list[Part]:
    """Blocks of whole lines, and the data lines before each (one pass counting newlines; a
    quoted field with a newline in it would shift the line numbers, as it would in messages of
    the pandas path)."""
    block = block or CSV_BLOCK_BYTES
    parts: list[Part] = []
    size = path.stat().st_size
    with open(path, "rb") as fh:
        start = len(fh.readline())
        lines_before = 0
        while start < size:
            fh.seek(min(start + block, size))
            end = min(fh.tell() + len(fh.readline()), size) if start + block < size else size
            fh.seek(start)
            lines = fh.read(end - start).count(b"\n")
            parts.append(Part(str(path), len(parts), lines_before, start=start, end=end,
                              rows=lines))
            lines_before += lines
            start = end
    return parts or [Part(str(path), 0, 0, start=size, end=size)]


def load_part(part: Part, kind: str) -> pd.DataFrame:
    """One partition, read and validated (ids are checked across parts by `check_unique`)."""
    text, check = _KINDS[kind][:2]
    path = Path(part.path)
    if part.files:
        df = read_parquet_part(path, [Path(f) for f in part.files], text,
                               None if part.groups is None else list(part.groups))
    else:
        df = read_csv_block(path, part.start, part.end, text)
    df = check(df, part.where(), unique=False)
    df["_row"] = np.int64(part.index << _ROW_BITS) + np.arange(len(df), dtype=np.int64)
    return df


@dataclass
class Input:
    """One input as a Dask frame (rows with `_row`), its parts, and the lazy count of its
    repeated ids (checked by `read_inputs`)."""

    frame: object
    parts: list[Part]
    kind: str
    repeated: object


def _lazy_input(path, kind: str) -> Input:
    import dask.dataframe as dd

    parts = plan_parts(path)
    frame = dd.from_map(load_part, parts, kind=kind, meta=_meta(parts[0], kind),
                        enforce_metadata=False)
    # Counted by a 64-bit hash of the id (8 bytes a row through the shuffle, not the text);
    # a repeated hash is then checked on the ids themselves.
    hashes = frame[_KINDS[kind][2]].map_partitions(_id_hash, meta=("id", "uint64"))
    counts = hashes.value_counts(split_out=max(1, len(parts) // 4))
    return Input(frame, parts, kind, counts[counts > 1])


def _id_hash(ids: pd.Series) -> pd.Series:
    return pd.Series(pd.util.hash_pandas_object(ids.astype(str), index=False).to_numpy(),
                     index=ids.index, name="id")


def _meta(part: Part, kind: str) -> pd.DataFrame:
    """The (empty) frame `load_part` returns for this input, from its first row only."""
    text, check = _KINDS[kind][:2]
    path = Path(part.path)
    if part.files:
        source = pq.ParquetFile(part.files[0])
        batch = next(source.iter_batches(batch_size=1), None)
        table = (pa.Table.from_batches([batch]) if batch is not None
                 else source.schema_arrow.empty_table())
        df = parquet_frame(table, text)
    else:
        with open(path, "rb") as fh:
            fh.seek(part.start)
            end = part.start + len(fh.readline())
        df = read_csv_block(path, part.start, min(end, part.end), text)
    try:
        df = check(df, part.where(), unique=False)
    except RowsError:
        pass  # the first row is malformed: the read reports it, with every part's
    df["_row"] = np.zeros(len(df), np.int64)
    return df.iloc[:0]


def read_inputs(specs) -> list[Input | None]:
    """Inputs `specs` ((path, kind) pairs, kind "transactions" or "logins"; None skipped) as
    lazy Dask frames; `check_inputs` validates them, in the same pass as the work reads them."""
    return [None if spec is None else _lazy_input(*spec) for spec in specs]


def check_inputs(inputs: list[Input | None], repeated: list | None = None) -> None:
    """Raise the pandas loader's message for the first malformed input, in `inputs` order (as
    the pandas path loads them): a failing check's first rows and count over every part, or
    ids repeated across parts (`repeated`: each input's computed `Input.repeated`; None:
    compute them here)."""
    import dask

    present = [i for i in inputs if i is not None]
    try:
        if repeated is None:
            repeated = list(dask.compute(*(i.repeated for i in present)))
    except RowsError:
        for i in present:
            _report_rows(i.parts, i.kind)
        raise
    for i, found in zip(present, repeated, strict=True):
        if len(found):
            _report_repeats(i.frame, _KINDS[i.kind][2], i.parts, found)


def report_rows(inputs: list[Input | None]) -> None:
    """After a RowsError from a partition: raise the whole input's message (the first input
    in order that has one)."""
    for i in inputs:
        if i is not None:
            _report_rows(i.parts, i.kind)


def time_range(parts: list[Part]) -> tuple[int, int] | None:
    """(min, max) of the `timestamp` column in ns, from the Parquet files' statistics; None
    where they do not say (CSV, text timestamps, no statistics)."""
    lo, hi = None, None
    for part in parts:
        if not part.files:
            return None
        meta = pq.ParquetFile(part.files[0]).metadata
        names = [meta.schema.column(j).name for j in range(meta.num_columns)]
        if "timestamp" not in names:
            return None
        col = names.index("timestamp")
        for g in part.groups if part.groups is not None else range(meta.num_row_groups):
            stats = meta.row_group(g).column(col).statistics
            if stats is None or not stats.has_min_max or not hasattr(stats.min, "year"):
                return None
            a, b = pd.Timestamp(stats.min), pd.Timestamp(stats.max)
            a, b = (t.tz_localize("UTC") if t.tzinfo is None else t for t in (a, b))
            lo = a.value if lo is None else min(lo, a.value)
            hi = b.value if hi is None else max(hi, b.value)
    return None if lo is None else (lo, hi)


def read_input(path, kind: str) -> tuple[object, list[Part]]:
    """One input, validated now: (frame, parts)."""
    inputs = read_inputs([(path, kind)])
    check_inputs(inputs)
    return inputs[0].frame, inputs[0].parts


def row_divisions(parts: list[Part]) -> tuple[int, ...]:
    """Divisions on `_row` with one output partition per input part, in the input's order."""
    n = len(parts)
    return tuple(p << _ROW_BITS for p in range(n)) + (((n - 1) << _ROW_BITS) + (1 << _ROW_BITS) - 1,)


def _part_error(part: Part, kind: str):
    """What the loaders' checks find in one part: None, or (step, col, problem, rows, count)."""
    try:
        load_part(part, kind)
    except RowsError as exc:
        required = _KINDS[kind][3]
        problem = next(i for i, w in enumerate(_PROBLEMS) if exc.problem.startswith(w))
        column = required.index(exc.col) if exc.col in required else len(required)
        return (problem, column), exc.col, exc.problem, exc.shown, exc.count
    return None


def _report_rows(parts: list[Part], kind: str) -> None:
    """Raise the error the pandas loader gives for the whole input: its first failing check,
    with the first rows and the count over every part that fails it."""
    import dask

    found = [f for f in dask.compute(*(dask.delayed(_part_error)(p, kind) for p in parts)) if f]
    if not found:
        return
    first = min(f[0] for f in found)
    same = [f for f in found if f[0] == first]
    shown = [row for f in same for row in f[3]]
    raise RowsError(Path(parts[0].path).name, same[0][1], same[0][2], shown,
                    sum(f[4] for f in same))


def _report_repeats(frame, col: str, parts: list[Part], repeated: pd.Series) -> None:
    """Raise the pandas loaders' "duplicate id" message: the later occurrences, first rows in
    the input's order."""
    hashes = set(repeated.index.tolist())
    rows = frame[[col, "_row"]].map_partitions(
        lambda df: df[_id_hash(df[col]).isin(hashes)]).compute()
    rows = rows.sort_values("_row", kind="stable")
    later = rows[rows[col].duplicated(keep="first")]
    if not len(later):  # only the hashes collided
        return
    shown = []
    for value, row in zip(later[col].head(3), later["_row"].head(3), strict=True):
        where = parts[int(row) >> _ROW_BITS].where()
        shown.append((f"{where.word} {where.first + (int(row) & ((1 << _ROW_BITS) - 1))}", value))
    raise RowsError(Path(parts[0].path).name, col, "duplicate id", shown, len(later))

"""File writes that a crash cannot leave half done, one way for every module.

`atomic_write` writes to a temporary file beside the target and renames it over the target,
so a reader sees the old file or the new one, never a torn one; with `durable` the bytes are
fsynced before the rename (the spool, checkpoints, the model), so a rename that survived a
crash names complete data. `append_durable` appends whole lines and fsyncs them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def atomic_write(path, mode: str = "wb", durable: bool = True) -> Iterator[IO]:
    """Open a temporary file for writing; on a clean exit it replaces `path`, on an error it
    is removed and `path` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, mode) as fh:
            yield fh
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path, obj, durable: bool = True, indent: int | None = 1) -> None:
    """`obj` as JSON, atomically."""
    with atomic_write(path, "w", durable) as fh:
        json.dump(obj, fh, indent=indent)
        if indent is not None:
            fh.write("\n")


def write_jsonl(path, records: list[dict]) -> None:
    """One JSON object per line, atomically and durably; an empty list removes the file."""
    path = Path(path)
    if not records:
        path.unlink(missing_ok=True)
        return
    with atomic_write(path, "w") as fh:
        for r in records:
            fh.write(json.dumps(r) + "\n")


def append_durable(path, lines: list[str]) -> None:
    """Append `lines` (each without its newline) and fsync them."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        for line in lines:
            fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())

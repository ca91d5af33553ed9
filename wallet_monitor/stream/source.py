"""Where a follower's events come from.

A `TransactionSource` owns its position: the follower asks it for new rows (`poll`), for its
position to put in a checkpoint (`position`), and, on restart, to replay what it had handed
over up to a checkpointed position (`replay`) so the state can be rebuilt; `commit` tells it
that everything polled so far is written and alerted (a broker source acknowledges then).
`FileSource` follows an appended CSV file (or standard input) and logins.csv.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from wallet_monitor.stream.notify import FileWatch
from wallet_monitor.stream.parse import RawRows, csv_rows, split_header

logger = logging.getLogger(__name__)

READ_BYTES = 8 << 20  # bytes read per file per poll


@dataclass
class Polled:
    """What one poll brought: transactions and logins as received (either may be empty)."""

    transactions: RawRows
    logins: RawRows | None
    moved: bool  # the position changed: a checkpoint is due
    # Transactions that are context only (another shard scores them; a broker source hands
    # over the receiver's copy of a transfer): retained as history, never scored.
    context: RawRows | None = None


class TransactionSource(ABC):
    """The follower's intake. Implementations: `FileSource`; a broker consumer fits the same
    five calls."""

    name: str
    has_logins: bool
    resumable: bool = True  # False where no position can be found again (standard input)

    @abstractmethod
    def context(self) -> Iterator[RawRows]:
        """Logins present before following starts: context for the first rows, not news."""

    @abstractmethod
    def owns(self, position: dict) -> bool:
        """Whether a checkpointed `position` is this source's (same files, same stream); a
        KeyError or TypeError says it is no position at all."""

    @abstractmethod
    def replay(self, position: dict) -> Iterator[RawRows]:
        """The transactions handed over before `position`, to rebuild the state on restart;
        afterwards the source continues from `position`."""

    @abstractmethod
    def poll(self, max_rows: int) -> Polled:
        """New transactions (at most `max_rows`) and logins since the last poll."""

    @abstractmethod
    def position(self) -> dict:
        """Where the source stands, as the checkpoint keeps it."""

    def commit(self) -> None:  # noqa: B027 - optional: a file source has nothing to acknowledge
        """Everything polled so far is written and alerted (files: nothing to do)."""

    def wait(self, timeout: float) -> None:
        """Block until new rows may have arrived, at most `timeout` seconds. The default sleeps
        the timeout out (a fixed poll interval); a source that is told of new rows (a file
        watch, a broker's push) returns as soon as they come. Returning early without rows is
        harmless: the follower polls and waits again."""
        time.sleep(max(0.0, timeout))

    @property
    def finished(self) -> bool:
        """No more rows will ever come (the end of standard input)."""
        return False

    def close(self) -> None:  # noqa: B027 - optional: a file source holds nothing open
        """Release what the source holds."""


class FileSource(TransactionSource):
    """Rows appended to a transactions CSV (None: standard input) and to logins.csv.

    The logins file is followed when it exists at start. Transactions are read before logins:
    a writer appends a login before the transactions it precedes, so every login at or before
    a row read is in too.
    """

    def __init__(self, transactions_path: Path | None, logins_path: Path | None = None):
        self.transactions_path = transactions_path
        self.has_logins = logins_path is not None and logins_path.exists()
        self.logins_path = logins_path if self.has_logins else None
        self.name = str(transactions_path or "stdin")
        self.resumable = transactions_path is not None
        self._tx = _Tail(transactions_path)
        self._lg = _Tail(self.logins_path) if self.has_logins else None
        # Set up before the first read, so a row written after any read wakes the next wait.
        self._watch = FileWatch([transactions_path, self.logins_path])

    def context(self) -> Iterator[RawRows]:
        if self._lg is not None:
            yield from self._lg.drain(None)

    def owns(self, position: dict) -> bool:
        return position["transactions"]["path"] == str(self.transactions_path) and (
            (position["logins"] or {}).get("path")
            == (None if self.logins_path is None else str(self.logins_path)))

    def replay(self, position: dict) -> Iterator[RawRows]:
        yield from self._tx.drain(position["transactions"]["offset"])
        logger.info("resuming %s after line %d", self._tx.name, self._tx.line)

    def poll(self, max_rows: int) -> Polled:
        tx = self._tx.rows(max_rows)
        lg, moved = None, len(tx) > 0
        if self._lg is not None:
            before = self._lg.offset
            lg = self._lg.rows(None)
            moved |= self._lg.offset != before
        return Polled(tx, lg, moved)

    def position(self) -> dict:
        return {"transactions": self._tx.position(),
                "logins": None if self._lg is None else self._lg.position()}

    def wait(self, timeout: float) -> None:
        if self.transactions_path is None:
            self._tx.arrived.wait(timeout)
            self._tx.arrived.clear()  # cleared after the wake: rows read next include its lines
        else:
            self._watch.wait(timeout)

    @property
    def finished(self) -> bool:
        return self.transactions_path is None and self._tx.eof and not self._tx.pending

    def close(self) -> None:
        self._watch.close()


class _Tail:
    """Complete lines appended to a CSV file (or stdin) since the last read.

    `offset` is the byte position after the last consumed line and `line` its 1-based number;
    a last line without its newline is left for a later read.
    """

    def __init__(self, path: Path | None):
        self.path = path  # None: standard input
        self.name = "<stdin>" if path is None else path.name
        self.offset, self.line = 0, 0
        self.header: list[str] | None = None
        self.eof = False
        self.pending: list[bytes] = []
        self._lock = threading.Lock()
        self.arrived = threading.Event()  # standard input: a line came in (or its end)
        if path is None:
            threading.Thread(target=self._pump_stdin, daemon=True).start()

    def _pump_stdin(self):
        for raw in sys.stdin.buffer:
            with self._lock:
                self.pending.append(raw)
            self.arrived.set()
        with self._lock:
            self.eof = True
        self.arrived.set()

    def rows(self, max_lines: int | None = None, until: int | None = None) -> RawRows:
        return csv_rows(self.read(max_lines, until), self.header or [], self.name)

    def drain(self, upto: int | None, batch: int = 5000) -> Iterator[RawRows]:
        """Everything up to byte `upto` (a checkpoint), or, with None, all complete lines the
        file holds now, in batches."""
        while upto is None or self.offset < upto:
            before = self.offset
            rows = self.rows(batch, until=upto)
            if self.offset == before:
                if upto is not None:
                    raise ValueError(f"{self.path} no longer holds the rows up to its checkpoint")
                return
            yield rows

    def read(self, max_lines: int | None = None, until: int | None = None) -> list[tuple[int, str]]:
        """(line number, text) of new complete data lines: at most `max_lines`, none past byte `until`."""
        raw = self._read_stdin(max_lines) if self.path is None else self._read_file(max_lines, until)
        out = []
        for chunk in raw:
            self.line += 1
            self.offset += len(chunk)
            if self.header is None:
                self.header = split_header(chunk)
                continue
            text = chunk.decode("utf-8", errors="replace").rstrip("\r\n")
            if text.strip():
                out.append((self.line, text))
        return out

    def _read_stdin(self, max_lines):
        with self._lock:
            n = len(self.pending) if max_lines is None else min(max_lines, len(self.pending))
            taken, self.pending = self.pending[:n], self.pending[n:]
        return taken

    def _read_file(self, max_lines, until):
        try:
            size = os.path.getsize(self.path)
        except FileNotFoundError:
            return []
        if size < self.offset:
            logger.warning("%s shrank below the read position; reading it again from the start", self.path)
            self.offset, self.line, self.header = 0, 0, None
        if size == self.offset:
            return []
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            want = READ_BYTES if until is None else min(READ_BYTES, until - self.offset)
            data = fh.read(want)
        lines = data.split(b"\n")[:-1]  # the part after the last newline is not complete yet
        if max_lines is not None:
            lines = lines[: max_lines + (self.header is None)]
        return [ln + b"\n" for ln in lines]

    def position(self) -> dict:
        return {"path": None if self.path is None else str(self.path), "offset": self.offset,
                "line": self.line}

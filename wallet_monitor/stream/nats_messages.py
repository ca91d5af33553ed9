"""Reading a JetStream message a shard is delivered: its partition, stream sequence, pending
count and store time (from the reply subject, without nats-py's `metadata`), and records as
the text-valued rows the follower parses."""

from __future__ import annotations

import functools
import itertools
import json


@functools.lru_cache(maxsize=4096)
def subject_partition(subject: str) -> int | None:
    """The partition a subject names (its last token, a canonical number), or None (kept for
    the few subjects a stream has: read for every message the NATS thread receives)."""
    tail = subject.rsplit(".", 1)[-1]
    return int(tail) if tail.isascii() and tail.isdigit() and str(int(tail)) == tail else None


def _ack_fields(m) -> list[str] | None:
    """A JetStream message's reply subject, split: $JS.ACK.<stream>.<consumer>.<delivered>.
    <stream seq>.<consumer seq>.<timestamp ns>.<pending> (stream and consumer names hold no
    dot); None for another form (a domain's), read through nats-py's `metadata` instead. Read
    here: `metadata` builds a Metadata with a datetime for each message, ~12 µs of the NATS
    thread a message."""
    fields = m.reply.split(".")
    return fields if len(fields) == 9 else None


def stream_seq(m) -> int:
    """A delivered message's stream sequence."""
    f = _ack_fields(m)
    return int(f[5]) if f else m.metadata.sequence.stream


def consumer_seq(m) -> int:
    """A delivered message's consumer sequence (1: the first its consumer delivered)."""
    f = _ack_fields(m)
    return int(f[6]) if f else m.metadata.sequence.consumer


def consumer_of(m) -> str:
    """The name of the consumer that delivered a message."""
    f = _ack_fields(m)
    return f[3] if f else m.metadata.consumer


def seq_pending(m) -> tuple[int, int]:
    """A delivered message's stream sequence and its consumer's pending count after it."""
    f = _ack_fields(m)
    return (int(f[5]), int(f[8])) if f else (m.metadata.sequence.stream, m.metadata.num_pending)


def stored_at(m) -> float:
    """When the stream stored a delivered message (epoch seconds)."""
    f = _ack_fields(m)
    return int(f[7]) / 1e9 if f else m.metadata.timestamp.timestamp()


def records_rows(items, columns) -> tuple[list[str], list[list]]:
    """Records as text-valued rows (a header and one list per record) with at least `columns`
    (None where absent): the columns in the order the records first name them, then the rest
    of `columns`; None for a missing, null, NaN or empty value. What `pd.DataFrame(records)` and
    its clean-up gave, as lists: a poll's few rows are checked on them without a frame
    (`RawRows.lists`), as a file's are."""
    names = dict.fromkeys(itertools.chain.from_iterable(r.keys() for _, r in items))
    names.update(dict.fromkeys(c for c in columns if c not in names))
    # Missing: absent, null, NaN (a JSON NaN: v != v), the empty text (JSON holds no other
    # value equal to ""). A JSON array or object becomes its JSON text, as a CSV field would
    # hold it: checked as any text (a list as an id had crashed every poll).
    rows = [[None if (v := r.get(c)) is None or v == "" or v != v
             else json.dumps(v) if type(v) in (list, dict) else v
             for c in names] for _, r in items]
    return list(names), rows

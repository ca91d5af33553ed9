"""The poll tracer (bench/poll_trace.py, `bench_stream.py --trace`, `bench_cluster.py --trace`)
skips a step name the code lacks, so that an older checkout can be traced: a name the current
code lacks (a function renamed or moved) would leave its step silently empty."""

from __future__ import annotations

import importlib

import pytest

from tests.conftest import load_bench

batch = load_bench("bench_batch")
trace = load_bench("poll_trace")


def _resolve(name: str):
    module, qual = name.split(":")
    owner = importlib.import_module(module)
    for part in qual.split("."):
        owner = getattr(owner, part)
    return owner


# Names only older checkouts have, kept so that a baseline is traced by the same steps.
OLDER = {"wallet_monitor.scoring:score_batch", "wallet_monitor.features.vocab:Vocabulary.compact_step"}


def _names():
    steps = {**batch.STEPS, **trace.EVICT_STEPS}
    return [(step, name) for step, names in steps.items() for name in names if name not in OLDER]


@pytest.mark.parametrize(("step", "name"), _names())
def test_every_traced_name_is_a_function_of_the_code(step, name):
    assert callable(_resolve(name)), f"{step}: {name}"


def test_medians_reads_a_trace(tmp_path):
    path = tmp_path / "polls.csv"
    head = ",".join(trace.COLUMNS)
    rows = []
    for rows_n, ms, read in ((4, 10.0, 1.0), (8, 12.0, 3.0), (16, 30.0, 2.0)):
        values = {c: 0.0 for c in trace.COLUMNS}
        values.update(start=1.0, rows=rows_n, ms=ms, read=read)
        rows.append(",".join(str(values[c]) for c in trace.COLUMNS))
    path.write_text("\n".join([head, *rows]) + "\n")
    line = trace.medians(path)
    assert line.startswith("3 polls, median 8 rows in 12.0 ms")
    assert "read 2.0" in line and "parse" not in line  # steps under 0.05 ms are left out

"""One follower poll, this code against another commit's, lock-stepped in two processes.

On a shared machine two runs of `bench_batch.py` one after the other differ by more than a
change of a few per cent, and even CPU time spreads as the neighbours' load comes and goes.
Here each version runs `bench_batch`'s feed (bench_stream's data, the look-back loaded as the
follower loads it, a real `FileSource` on appended files) in a process of its own, and the two
take turns: a batch of N rows in one, then the same N rows in the other, the first of each
pair alternating, so both see the same load. Per size: each version's median CPU time of a
poll (`time.thread_time`), and the median of the paired differences (current - baseline). The
same commit on both sides (`--baseline HEAD`, with nothing changed) shows the method's own
bias, which should be a few hundredths of a ms.

    python bench/bench_poll_ab.py [--baseline 7f9e1eb] [--sizes 1,10,30] [--repeats 100]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BASELINE = "7f9e1eb"  # the code before the follower's batch was kept as arrays (LATENCY.md)


def _child(data: Path, models: Path, warmup: int) -> None:
    """Serve batches: read N from stdin, poll N rows, print [cpu s, wall s]."""
    sys.path.insert(0, str(HERE))
    from bench_batch import WARMUP_BATCH, _Feed

    feed = _Feed(data, models, Path(tempfile.mkdtemp(prefix="bench-ab-")))
    for _ in range(warmup // WARMUP_BATCH):
        feed.batch(WARMUP_BATCH)
    print("ready", flush=True)
    for line in sys.stdin:
        c0 = time.thread_time()
        wall = feed.batch(int(line))
        print(json.dumps([time.thread_time() - c0, wall]), flush=True)


def _spawn(code: Path, data: Path, models: Path, warmup: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(code)}
    p = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child", str(data),
                          str(models), str(warmup)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, env=env, cwd=code)
    if p.stdout.readline().strip() != "ready":
        raise RuntimeError(f"the poll process for {code} did not start")
    return p


def _ask(p: subprocess.Popen, n: int) -> list[float]:
    p.stdin.write(f"{n}\n")
    p.stdin.flush()
    return json.loads(p.stdout.readline())


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] == ["--child"]:
        _child(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", default=BASELINE, help="commit to compare with (default %(default)s)")
    ap.add_argument("--sizes", default="1,10,30", help="rows per poll, comma-separated")
    ap.add_argument("--repeats", type=int, default=100, help="polls per size and version")
    ap.add_argument("--warmup", type=int, default=300, help="rows fed first, untimed")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(HERE))
    import bench_stream as bs

    data, models = bs.OUT / "data", bs.OUT / "models"
    bs._ensure_data(data, models)
    with bs._baseline(args.baseline) as base:
        base_models = bs._baseline_models(base, args.baseline, data)
        procs = {"current": _spawn(bs.ROOT, data, models, args.warmup),
                 "baseline": _spawn(base, data, base_models, args.warmup)}
        try:
            for n in (int(s) for s in args.sizes.split(",")):
                took = {k: [] for k in procs}
                for i in range(args.repeats):
                    order = list(procs) if i % 2 == 0 else list(procs)[::-1]
                    for k in order:
                        took[k].append(_ask(procs[k], n)[0] * 1e3)
                cur, old = np.array(took["current"]), np.array(took["baseline"])
                print(f"poll of {n} rows, CPU ms: current median {np.median(cur):.2f}, baseline "
                      f"{args.baseline} {np.median(old):.2f}; paired median (current - baseline) "
                      f"{np.median(cur - old):+.2f} ms, x{np.median(old) / np.median(cur):.2f} "
                      f"({args.repeats} polls each, alternated)", flush=True)
        finally:
            for p in procs.values():
                p.stdin.close()
                p.wait(60)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

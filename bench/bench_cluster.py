"""Cluster benchmark: detectors over NATS JetStream and the alert API on a store URL, beside
the embedded path (file follower + SQLite), in one run on this machine.

Runs real processes: `alert_api.py --db URL [--workers N]`, `detect_anomalies.py --follow
nats://.../STREAM --shard I/N` (N = --detectors), and publishes the holdout of a generated
dataset (bench_stream's, made in bench/out/stream when absent) with
`wallet_monitor.stream.publish.publish_events`.

1. sustained rows/s end to end: the holdout published as fast as possible; rows / (last row
   scored - first publish); the detectors' CPU seconds give rows per CPU-second (a per-core
   figure: everything shares this machine's cores);
2. latency at --rate rows/s offered for --seconds: publish -> stored in the API (alerts on a
   row's own score; the API's created_at) and publish -> scored (every row), p50/p99;
3. alerts lost and duplicated: the stored alerts against the batch path's flagged rows;
4. the alert API alone with --api-workers and twice that many workers: batched alerts/s (4
   clients posting batches of 500) and single posts/s from one client with p99. Several
   workers need a PostgreSQL store (--db postgresql://...) and an alert_api.py that takes
   --workers; otherwise the API runs one process and says so.
5. (`--parts poll`) one shard's NatsSource alone (shard 0/1, --partitions), fed a transaction
   and its login at a time, ~5 ms apart: publish -> handed over by a poll, the poll's wall time,
   publish_scored and commit (p50 / p95), and the process's CPU per row, publishing included.
Steps 1-3 run on the embedded path too (`detect_anomalies.py --follow` on a file, the API on
SQLite, one process each), in the same run on the same data. Figures are noisy on a shared
machine: the load average at start is printed.

    python bench/bench_cluster.py [--db postgresql://postgres@127.0.0.1:5432/bench]
                                  [--api-workers 2] [--detectors 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
import uuid
import zlib
from pathlib import Path

import bench_stream
import numpy as np
import pandas as pd
import replay
import requests
from poll_trace import medians, summarize

from wallet_monitor.features import load_logins, load_transactions, load_wallets
from wallet_monitor.model import load_bundle
from wallet_monitor.scoring import detect
from wallet_monitor.stream.nats_io import LoopThread, connect, delete_streams
from wallet_monitor.stream.nats_source import NatsSource
from wallet_monitor.stream.partition import parse_nats_url
from wallet_monitor.stream.publish import publish_events

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "cluster"
PY = sys.executable
CORES = os.cpu_count() or 1
QUANTILES = [50, 95, 99, 100]  # p50, p95, p99 and max, as bench_stream prints them
DEADLINE_S = 1200.0  # a run that takes longer has failed (a detector stuck or gone)


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _api_takes_workers() -> bool:
    out = subprocess.run([PY, str(ROOT / "alert_api.py"), "--help"], capture_output=True,
                         text=True).stdout
    return "--workers" in out


class Api:
    """`alert_api.py --db URL [--workers N]` on a free port, healthy once started."""

    def __init__(self, db: str, workers: int, tag: str):
        self.port = bench_stream._free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [PY, str(ROOT / "alert_api.py"), "--host", "127.0.0.1", "--port", str(self.port),
               "--db", db]
        self.workers = workers if workers > 1 and _api_takes_workers() else 1
        if self.workers > 1:
            cmd += ["--workers", str(workers)]
        env = {k: v for k, v in os.environ.items() if k != "ALERT_API_KEY"}
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                     stderr=open(OUT / f"api_{tag}.log", "w"))
        for _ in range(600):
            try:
                if requests.get(self.url + "/health", timeout=1).ok:
                    return
            except requests.ConnectionError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"alert_api.py exited; see {OUT / f'api_{tag}.log'}")
            time.sleep(0.1)

    def alerts(self) -> pd.DataFrame:
        rows, cursor = [], None
        while True:
            params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
            page = requests.get(f"{self.url}/alerts", params=params, timeout=30).json()
            rows += [(a["transaction_id"], a["created_at"]) for a in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        out = pd.DataFrame(rows, columns=["transaction_id", "created_at"])
        created = pd.to_datetime(out["created_at"], utc=True, format="ISO8601")
        out["created_s"] = (created - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
        return out

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)


def _fresh_db(db: str, tag: str) -> str:
    """The store for one measurement: a new SQLite file, or a new PostgreSQL database."""
    if db.startswith("postgresql://"):
        import psycopg  # noqa: PLC0415 - only for a PostgreSQL store

        base, _, _ = db.rpartition("/")
        name = f"bench_cluster_{tag}"
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"{base}/{name}"
    path = OUT / f"alerts_{tag}.db"
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        p.unlink(missing_ok=True)
    return str(path)


def _drop_stream(url: str) -> None:
    loop = LoopThread("bench-cleanup")

    async def go():
        nc = await connect(parse_nats_url(url), "bench-cleanup")
        await delete_streams(nc.jetstream(), parse_nats_url(url))
        await nc.close()
    try:
        loop.run(go(), 60)
    finally:
        loop.stop()


def _final(out_dir: Path) -> pd.DataFrame:
    det = pd.read_csv(out_dir / "stream_detections.csv", dtype={"transaction_id": str})
    ep = out_dir / "stream_episodes.csv"
    final = det.set_index("transaction_id")[["is_anomaly", "scored_at"]].copy()
    if ep.exists() and ep.stat().st_size:
        rises = pd.read_csv(ep, dtype={"transaction_id": str}).groupby("transaction_id").last()
        final.loc[rises.index, "is_anomaly"] = rises["is_anomaly"]
    return final.assign(own=det.set_index("transaction_id")["is_anomaly"])


def _cluster(args, data: Path, models: Path, limit: int | None, rate: float, tag: str) -> dict:
    url = f"{args.nats}/BENCH{uuid.uuid4().hex[:8]}"
    name = parse_nats_url(url).stream
    live = OUT / f"live_{tag}"
    replay.prepare(data, live, limit=0)  # wallets, history, the logins before the holdout
    tx, logins = replay.holdout_events(data, limit)
    api = Api(_fresh_db(args.db, tag), args.api_workers, tag)
    dets, cpu = [], {}
    try:
        for i in range(args.detectors):
            dets.append(subprocess.Popen(
                [*_launcher(args, f"{tag}_{i}"), str(ROOT / "detect_anomalies.py"), "--follow", url, "--shard",
                 f"{i}/{args.detectors}", "--partitions", str(args.partitions), "--max-idle", "15",
                 "--data-dir", str(live), "--models-dir", str(models), "--api-url", api.url],
                stdout=subprocess.DEVNULL, stderr=open(OUT / f"detector_{tag}_{i}.log", "w")))
        outs = [live / f"nats-{name}-{i}-of-{args.detectors}" for i in range(args.detectors)]
        while not all((o / "follow_checkpoint.json").exists() for o in outs):
            if any(d.poll() is not None for d in dets):
                raise RuntimeError(f"a detector exited; see {OUT}/detector_{tag}_*.log")
            time.sleep(0.2)
        published = publish_events(url, tx, logins, rate=rate, partitions=args.partitions)
        deadline = time.monotonic() + DEADLINE_S
        while any(d.poll() is None for d in dets):
            cpu.update({d.pid: _cpu_s(d.pid) for d in dets if d.poll() is None})
            if time.monotonic() > deadline or any(d.returncode not in (None, 0) for d in dets):
                raise RuntimeError(f"detectors did not finish; see {OUT}/detector_{tag}_*.log")
            time.sleep(0.2)
        alerts = api.alerts()
    finally:
        for d in dets:
            if d.poll() is None:
                d.terminate()
        api.stop()
        _drop_stream(url)
    final = pd.concat([_final(o) for o in outs])
    t = pd.DataFrame(published.published_at, columns=["transaction_id", "published_at"])
    span = final["scored_at"].max() - t["published_at"].min()
    on_arrival = final.index[final["own"].astype(bool)]
    lat = alerts.loc[alerts["transaction_id"].isin(on_arrival)].merge(t, on="transaction_id")
    every = final.reset_index().merge(t, on="transaction_id")
    return {"rows": len(final), "alerts": alerts, "workers": api.workers,
            "rows_per_s": len(final) / span, "cpu_s": sum(cpu.values()),
            "offered": len(t) / max(t["published_at"].max() - t["published_at"].min(), 1e-9),
            "stored_ms": np.percentile((lat["created_s"] - lat["published_at"]) * 1000, QUANTILES),
            "scored_ms": np.percentile((every["scored_at"] - every["published_at"]) * 1000,
                                       QUANTILES)}


def _launcher(args, tag: str) -> list[str]:
    """The detector's interpreter; with --trace, through bench/poll_trace.py (every poll timed
    by step to OUT/polls_TAG.csv)."""
    if not args.trace or "latency" not in tag:  # the throughput runs untraced
        return [PY]
    return [PY, str(ROOT / "bench" / "poll_trace.py"), str(OUT / f"polls_{tag}.csv")]


def _traced(args, tags: list[str]) -> None:
    for path in (OUT / f"polls_{tag}.csv" for tag in tags) if args.trace else ():
        print(f"  polls ({path}): {medians(path)}\n    {summarize(path)}", flush=True)


def _embedded(args, data: Path, models: Path, limit: int | None, rate: float, tag: str) -> dict:
    """The embedded path on the same data: one file follower, the API on a SQLite file."""
    live = OUT / f"embedded_{tag}"
    timeline = replay.prepare(data, live, limit)
    api = Api(_fresh_db(str(OUT / "embedded.db"), f"embedded_{tag}"), 1, f"embedded_{tag}")
    try:
        follower = subprocess.Popen(
            [*_launcher(args, f"embedded_{tag}"), str(ROOT / "detect_anomalies.py"), "--follow", "--data-dir", str(live),
             "--models-dir", str(models), "--api-url", api.url, "--max-idle", "15"],
            stdout=subprocess.DEVNULL, stderr=open(OUT / f"embedded_{tag}.log", "w"))
        while not (live / "follow_checkpoint.json").exists():
            if follower.poll() is not None:
                raise RuntimeError(f"follower exited; see {OUT / f'embedded_{tag}.log'}")
            time.sleep(0.2)
        timings = OUT / f"embedded_timings_{tag}.csv"
        replay.replay(live, timeline, rate=rate or None, timings=timings)
        cpu, deadline = 0.0, time.monotonic() + DEADLINE_S
        while follower.poll() is None and time.monotonic() < deadline:
            cpu = _cpu_s(follower.pid) or cpu
            time.sleep(0.2)
        alerts = api.alerts()
    finally:
        if follower.poll() is None:
            follower.terminate()
        api.stop()
    det = pd.read_csv(live / "stream_detections.csv", dtype={"transaction_id": str})
    t = pd.read_csv(timings, dtype={"transaction_id": str})
    span = det["scored_at"].max() - t["appended_at"].min()
    own = det.loc[det["is_anomaly"].astype(bool), "transaction_id"]
    lat = alerts.loc[alerts["transaction_id"].isin(own)].merge(t, on="transaction_id")
    every = det.merge(t, on="transaction_id")
    return {"rows": len(det), "alerts": alerts, "rows_per_s": len(det) / span, "cpu_s": cpu,
            "offered": len(t) / max(t["appended_at"].max() - t["appended_at"].min(), 1e-9),
            "stored_ms": np.percentile((lat["created_s"] - lat["appended_at"]) * 1000, QUANTILES),
            "scored_ms": np.percentile((every["scored_at"] - every["appended_at"]) * 1000,
                                       QUANTILES)}


def _api_only(args, workers: int, n_batches: int = 40, single_s: float = 5.0) -> dict:
    api = Api(_fresh_db(args.db, f"api{workers}"), workers, f"api{workers}")
    try:
        def batch(k):
            return [{"transaction_id": f"B{k}-{i}", "wallet_id": f"W{i % 97}", "fraud_score": 0.9,
                     "timestamp": "2026-01-01T00:00:00Z", "amount": 10.0, "type": "transfer",
                     "reasons": "bench", "model_version": "bench"} for i in range(500)]
        bodies = [batch(k) for k in range(n_batches)]
        t0 = time.perf_counter()

        def client(part):
            with requests.Session() as s:
                for body in part:
                    s.post(api.url + "/alert", json=body, timeout=60).raise_for_status()
        threads = [threading.Thread(target=client, args=(bodies[c::4],)) for c in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        batched = n_batches * 500 / (time.perf_counter() - t0)
        lat, k = [], 0
        with requests.Session() as s:
            end = time.perf_counter() + single_s
            while time.perf_counter() < end:
                body = {**batch(0)[0], "transaction_id": f"S{k}"}
                t = time.perf_counter()
                s.post(api.url + "/alert", json=body, timeout=60).raise_for_status()
                lat.append(time.perf_counter() - t)
                k += 1
        return {"workers": api.workers, "batched": batched, "single": k / single_s,
                "p99_ms": float(np.percentile(lat, 99) * 1000)}
    finally:
        api.stop()


def _poll_only(args, rows: int = 300) -> dict:
    """Step 5: the source's per-poll steps timed around one row at a time (see the docstring)."""
    url = f"{args.nats}/BENCHPOLL{uuid.uuid4().hex[:8]}"
    address = parse_nats_url(url)
    source = NatsSource(url, 0, 1, partitions=args.partitions,
                        tx_columns=["transaction_id", "wallet_id"],
                        login_columns=["login_id", "wallet_id"])
    loop = LoopThread("bench-publisher")
    nc = loop.run(connect(address, "bench-publisher"), 30)
    js = nc.jetstream()
    times: dict[str, list[float]] = {"handover": [], "poll": [], "publish_scored": [], "commit": []}

    def timed(step, call):
        t = time.perf_counter()
        out = call()
        times[step].append(time.perf_counter() - t)
        return out
    try:
        list(source.replay(None))
        source.start_scored()
        cpu = time.process_time()
        for i in range(rows):
            w = f"W{i}"
            p = zlib.crc32(w.encode()) % args.partitions  # partition_of
            for subject, key in ((address.login_subject(p), "login_id"),
                                 (address.tx_subject(p), "transaction_id")):
                body = f'{{"{key}": "E{i}", "wallet_id": "{w}"}}'.encode()
                loop.run(js.publish(subject, body), 30)
            t0, got = time.perf_counter(), 0
            while not got and time.perf_counter() - t0 < 2.0:
                source.wait(0.1)
                got = len(timed("poll", lambda: source.poll(300)).transactions)
                timed("publish_scored", lambda n=got: source.publish_scored([{"seq": 0}] * n,
                                                                            source.upto))
                timed("commit", source.commit)
            times["handover"].append(time.perf_counter() - t0)
            source.scored.clear()
            time.sleep(0.005)
        cpu_ms = (time.process_time() - cpu) / rows * 1000
    finally:
        source.close()
        loop.run(delete_streams(js, address), 60)
        loop.run(nc.close(), 30)
        loop.stop()
    return {"ms": {k: np.percentile(v, [50, 95]) * 1000 for k, v in times.items()},
            "polls_per_row": len(times["poll"]) / rows, "cpu_ms": cpu_ms}


def _batch_flagged(data: Path, models: Path) -> set:
    out = detect(load_bundle(models / "fraud_model.pkl"), load_transactions(data / "new_transactions.csv"),
                 load_transactions(data / "transactions.csv"), load_wallets(data / "wallets.csv"),
                 load_logins(data / "logins.csv"))
    return set(out.loc[out["is_anomaly"], "transaction_id"].astype(str))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--models-dir", type=Path, default=None)
    p.add_argument("--nats", default="nats://127.0.0.1:4222", help="NATS server (nats://HOST:PORT)")
    p.add_argument("--db", default="postgresql://postgres@127.0.0.1:5432/bench",
                   help="alert store URL (a fresh database per measurement, dropped after; "
                   "default: %(default)s) or a SQLite file")
    p.add_argument("--api-workers", type=int, default=2)
    p.add_argument("--detectors", type=int, default=2)
    p.add_argument("--partitions", type=int, default=64)
    p.add_argument("--rate", type=float, nargs="+", default=[1000.0],
                   help="rows/s offered for the latency, one run per rate (default 1000; "
                   "issue 20 measures 200 1000 3000)")
    p.add_argument("--seconds", type=float, default=20.0, help="length of the latency run")
    p.add_argument("--trace", action="store_true",
                   help="time every poll of the latency runs by step (bench/poll_trace.py)")
    p.add_argument("--parts", default="cluster,embedded,api",
                   help="which measurements to run (default: %(default)s)")
    args = p.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    bench_stream.OUT.mkdir(parents=True, exist_ok=True)
    args.db = args.db or str(OUT / "alerts.db")
    if "poll" in args.parts:
        r = _poll_only(args)
        print(f"one shard's NatsSource alone, {args.partitions} partitions, a row at a time (load "
              f"average {Path('/proc/loadavg').read_text().split()[0]}): " + "; ".join(
                  f"{k} p50 {v[0]:.2f} p95 {v[1]:.2f} ms" for k, v in r["ms"].items())
              + f"; {r['polls_per_row']:.2f} polls and {r['cpu_ms']:.2f} ms CPU per row", flush=True)
        if args.parts == "poll":
            return 0
    data = args.data_dir or bench_stream.OUT / "data"
    models = args.models_dir or bench_stream.OUT / "models"
    bench_stream._ensure_data(data, models)
    want = _batch_flagged(data, models)
    uptime = Path("/proc/loadavg").read_text().split()[0]
    print(f"{CORES} cores (load average {uptime} at start); store {args.db.split('@')[-1]}; {args.detectors} detectors over NATS, "
          f"{args.partitions} partitions", flush=True)

    for path, label in (("cluster", f"{args.detectors} detectors over NATS"),
                        ("embedded", "embedded (file follower + SQLite)")):
        if path not in args.parts:
            continue
        run = _cluster if path == "cluster" else _embedded
        r = run(args, data, models, None, 0.0, "throughput")
        got = r["alerts"]["transaction_id"]
        offered = "all at once" if r["offered"] > 1e6 else f"at {r['offered']:.0f}/s"
        print(f"{label} throughput: {r['rows']} rows offered {offered}, scored end "
              f"to end at {r['rows_per_s']:.0f} rows/s ({r['rows_per_s'] / CORES:.0f} per core; "
              f"{r['rows'] / max(r['cpu_s'], 1e-9):.0f} rows per detector CPU-second)   "
              f"(goal >= 3,000 rows/s)")
        print(f"  alerts: {got.nunique()} stored, {len(want - set(got))} of the batch path's "
              f"{len(want)} flagged lost, {len(got) - got.nunique()} duplicated, "
              f"{len(set(got) - want)} not flagged by batch   (goal 0 lost, 0 duplicated)",
              flush=True)
        for rate in args.rate:
            r = run(args, data, models, int(rate * args.seconds), rate, "latency")
            print(f"{label} latency at {rate:.0f} rows/s offered ({r['offered']:.0f} achieved): "
                  f"publish/append -> stored {bench_stream._fmt(r['stored_ms'])}; every row, "
                  f"-> scored {bench_stream._fmt(r['scored_ms'])}", flush=True)
            _traced(args, [f"latency_{i}" for i in range(args.detectors)] if path == "cluster"
                    else ["embedded_latency"])
    if "api" not in args.parts:
        return 0
    for workers in (args.api_workers, 2 * args.api_workers):
        a = _api_only(args, workers)
        print(f"alert API, {a['workers']} worker(s) asked {workers}: {a['batched']:.0f} batched "
              f"alerts/s (4 clients, batches of 500), {a['single']:.0f} single posts/s from one "
              f"client, p99 {a['p99_ms']:.1f} ms   (goals >= 20,000 with 4 workers; >= 500)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

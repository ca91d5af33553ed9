"""Load benchmark of the alert API against real uvicorn servers on free loopback ports.

Servers, each on a fresh database, in one run: SQLite at BASE_COMMIT (a temporary git worktree:
the store before SQLAlchemy), SQLite now, PostgreSQL with 2 and 4 workers (fresh databases on
--pg, dropped afterwards); or only ``--db URL [--workers N]``. Scenarios on each, bounded in time:
  batch    concurrent clients, BATCH_SIZE alerts per POST /alert
  single   concurrent clients, one alert per POST /alert, keep-alive sessions
  one      one client, one alert per POST, one at a time (posts/s and p99)
  rate     single posts at a fixed offered rate; latency counted from the scheduled send time
and once: the prototype's shape, a receiver that only prints each alert, one requests.post at a
time without a session. Then each database must hold exactly the alerts that got a 2xx answer.

notify   ingestion with notifications (issue 23): the ``rate`` scenario's p99 on the code before
         the outbox (``--base-rev``, checked out in a temporary git worktree), on this code with no
         subscription, and on this code with a webhook subscription to a dead receiver (a port
         nothing listens on: its deliveries fail and it is probed), interleaved over three rounds;
         besides latency it prints the server's CPU time per alert, which load on the machine
         disturbs far less.

Run: ``.venv/bin/python bench/bench_alerts.py [--seconds 6] [--notify-only]``, or ``... --db postgresql://
postgres@127.0.0.1:5432/DB --workers 4``; ``--pg-base COMMIT`` also measures PostgreSQL at COMMIT, each
server beside this code's with as many workers; ``--store [--pg-base COMMIT]`` only the
PostgreSQL store's CPU per alert, in process. Figures are noisy on a shared 2-core machine:
client and server compete for the same cores.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from wallet_monitor.api.database import database_url

ROOT = Path(__file__).resolve().parent.parent
SCENARIO_SECONDS = 6.0
BASELINE_SECONDS = 5.0
SINGLE_CLIENTS = 8
BATCH_CLIENTS = 4
BATCH_SIZE = 500
FIXED_RATE = 100.0
RATE_WORKERS = 4
REQUEST_TIMEOUT = 30.0
GOALS = {"batch_per_s": 5000.0, "batch_4_workers_per_s": 20000.0, "single_per_s": 500.0,
         "rate_p99_ms": 50.0}
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_WORKERS = (2, 4)
BASE_COMMIT = "2023f36"  # the SQLite store before SQLAlchemy (issue 21)
NOTIFY_ROUNDS = 3
STORE_BATCHES, STORE_SINGLES, STORE_ROUNDS = 40, 1000, 2  # --store: calls measured, rounds
BASE_REV = "fd9f569"  # the commit before the outbox: issue 21's SQLAlchemy store, no notifications

logger = logging.getLogger("bench_alerts")


@dataclass
class _Run:
    latencies: list[float] = field(default_factory=list)
    accepted: set[str] = field(default_factory=set)
    failed: int = 0
    alerts: int = 0
    seconds: float = 0.0
    cpu: float = 0.0  # server CPU seconds (notify scenario)
    rounds: list[_Run] = field(default_factory=list)

    def merge(self, other: _Run) -> None:
        self.latencies += other.latencies
        self.accepted |= other.accepted
        self.failed += other.failed
        self.alerts += other.alerts


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not answer {url} within {timeout} s")


def _start(cmd: list[str], ready_url: str, log_path: Path, cwd: Path = ROOT,
           env: dict[str, str] | None = None) -> subprocess.Popen:
    # The server's log goes to a file: an unread pipe would fill up and block it.
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=cwd, env=env)
    try:
        _wait_ready(ready_url, proc)
    except BaseException:
        _stop(proc)
        raise
    return proc


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _alert(tx: str, i: int) -> dict:
    return {
        "transaction_id": tx,
        "wallet_id": f"W{i % 5000:05d}",
        "fraud_score": (i % 1000) / 1000,
        "timestamp": "2026-01-05T13:45:12Z",
        "amount": 125.5 + i % 300,
        "type": "transfer",
        "reasons": "transfer velocity 1h; many distinct counterparties",
        "model_version": "bench",
    }


def _closed_loop(url: str, prefix: str, clients: int, per_request: int, seconds: float) -> _Run:
    """`clients` threads, each posting as fast as its answers come back, for `seconds`."""
    runs = [_Run() for _ in range(clients)]
    start = time.perf_counter()
    deadline = start + seconds

    def worker(k: int) -> None:
        run = runs[k]
        session = requests.Session()
        headers = {"Content-Type": "application/json"}
        for n in itertools.count():
            if time.perf_counter() >= deadline:
                break
            ids = [f"{prefix}-{k}-{n}-{j}" for j in range(per_request)]
            items = [_alert(tx, n * per_request + j) for j, tx in enumerate(ids)]
            body = json.dumps(items if per_request > 1 else items[0])
            t0 = time.perf_counter()
            try:
                r = session.post(url, data=body, headers=headers, timeout=REQUEST_TIMEOUT)
                ok = 200 <= r.status_code < 300
            except requests.RequestException:
                ok = False
            run.latencies.append(time.perf_counter() - t0)
            if ok:
                run.accepted.update(ids)
                run.alerts += per_request
            else:
                run.failed += 1
        session.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = _Run(seconds=time.perf_counter() - start)
    for run in runs:
        total.merge(run)
    return total


def _fixed_rate(url: str, prefix: str, rate: float, seconds: float) -> _Run:
    """Open loop: request i is due at start + i / rate; latency runs from that due time."""
    run = _Run()
    lock = threading.Lock()
    slots = itertools.count()
    start = time.perf_counter() + 0.05
    n_slots = int(rate * seconds)

    def worker() -> None:
        session = requests.Session()
        while True:
            with lock:
                i = next(slots)
            if i >= n_slots:
                break
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            tx = f"{prefix}-{i}"
            try:
                r = session.post(url, json=_alert(tx, i), timeout=REQUEST_TIMEOUT)
                ok = 200 <= r.status_code < 300
            except requests.RequestException:
                ok = False
            latency = time.perf_counter() - due
            with lock:
                run.latencies.append(latency)
                if ok:
                    run.accepted.add(tx)
                    run.alerts += 1
                else:
                    run.failed += 1
        session.close()

    threads = [threading.Thread(target=worker) for _ in range(RATE_WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run.seconds = time.perf_counter() - start
    return run


def _baseline(url: str, seconds: float) -> _Run:
    """The prototype client: one requests.post at a time, a new connection each time."""
    run = _Run()
    start = time.perf_counter()
    deadline = start + seconds
    i = 0
    while time.perf_counter() < deadline:
        body = {"wallet_id": f"W{i % 5000:05d}", "transaction_id": f"B-{i}", "fraud_score": -0.25}
        t0 = time.perf_counter()
        try:
            ok = requests.post(url, json=body, timeout=REQUEST_TIMEOUT).ok
        except requests.RequestException:
            ok = False
        run.latencies.append(time.perf_counter() - t0)
        run.alerts += ok
        run.failed += not ok
        i += 1
    run.seconds = time.perf_counter() - start
    return run


def _serve_baseline(port: int) -> int:
    """A receiver that only prints each alert, as the prototype's alert_api did."""
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/alert")
    def receive_alert(alert: dict) -> dict:
        print(f"ALERT: {alert}", flush=True)
        return {"status": "received"}

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=port)
    return 0


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _report(name: str, run: _Run, requests_label: str = "req") -> float:
    per_s = run.alerts / run.seconds if run.seconds else 0.0
    print(
        f"{name:<34} {per_s:>9,.0f} alerts/s  {len(run.latencies) / run.seconds:>7,.0f} {requests_label}/s"
        f"  p50 {_pct(run.latencies, 0.50):7.2f} ms  p99 {_pct(run.latencies, 0.99):7.2f} ms"
        f"  failed {run.failed}" + (f"  server CPU {run.cpu / run.alerts * 1e6:,.0f} us/alert"
                                    if run.cpu and run.alerts else "")
    )
    return per_s


def _stored_ids(db: str) -> list[str]:
    import sqlalchemy as sa

    engine = sa.create_engine(database_url(db), poolclass=sa.NullPool)
    with engine.connect() as conn:
        ids = [r[0] for r in conn.exec_driver_sql("SELECT transaction_id FROM alerts")]
    engine.dispose()
    return ids


@dataclass
class _Setup:
    """One server to measure: which code (a checkout), which database, how many workers."""

    label: str
    db: str
    workers: int = 1
    checkout: Path = ROOT


@dataclass
class _Result:
    setup: _Setup
    runs: dict[str, _Run]
    peak_mb: float | None
    ok: bool


def _measure(setup: _Setup, seconds: float, tmp_dir: Path) -> _Result:
    """Start `alert_api.py` of `setup`, run every scenario against it, check the database."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, str(setup.checkout / "alert_api.py"), "--port", str(port),
           "--db", setup.db]
    if setup.workers > 1:
        cmd += ["--workers", str(setup.workers)]
    logger.info("%s: alert_api.py on %s", setup.label, base)
    # Its own checkout's package first (the venv's editable install is another checkout).
    env = {**os.environ, "PYTHONPATH": str(setup.checkout)}
    with open(tmp_dir / f"api-{port}.log", "ab") as log:
        api = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=setup.checkout, env=env)
    runs: dict[str, _Run] = {}
    try:
        _wait_ready(f"{base}/health", api, timeout=60)
        url = f"{base}/alert"
        for key, scenario in (
            ("batch", lambda: _closed_loop(url, "B", BATCH_CLIENTS, BATCH_SIZE, seconds)),
            ("single", lambda: _closed_loop(url, "S", SINGLE_CLIENTS, 1, seconds)),
            ("one", lambda: _closed_loop(url, "O", 1, 1, seconds)),
            ("rate", lambda: _fixed_rate(url, "R", FIXED_RATE, seconds)),
        ):
            cpu = _server_cpu(api.pid, setup.db)
            runs[key] = scenario()
            runs[key].cpu = _server_cpu(api.pid, setup.db) - cpu
        peak_mb = _peak_rss_mb(api.pid) if setup.workers == 1 else None
    finally:
        _stop(api)
    stored = _stored_ids(setup.db)
    accepted = set().union(*(r.accepted for r in runs.values()))
    missing, unexpected = accepted - set(stored), set(stored) - accepted
    duplicates = len(stored) - len(set(stored))
    print(f"  {setup.label}: database {len(stored):,} stored, {len(accepted):,} answered 2xx, "
          f"{len(missing)} missing, {len(unexpected)} unexpected, {duplicates} duplicates")
    return _Result(setup, runs, peak_mb, not (missing or unexpected or duplicates))


@contextmanager
def _checkout(commit: str) -> Iterator[Path]:
    """The repository at `commit`, in a temporary git worktree removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=f"base-{commit}-"))
    subprocess.run(["git", "worktree", "add", "--detach", "--force", str(path), commit], cwd=ROOT,
                   check=True, capture_output=True)
    try:
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT,
                       capture_output=True)


@contextmanager
def _pg_databases(server: str, n: int) -> Iterator[list[str]]:
    """`n` fresh databases on the PostgreSQL `server`, dropped afterwards."""
    import sqlalchemy as sa

    names = [f"bench_alerts_{os.getpid()}_{k}" for k in range(n)]
    admin = sa.create_engine(database_url(f"{server}/postgres"), isolation_level="AUTOCOMMIT",
                             poolclass=sa.NullPool)
    with admin.connect() as conn:
        for name in names:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield [f"{server}/{name}" for name in names]
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _table(results: list[_Result], seconds: float) -> None:
    print()
    print(f"alert API benchmark ({seconds:.0f} s per scenario; client and server share this "
          f"machine's {os.cpu_count()} cores: noisy)")
    for res in results:
        print(f"{res.setup.label}:")
        _report(f"  batch of {BATCH_SIZE}, {BATCH_CLIENTS} clients", res.runs["batch"], "batch")
        _report(f"  single POST, {SINGLE_CLIENTS} clients", res.runs["single"])
        _report("  single POST, one client", res.runs["one"])
        _report(f"  single POST at {FIXED_RATE:.0f}/s offered", res.runs["rate"])
        if res.peak_mb is not None:
            print(f"  peak RSS {res.peak_mb:.0f} MB")


def _rate(run: _Run) -> float:
    return run.alerts / run.seconds if run.seconds else 0.0


def _ratios(base: _Result, new: _Result) -> None:
    for key, name in (("batch", "batched"), ("single", "single, 8 clients"), ("one", "single, one client")):
        b, n = _rate(base.runs[key]), _rate(new.runs[key])
        print(f"ratio {new.setup.label} / {base.setup.label}, {name}: {n / b:.2f}x" if b else "")
    bp99, np99 = _pct(base.runs["one"].latencies, 0.99), _pct(new.runs["one"].latencies, 0.99)
    print(f"p99 one client: {base.setup.label} {bp99:.2f} ms, {new.setup.label} {np99:.2f} ms")


def _setups(args: argparse.Namespace, tmp_dir: Path, stack: ExitStack) -> list[_Setup]:
    if args.db:
        label = f"{'PostgreSQL' if args.db.startswith('postgres') else 'SQLite'}, {args.workers} worker(s)"
        return [_Setup(label, args.db, args.workers)]
    setups = []
    if args.base_commit:
        base = stack.enter_context(_checkout(args.base_commit))
        setups.append(_Setup(f"SQLite at {args.base_commit}", str(tmp_dir / "base.db"), 1, base))
    setups.append(_Setup("SQLite", str(tmp_dir / "alerts.db")))
    pg_base = stack.enter_context(_checkout(args.pg_base)) if args.pg_base else None
    pg = iter(stack.enter_context(_pg_databases(args.pg, len(PG_WORKERS) * (2 if pg_base else 1))))
    for w in PG_WORKERS:
        if pg_base is not None:  # each beside this code's, so both see about the same load
            setups.append(_Setup(f"PostgreSQL at {args.pg_base}, {w} workers", next(pg), w, pg_base))
        setups.append(_Setup(f"PostgreSQL, {w} workers", next(pg), w))
    return setups


def _server_cpu(pid: int, db: str) -> float:
    """CPU seconds so far of the API (its workers too) and of the PostgreSQL backends serving
    ``db``: a cost per alert that the machine's load disturbs far less than rates do."""
    name = database_url(db).database if str(db).startswith("postgres") else None
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text().rpartition(")")[2].split()
            ours = int(proc.name) == pid or int(stat[1]) == pid
            if not ours and name is not None:
                ours = f" {name} " in (proc / "cmdline").read_bytes().decode(errors="replace")
            if ours:
                total += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError):
            continue  # gone meanwhile
    return total


def _notify_server(tmp_dir: Path, name: str, root: Path, dead_hook: bool) -> tuple[subprocess.Popen, str]:
    """An alert API of ``root``'s code on a fresh database; with a webhook to a dead port."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop("ALERT_API_KEY", None)
    proc = _start([sys.executable, str(root / "alert_api.py"), "--port", str(port),
                   "--db", str(tmp_dir / f"{name}.db")], f"{base}/health",
                  tmp_dir / f"{name}.log", cwd=root, env=env)
    if dead_hook:
        dead = f"http://127.0.0.1:{_free_port()}/hook"  # nothing listens there
        r = requests.post(f"{base}/webhooks", json={"url": dead, "events": ["alert.created"]},
                          timeout=REQUEST_TIMEOUT)
        r.raise_for_status()
    return proc, base


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _notify_bench(tmp_dir: Path, seconds: float, base_rev: str) -> dict[str, _Run]:
    """The fixed-rate scenario on: the base commit, no subscription, a dead receiver."""
    base_root = tmp_dir / "base"
    try:
        subprocess.run(["git", "worktree", "add", "--detach", str(base_root), base_rev], cwd=ROOT,
                       check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        logger.warning("no base run: git worktree add %s failed: %s", base_rev, exc)
        base_root = None
    setups = [("no subscription", ROOT, False), ("dead receiver", ROOT, True)]
    if base_root is not None:
        setups.insert(0, (f"base {base_rev} (no outbox)", base_root, False))
    runs = {label: _Run() for label, _, _ in setups}
    servers: dict[str, tuple[subprocess.Popen, str]] = {}
    try:
        for k, (label, root, dead) in enumerate(setups):
            servers[label] = _notify_server(tmp_dir, f"notify{k}", root, dead)
        for r in range(NOTIFY_ROUNDS):
            for label, _, _ in setups:
                logger.info("notify round %d: %s, %.0f/s for %.0f s", r + 1, label, FIXED_RATE, seconds)
                proc, url = servers[label]
                cpu = _cpu_seconds(proc.pid)
                run = _fixed_rate(f"{url}/alert", f"N{r}", FIXED_RATE, seconds)
                run.cpu = _cpu_seconds(proc.pid) - cpu
                runs[label].rounds.append(run)
                runs[label].merge(run)
                runs[label].seconds += seconds
                runs[label].cpu += run.cpu
    finally:
        for proc, _ in servers.values():
            _stop(proc)
        if base_root is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(base_root)], cwd=ROOT,
                           check=False, capture_output=True)
    return runs


def _notify_report(runs: dict[str, _Run]) -> None:
    print()
    print(f"ingestion with notifications: single POST at {FIXED_RATE:.0f}/s offered, "
          f"{NOTIFY_ROUNDS} interleaved rounds each")
    p99 = {label: _pct(run.latencies, 0.99) for label, run in runs.items()}
    for label, run in runs.items():
        _report(label, run)
        rounds = ", ".join(f"{_pct(r.latencies, 0.5):.1f}/{_pct(r.latencies, 0.99):.1f}" for r in run.rounds)
        print(f"    server CPU {run.cpu / max(run.alerts, 1) * 1000:.2f} ms per alert; "
              f"p50/p99 ms by round: {rounds}")
    reference = p99.get("no subscription")
    for label, value in p99.items():
        if label != "no subscription" and reference:
            print(f"p99 {label} / no subscription: {value / reference:.2f}x")


def _store_cost(server: str, batches: int, singles: int) -> None:
    """The PostgreSQL store alone, in this process (the ``wallet_monitor`` on PYTHONPATH), on a
    fresh database: CPU per alert of this process and of its PostgreSQL backends, and wall time
    per call, for ``add_many`` of BATCH_SIZE and for ``add``. No HTTP, no client: the machine's
    load moves these figures far less than the servers' rates."""
    import sqlalchemy as sa

    from wallet_monitor.api.schemas import AlertIn
    from wallet_monitor.api.sql_store import SqlAlertStore

    with _pg_databases(server, 1) as (url,):
        store = SqlAlertStore(url)
        name = database_url(url).database
        backends = sa.select(sa.column("pid")).select_from(sa.table("pg_stat_activity")).where(
            sa.column("datname") == name)
        logging.disable(logging.INFO)  # a log line per stored alert costs the same on both
        made = [[AlertIn(**_alert(f"C{k}-{j}", j)) for j in range(BATCH_SIZE)] for k in range(batches)]
        one = [AlertIn(**_alert(f"D{k}", k)) for k in range(singles)]
        store.add_many([AlertIn(**_alert("warm", 0))])
        store.add(AlertIn(**_alert("warm1", 1)))
        for label, work, calls, n in (
            (f"add_many of {BATCH_SIZE}", lambda: [store.add_many(b) for b in made], batches,
             batches * BATCH_SIZE),
            ("add", lambda: [store.add(a) for a in one], singles, singles),
        ):
            with store.engine.connect() as conn:
                pids = [r[0] for r in conn.execute(backends)]
            c0, b0, t0 = time.process_time(), sum(_cpu_seconds(p) for p in pids), time.perf_counter()
            work()
            t1, c1, b1 = time.perf_counter(), time.process_time(), sum(_cpu_seconds(p) for p in pids)
            print(f"  {label:<16} {((c1 - c0) + (b1 - b0)) / n * 1e6:7.1f} us CPU/alert (store "
                  f"{(c1 - c0) / n * 1e6:6.1f}, PostgreSQL {(b1 - b0) / n * 1e6:6.1f}); "
                  f"{(t1 - t0) / calls * 1e3:6.2f} ms per call", flush=True)
        store.close()


def _store_bench(args: argparse.Namespace) -> None:
    """``--store``: _store_cost for this code and, with --pg-base, for that commit, in turns."""
    checkouts = [("this code", ROOT)]
    with ExitStack() as stack:
        if args.pg_base:
            checkouts.insert(0, (args.pg_base, stack.enter_context(_checkout(args.pg_base))))
        for rnd in range(STORE_ROUNDS):
            for label, root in checkouts:
                print(f"store at {label}, round {rnd + 1} (load average "
                      f"{os.getloadavg()[0]:.1f}):", flush=True)
                subprocess.run([sys.executable, str(Path(__file__).resolve()), "--store-worker",
                                "--pg", args.pg], env={**os.environ, "PYTHONPATH": str(root)},
                               cwd=root, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=SCENARIO_SECONDS, help="per scenario")
    parser.add_argument("--baseline-seconds", type=float, default=BASELINE_SECONDS)
    parser.add_argument("--db", help="measure only this database (a file or a URL)")
    parser.add_argument("--workers", type=int, default=1, help="with --db: API worker processes")
    parser.add_argument("--pg", default=PG_SERVER,
                        help="PostgreSQL server of the comparison (default %(default)s)")
    parser.add_argument("--base-commit", default=BASE_COMMIT,
                        help="SQLite at this commit, measured in the same run ('' for none)")
    parser.add_argument("--pg-base", metavar="COMMIT",
                        help="also PostgreSQL with 2 and 4 workers at this commit, in the same run")
    parser.add_argument("--store", action="store_true",
                        help="only the PostgreSQL store's CPU per alert, without HTTP (and at --pg-base)")
    parser.add_argument("--store-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--baseline-receiver", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--notify-only", action="store_true",
                        help="run only the notifications scenario")
    parser.add_argument("--base-rev", default=BASE_REV,
                        help="the commit the notifications scenario compares with (default %(default)s)")
    args = parser.parse_args(argv)
    if args.baseline_receiver is not None:
        return _serve_baseline(args.baseline_receiver)
    if args.store_worker:
        _store_cost(args.pg, STORE_BATCHES, STORE_SINGLES)
        return 0
    if args.store:
        _store_bench(args)
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.notify_only:
        with tempfile.TemporaryDirectory(prefix="bench_alerts_") as tmp:
            _notify_report(_notify_bench(Path(tmp), args.seconds, args.base_rev))
        return 0

    with tempfile.TemporaryDirectory(prefix="bench_alerts_") as tmp, ExitStack() as stack:
        tmp_dir = Path(tmp)
        results = [_measure(setup, args.seconds, tmp_dir)
                   for setup in _setups(args, tmp_dir, stack)]
        bport = _free_port()
        logger.info("baseline receiver on port %d, %.0f s", bport, args.baseline_seconds)
        receiver = _start(
            [sys.executable, str(Path(__file__).resolve()), "--baseline-receiver", str(bport)],
            f"http://127.0.0.1:{bport}/health", tmp_dir / "baseline.log",
        )
        try:
            baseline = _baseline(f"http://127.0.0.1:{bport}/alert", args.baseline_seconds)
        finally:
            _stop(receiver)
        notify_runs = _notify_bench(tmp_dir, args.seconds, args.base_rev)

    _table(results, args.seconds)
    base_per_s = _report("prototype: print-only, no session", baseline)
    ours = next((r for r in results if r.setup.checkout == ROOT and r.setup.workers == 1), results[0])
    if base_per_s:
        print(f"ratio to the prototype ({ours.setup.label}): single {_rate(ours.runs['single']) / base_per_s:.1f}x, "
              f"batched {_rate(ours.runs['batch']) / base_per_s:.1f}x")
    if len(results) > 1 and results[0].setup.checkout != ROOT:
        _ratios(results[0], results[1])
    for base, new in itertools.pairwise(results):  # --pg-base: each beside this code's
        if base.setup.checkout != ROOT and new.setup.checkout == ROOT and base.setup.workers > 1:
            _ratios(base, new)
    for res in results:
        if res.setup.checkout != ROOT:
            continue
        goal_batch = GOALS["batch_per_s"] if res.setup.workers < 4 else GOALS["batch_4_workers_per_s"]
        for label, ok in (
            (f"batched >= {goal_batch:,.0f} alerts/s", _rate(res.runs["batch"]) >= goal_batch),
            (f"single (one client) >= {GOALS['single_per_s']:,.0f} posts/s",
             _rate(res.runs["one"]) >= GOALS["single_per_s"]),
            (f"p99 < {GOALS['rate_p99_ms']:.0f} ms at {FIXED_RATE:.0f}/s",
             _pct(res.runs["rate"].latencies, 0.99) < GOALS["rate_p99_ms"]),
        ):
            print(f"goal {res.setup.label}, {label}: {'met' if ok else 'MISSED'}")
    _notify_report(notify_runs)
    if not all(r.ok for r in results):
        print("database check FAILED: each must hold exactly the alerts that got a 2xx answer")
        return 1
    print("database check ok: each holds exactly the alerts that got a 2xx answer")
    return 0


if __name__ == "__main__":
    sys.exit(main())

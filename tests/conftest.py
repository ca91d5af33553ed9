"""Shared fixtures: one small generated dataset for the whole test session, the chain
trained on it, and real alert API servers."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

import feature_engineering
import train_model
from wallet_monitor import synth

ROOT = Path(__file__).resolve().parent.parent


def load_bench(name: str):
    """A script of bench/ as a module (bench/ is a folder of scripts, not a package)."""
    path = ROOT / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Small enough to generate in well under a second, big enough that every fraud
# scenario and variant appears in both the training and the holdout period.
SMALL_ARGS = {"n_wallets": 150, "days": 20, "holdout_days": 5, "seed": 7, "fraud_rate": 0.02}


@pytest.fixture(scope="session")
def small_frames():
    """The frames ``wallet_monitor.synth.generate`` returns for ``SMALL_ARGS`` (do not mutate)."""
    return synth.generate(**SMALL_ARGS)


@pytest.fixture(scope="session")
def small_data_dir(tmp_path_factory, small_frames):
    """A directory holding the five generated CSVs of ``SMALL_ARGS``."""
    path = tmp_path_factory.mktemp("small_data")
    synth.write(small_frames, path)
    return path


# ---- alert API: a real uvicorn running `python alert_api.py` --------------------------------
# The one place tests start the alert API (tests/api, the delivery and follower tests).

ALERT_API_TEST_KEY = "s3cret-test-key"


def _free_port() -> int:
    """A loopback port nothing listens on right now (bound to port 0, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def free_port() -> int:
    """A free loopback port: a URL nobody answers, or one to ``start_alert_api(port=...)`` on later."""
    return _free_port()


class AlertApiServer:
    """One `python alert_api.py --port P --db D` process on 127.0.0.1, healthy once started.

    ``api_key`` sets ``ALERT_API_KEY`` for the server (the caller's own one is never inherited);
    ``port`` reuses a known port, e.g. to bring an API back up where a client expects it;
    ``args`` are more command-line options (timeouts, limits, allowed hosts).
    """

    def __init__(self, db, log, api_key: str | None = None, port: int | None = None,
                 timeout: float = 30.0, args: tuple[str, ...] = ()) -> None:
        self.port = _free_port() if port is None else port
        self.db = db if "://" in str(db) else Path(db)  # a database URL or an SQLite file
        self.log = Path(log)
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_key = api_key
        self.headers = {"X-API-Key": api_key} if api_key else {}
        env = {k: v for k, v in os.environ.items() if k != "ALERT_API_KEY"}
        if api_key:
            env["ALERT_API_KEY"] = api_key
        with open(self.log, "ab") as out:  # a file, not a pipe: an unread pipe blocks the server
            self.proc = subprocess.Popen(
                [sys.executable, str(ROOT / "alert_api.py"), "--host", "127.0.0.1",
                 "--port", str(self.port), "--db", str(self.db), *args],
                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"alert_api.py exited {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"alert_api.py not healthy within {timeout} s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 2000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def transaction_ids(self) -> list[str]:
        """Every stored alert's transaction_id, newest first, read through GET /alerts paging."""
        ids: list[str] = []
        cursor = None
        while True:
            params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
            r = requests.get(f"{self.url}/alerts", params=params, headers=self.headers, timeout=10)
            r.raise_for_status()
            page = r.json()
            ids += [a["transaction_id"] for a in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return ids

    def stop(self) -> int:
        """Graceful stop (SIGTERM, the WAL is folded into the file); the exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


@pytest.fixture
def start_alert_api(tmp_path):
    """Factory: ``server = start_alert_api(db=None, api_key=None, port=None, args=())``; all stop
    at teardown.

    Call it again with the same ``db`` (and ``port``) after ``server.stop()`` for "API down,
    then back up".
    """
    servers: list[AlertApiServer] = []

    def start(db=None, api_key: str | None = None, port: int | None = None,
              args: tuple[str, ...] = ()) -> AlertApiServer:
        log = tmp_path / f"alert_api_{len(servers)}.log"
        server = AlertApiServer(db or tmp_path / "alerts.db", log, api_key=api_key, port=port,
                                args=args)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def api(start_alert_api):
    """A real alert API with a fresh database, for one test."""
    return start_alert_api()


@pytest.fixture(scope="module")
def alert_api_server(tmp_path_factory):
    """One real alert API without a key and with a fresh database, shared by a test module."""
    tmp = tmp_path_factory.mktemp("alert_api")
    server = AlertApiServer(tmp / "alerts.db", tmp / "alert_api.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def keyed_alert_api_server(tmp_path_factory):
    """Like ``alert_api_server``, but ``ALERT_API_KEY`` is ``ALERT_API_TEST_KEY``."""
    tmp = tmp_path_factory.mktemp("keyed_alert_api")
    server = AlertApiServer(tmp / "alerts.db", tmp / "alert_api.log", api_key=ALERT_API_TEST_KEY)
    yield server
    server.stop()


# ---- PostgreSQL: the machine's real server -------------------------------------------------
# One database per test session (DROP DATABASE forces a checkpoint: seconds each on a busy
# machine), and in it one schema per test (search_path in the URL), dropped after the test.

PG_SERVER = os.environ.get("WM_TEST_PG", "postgresql://postgres@127.0.0.1:5432")


def pg_admin(database: str = "test") -> sa.Engine:
    """An autocommit engine on the machine's PostgreSQL (CREATE/DROP DATABASE need one)."""
    return sa.create_engine(f"{PG_SERVER.replace('postgresql://', 'postgresql+psycopg://')}/{database}",
                            isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)


@pytest.fixture(scope="session")
def pg_database() -> str:
    """A database of this test session on the machine's PostgreSQL, dropped at the end."""
    name = f"wm_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = pg_admin()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield name
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """A ``postgresql://`` URL of an empty schema of its own (dropped after the test)."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = pg_admin(pg_database)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    yield f"{PG_SERVER}/{pg_database}?options=-csearch_path%3D{schema}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()


PG_BIN = Path(os.environ.get("WM_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


class PrivatePostgres:
    """A PostgreSQL server of one test (``initdb`` + ``pg_ctl`` of the machine's binaries) on a
    free port, to stop and start at will: a failed test never leaves the shared server down.

    PostgreSQL refuses to run as root: as root, its commands run as the ``postgres`` user.
    """

    def __init__(self) -> None:
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="wm_pg_"))
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.dir, "postgres")
        self._run("initdb", "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres",
                  "--no-sync", "--no-instructions")
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self._as, str(PG_BIN / tool), *args], check=True, cwd=self.dir,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
                   " -c full_page_writes=off -c shared_buffers=16MB")
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-o", options,
                  "-l", str(self.dir / "server.log"), "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_postgres():
    """A PostgreSQL server of this test alone (see ``PrivatePostgres``), removed after it."""
    server = PrivatePostgres()
    yield server
    server.remove()


# ---- the chain on small data: features and a trained default model ---------------------------


@pytest.fixture(scope="module")
def chain(small_data_dir, tmp_path_factory):
    """A folder (one per test module) with `data/` (the small generated set and its
    features.csv), `models/fraud_model.pkl` trained on it, and `reports/`; made by the scripts."""
    root = tmp_path_factory.mktemp("chain")
    shutil.copytree(small_data_dir, root / "data")
    assert feature_engineering.main(["--data-dir", str(root / "data")]) == 0
    assert train_model.main(["--data-dir", str(root / "data"), "--models-dir", str(root / "models"),
                             "--reports-dir", str(root / "reports")]) == 0
    return root

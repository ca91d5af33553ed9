"""Shared fixtures: one small generated dataset for the whole test session."""

from __future__ import annotations

import pytest

import data_generator

# Small enough to generate in well under a second, big enough that every fraud
# scenario and variant appears in both the training and the holdout period.
SMALL_ARGS = {"n_wallets": 150, "days": 20, "holdout_days": 5, "seed": 7, "fraud_rate": 0.02}


@pytest.fixture(scope="session")
def small_frames():
    """The frames ``data_generator.generate`` returns for ``SMALL_ARGS`` (do not mutate)."""
    return data_generator.generate(**SMALL_ARGS)


@pytest.fixture(scope="session")
def small_data_dir(tmp_path_factory, small_frames):
    """A directory holding the five generated CSVs of ``SMALL_ARGS``."""
    path = tmp_path_factory.mktemp("small_data")
    data_generator.write(small_frames, path)
    return path


# ---- alert API: a real uvicorn running `python alert_api.py` --------------------------------
# (appended for issue 5; stdlib imports are local so this block stands alone)


class AlertApiServer:
    """One `python alert_api.py --port P --db D` process on 127.0.0.1, healthy once started."""

    def __init__(self, db, log, env=None, timeout: float = 30.0) -> None:
        import socket
        import subprocess
        import sys
        import time
        from pathlib import Path

        import requests

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.db, self.log = Path(db), Path(log)
        self.url = f"http://127.0.0.1:{self.port}"
        root = Path(__file__).resolve().parent.parent
        with open(self.log, "ab") as out:  # a file, not a pipe: an unread pipe blocks the server
            self.proc = subprocess.Popen(
                [sys.executable, str(root / "alert_api.py"), "--port", str(self.port),
                 "--db", str(self.db)],
                stdout=out, stderr=subprocess.STDOUT, cwd=root, env=env,
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

    def stop(self) -> int:
        """Graceful stop (SIGTERM, the WAL is folded into the file); the exit code."""
        import subprocess

        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


@pytest.fixture
def start_alert_api(tmp_path):
    """Factory: ``server = start_alert_api(db=None, env=None)``; every server stops at teardown.

    Call it again with the same ``db`` after ``server.stop()`` for "API down, then back up".
    """
    servers: list[AlertApiServer] = []

    def start(db=None, env=None) -> AlertApiServer:
        n = len(servers)
        server = AlertApiServer(db or tmp_path / "alerts.db", tmp_path / f"alert_api_{n}.log", env)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def alert_api_server(tmp_path_factory):
    """One real alert API with a fresh database, shared by a test module."""
    tmp = tmp_path_factory.mktemp("alert_api")
    server = AlertApiServer(tmp / "alerts.db", tmp / "alert_api.log")
    yield server
    server.stop()

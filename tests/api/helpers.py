"""Helpers of the alert API tests: an app served by a real uvicorn in a thread, a session
bound to it, alert bodies, and what the database holds (read through a second store)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
import uvicorn

from tests.conftest import _free_port
from wallet_monitor.api.config import MAX_PAGE
from wallet_monitor.api.sql_store import SqlAlertStore


class Http(requests.Session):
    """A session bound to one served app: `c.post("/alert", json=...)`; `content=` is the raw body,
    sent as application/json (the only type the API reads) unless the headers say otherwise."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base

    def request(self, method, url, *args, content=None, **kwargs):
        if content is not None:
            kwargs["data"] = content
            kwargs["headers"] = {"Content-Type": "application/json", **(kwargs.get("headers") or {})}
        kwargs.setdefault("timeout", 10)
        return super().request(method, self.base + url, *args, **kwargs)


@contextmanager
def served(app) -> Iterator[Http]:
    """`app` served by uvicorn on a free 127.0.0.1 port in a thread, lifespan included."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        with Http(f"http://127.0.0.1:{port}") as c:
            yield c
    finally:
        server.should_exit = True
        thread.join(10)


def alert(tx: str = "T1", wallet: str = "W1", score: float = 0.5, **extra) -> dict:
    return {"transaction_id": tx, "wallet_id": wallet, "fraud_score": score, **extra}


@contextmanager
def second_store(db: str | Path) -> Iterator[SqlAlertStore]:
    """Another store on the same database, as another process would open it."""
    store = SqlAlertStore(db, checkpoint_seconds=None)
    try:
        yield store
    finally:
        store.close()


def stored(db: str | Path) -> list[str]:
    """Every stored transaction_id in the order stored, read by a second store (committed only)."""
    ids: list[str] = []
    with second_store(db) as store:
        cursor = None
        while True:
            items, cursor = store.query(limit=MAX_PAGE, before_id=cursor)
            ids += [a["transaction_id"] for a in items]
            if cursor is None:
                return ids[::-1]

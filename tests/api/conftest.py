"""Fixtures of the alert API tests: a database and an in-process app served on it.

``db`` is the SQLite file ``db_path`` here; test_store.py and test_routes.py override it with
one parametrized over SQLite and PostgreSQL (``both_backends``), so every behaviour they check
holds on both.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.helpers import Http, served
from wallet_monitor.api.app import create_app


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "alerts.db"


@pytest.fixture
def db(db_path: Path) -> str | Path:
    """The database the app serves: a file path or a URL (``SqlAlertStore(db)`` opens it)."""
    return db_path


def both_backends(request: pytest.FixtureRequest, db_path: Path) -> str | Path:
    """``db`` for ``request.param``: "sqlite" (``db_path``) or "postgresql" (``pg_url``)."""
    return db_path if request.param == "sqlite" else request.getfixturevalue("pg_url")


@pytest.fixture
def client(db: str | Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Http]:
    monkeypatch.delenv("ALERT_API_KEY", raising=False)
    with served(create_app(db)) as c:
        yield c

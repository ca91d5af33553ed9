"""Fixtures of the alert API tests: a database path and an in-process app served on it."""

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
def client(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Http]:
    monkeypatch.delenv("ALERT_API_KEY", raising=False)
    with served(create_app(db_path)) as c:
        yield c

"""create_app (wallet_monitor/api/app.py): the store opened at start-up, the key from the
environment, the dashboard's static files, and any store error answered 503."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.api.helpers import Http, served
from tests.api.helpers import alert as _alert
from wallet_monitor.api.app import create_app
from wallet_monitor.api.store import AlertStore, StoreError

# ---- start-up and configuration --------------------------------------------------------------


def test_store_opens_at_start_up_not_before(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALERT_API_KEY", raising=False)
    app = create_app(db_path)
    assert not db_path.exists()  # importing the module and building the app touch no file
    with served(app):  # the lifespan creates the file and the table, in WAL mode
        # A raw connection on purpose: the journal mode is a property of the file itself.
        with sqlite3.connect(db_path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert conn.execute("SELECT COUNT(*) FROM alerts").fetchone() == (0,)


def test_key_comes_from_the_environment(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERT_API_KEY", "from-env")
    with served(create_app(db_path)) as c:
        assert c.get("/alerts").status_code == 401
        assert c.get("/alerts", headers={"X-API-Key": "from-env"}).status_code == 200


def test_index_serves_the_dashboard(tmp_path: Path, db_path: Path) -> None:
    static = tmp_path / "static"
    static.mkdir()
    (static / "index.html").write_text("<html>dashboard here</html>")
    (static / "app.js").write_text("console.log('hi');")
    with served(create_app(db_path, static_dir=static)) as c:
        assert "dashboard here" in c.get("/").text
        js = c.get("/static/app.js")
        assert js.status_code == 200 and "console.log" in js.text


def test_index_placeholder_without_dashboard(tmp_path: Path, db_path: Path) -> None:
    with served(create_app(db_path, static_dir=tmp_path / "missing")) as c:
        r = c.get("/")
        assert r.status_code == 200 and "/alerts" in r.text
        assert c.get("/static/app.js").status_code == 404


# ---- database failures are 503 ---------------------------------------------------------------
# The database is broken with a raw connection: no store method would do that.


def test_health_is_503_when_the_database_fails(client: Http, db_path: Path) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute("DROP TABLE alerts")
    r = client.get("/health")
    assert r.status_code == 503
    assert r.json()["status"] == "error"


def test_write_on_a_broken_database_is_503_not_500(client: Http, db_path: Path) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute("DROP TABLE alerts")
    r = client.post("/alert", json=_alert())
    assert r.status_code == 503
    assert "Database error" in r.json()["detail"]


class _DownStore(AlertStore):
    """A store whose database is always down: the routes must need nothing but the interface."""

    closed = False

    def _down(self, *args, **kwargs):
        raise StoreError("connection refused")

    add = add_many = get = update = history = query = stats = _down

    def health(self) -> str | None:
        return "connection refused"

    def close(self) -> None:
        type(self).closed = True


def test_another_store_plugs_in_and_its_errors_are_503(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ALERT_API_KEY", raising=False)
    with served(create_app(db_path, open_store=_DownStore)) as c:
        calls = [c.post("/alert", json=_alert()), c.post("/alert", json=[_alert()]),
                 c.get("/alerts"), c.get("/alerts/1"), c.get("/alerts/1/history"), c.get("/stats"),
                 c.patch("/alerts/1", json={"status": "resolved"})]
        assert [r.status_code for r in calls] == [503] * 7
        assert all(r.headers["Retry-After"] == "1" for r in calls)
        assert {r.json()["detail"] for r in calls} == {"Database error: connection refused"}
        health = c.get("/health")
        assert health.status_code == 503
        assert health.json() == {"status": "error", "database": "connection refused"}
    assert _DownStore.closed
    assert not db_path.exists()

"""The alert store (wallet_monitor/api/store.py, sqlite_store.py): durability through the API,
and SqliteAlertStore called directly."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.api.helpers import Http, second_store, served
from tests.api.helpers import alert as _alert
from tests.api.helpers import stored as _stored
from wallet_monitor.api.app import create_app
from wallet_monitor.api.schemas import AlertIn, AlertUpdate
from wallet_monitor.api.sqlite_store import SqliteAlertStore
from wallet_monitor.api.store import (
    AlertConflict,
    AlertNotFound,
    AlertStore,
    StoreError,
    TransitionNotAllowed,
)

# ---- through the API -------------------------------------------------------------------------


def test_database_error_mid_batch_stores_nothing(client: Http, db_path: Path) -> None:
    # A raw connection to plant the fault: the third insert fails inside the transaction.
    with sqlite3.connect(db_path) as conn:
        conn.execute("CREATE TRIGGER boom BEFORE INSERT ON alerts WHEN NEW.transaction_id = 'T3'"
                     " BEGIN SELECT RAISE(ABORT, 'boom'); END")
    r = client.post("/alert", json=[_alert("T1"), _alert("T2"), _alert("T3"), _alert("T4")])
    assert r.status_code == 503
    assert _stored(db_path) == []
    assert client.post("/alert", json=[_alert("T1"), _alert("T2")]).status_code == 200  # not stuck


def test_alerts_survive_a_restart(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALERT_API_KEY", raising=False)
    with served(create_app(db_path)) as c:
        c.post("/alert", json=[_alert("T1"), _alert("T2", score=0.999)])
        c.patch("/alerts/1", json={"status": "acknowledged", "note": "on it"})
        before = c.get("/alerts").json()
    with served(create_app(db_path)) as c:
        assert c.get("/alerts").json() == before
        assert c.post("/alert", json=_alert("T1")).status_code == 200  # still idempotent
        assert c.patch("/alerts/1", json={"status": "resolved"}).status_code == 200
    assert _stored(db_path) == ["T1", "T2"]


def test_committed_write_is_visible_to_another_connection(client: Http, db_path: Path) -> None:
    # committed before the 2xx: a separate reader (another process would do the same) sees it
    assert client.post("/alert", json=_alert("T1")).status_code == 201
    assert _stored(db_path) == ["T1"]


# ---- SqliteAlertStore directly -----------------------------------------------------------------


@pytest.fixture
def store(db_path: Path):
    with second_store(db_path) as s:
        yield s


def test_sqlite_store_is_an_alert_store(store: SqliteAlertStore) -> None:
    assert isinstance(store, AlertStore)


def test_add_is_idempotent_and_get_reads_it_back(store: SqliteAlertStore) -> None:
    created, first = store.add(AlertIn(**_alert("T1", score=0.99, model_version="a")))
    again, second = store.add(AlertIn(**_alert("T1", score=0.99, model_version="b")))
    assert (created, again) == (True, False)
    assert second == first == store.get(first["id"])
    assert store.get(first["id"] + 1) is None


def test_a_repeat_with_other_content_is_a_conflict_and_changes_nothing(
    store: SqliteAlertStore
) -> None:
    _, first = store.add(AlertIn(**_alert("T1", score=0.99)))
    with pytest.raises(AlertConflict) as raised:
        store.add(AlertIn(**_alert("T1", score=0.1)))
    assert raised.value.transaction_ids == ["T1"]
    assert raised.value.pairs[0][1]["fraud_score"] == 0.99  # the content that stands
    with pytest.raises(AlertConflict):
        store.add_many([AlertIn(**_alert("T2")), AlertIn(**_alert("T1", score=0.1))])
    assert store.try_add_now(AlertIn(**_alert("T1", score=0.99))) == (False, first)
    with pytest.raises(AlertConflict):
        store.try_add_now(AlertIn(**_alert("T1", score=0.5)))
    assert [a["transaction_id"] for a in store.query()[0]] == ["T1"]


def test_try_add_now_gives_up_when_another_connection_holds_the_lock(
    store: SqliteAlertStore, db_path: Path
) -> None:
    # A raw connection stands for another process (SQLite locks the file the same way).
    other = sqlite3.connect(db_path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        assert store.try_add_now(AlertIn(**_alert("T1"))) is None
        other.execute("ROLLBACK")
    finally:
        other.close()
    created, _ = store.try_add_now(AlertIn(**_alert("T1")))
    assert created


def test_try_add_now_never_waits_for_the_write_lock(store: SqliteAlertStore) -> None:
    # Held as a batch or PATCH in another thread would hold it.
    with store._write_lock:
        assert store.try_add_now(AlertIn(**_alert("T1"))) is None
    assert store.query()[0] == []
    created, alert = store.try_add_now(AlertIn(**_alert("T1")))
    assert created and store.get(alert["id"]) == alert


def test_update_refuses_a_missing_alert_or_a_forbidden_transition(store: SqliteAlertStore) -> None:
    _, alert = store.add(AlertIn(**_alert()))
    with pytest.raises(AlertNotFound):
        store.update(alert["id"] + 1, AlertUpdate(status="resolved"))
    store.update(alert["id"], AlertUpdate(status="resolved"))
    before = store.get(alert["id"])
    with pytest.raises(TransitionNotAllowed, match="from resolved to open"):
        store.update(alert["id"], AlertUpdate(status="open", note="no"))
    assert store.get(alert["id"]) == before


def test_sqlite_errors_leave_as_store_error(store: SqliteAlertStore, db_path: Path) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute("DROP TABLE alerts")
    with pytest.raises(StoreError, match="no such table"):
        store.get(1)
    assert "no such table" in store.health()

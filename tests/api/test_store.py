"""The alert store (wallet_monitor/api/store.py, sql_store.py, migrate.py): durability through the
API, SqlAlertStore called directly, and the schema's migrations; on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tests.api.conftest import both_backends
from tests.api.helpers import Http, second_store, served
from tests.api.helpers import alert as _alert
from tests.api.helpers import stored as _stored
from wallet_monitor.api import migrate
from wallet_monitor.api.app import create_app
from wallet_monitor.api.database import DatabaseUrlError, database_url
from wallet_monitor.api.schemas import AlertIn, AlertUpdate
from wallet_monitor.api.sql_store import SqlAlertStore
from wallet_monitor.api.store import (
    AlertConflict,
    AlertNotFound,
    AlertStore,
    StoreError,
    TransitionNotAllowed,
)
from wallet_monitor.api.tables import metadata

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, db_path: Path) -> str | Path:
    return both_backends(request, db_path)


def _engine(db: str | Path) -> sa.Engine:
    """A plain engine on the store's database, to plant faults no store method would."""
    return sa.create_engine(database_url(db), poolclass=sa.NullPool)


def _run(db: str | Path, *statements: str) -> None:
    engine = _engine(db)
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
    engine.dispose()


def _is_sqlite(db: str | Path) -> bool:
    return database_url(db).get_backend_name() == "sqlite"


# ---- through the API -------------------------------------------------------------------------


def test_database_error_mid_batch_stores_nothing(client: Http, db: str | Path) -> None:
    # A trigger plants the fault: the third insert fails inside the transaction.
    if _is_sqlite(db):
        _run(db, "CREATE TRIGGER boom BEFORE INSERT ON alerts WHEN NEW.transaction_id = 'T3'"
                 " BEGIN SELECT RAISE(ABORT, 'boom'); END")
    else:
        _run(db, "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS"
                 " $$ BEGIN RAISE EXCEPTION 'boom'; END $$",
             "CREATE TRIGGER boom BEFORE INSERT ON alerts FOR EACH ROW"
             " WHEN (NEW.transaction_id = 'T3') EXECUTE FUNCTION boom()")
    r = client.post("/alert", json=[_alert("T1"), _alert("T2"), _alert("T3"), _alert("T4")])
    assert r.status_code == 503 and "boom" in r.json()["detail"]
    assert _stored(db) == []
    assert client.post("/alert", json=[_alert("T1"), _alert("T2")]).status_code == 200  # not stuck


def test_alerts_survive_a_restart(db: str | Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALERT_API_KEY", raising=False)
    with served(create_app(db)) as c:
        c.post("/alert", json=[_alert("T1"), _alert("T2", score=0.999)])
        c.patch("/alerts/1", json={"status": "acknowledged", "note": "on it"})
        before = c.get("/alerts").json()
    with served(create_app(db)) as c:
        assert c.get("/alerts").json() == before
        assert c.post("/alert", json=_alert("T1")).status_code == 200  # still idempotent
        assert c.patch("/alerts/1", json={"status": "resolved"}).status_code == 200
    assert _stored(db) == ["T1", "T2"]


def test_committed_write_is_visible_to_another_connection(client: Http, db: str | Path) -> None:
    # committed before the 2xx: a separate reader (another process would do the same) sees it
    assert client.post("/alert", json=_alert("T1")).status_code == 201
    assert _stored(db) == ["T1"]


# ---- SqlAlertStore directly --------------------------------------------------------------------


@pytest.fixture
def store(db: str | Path):
    with second_store(db) as s:
        yield s


def test_the_store_is_an_alert_store(store: SqlAlertStore) -> None:
    assert isinstance(store, AlertStore)


def test_add_is_idempotent_and_get_reads_it_back(store: SqlAlertStore) -> None:
    created, first = store.add(AlertIn(**_alert("T1", score=0.99, model_version="a")))
    again, second = store.add(AlertIn(**_alert("T1", score=0.99, model_version="b")))
    assert (created, again) == (True, False)
    assert second == first == store.get(first["id"])
    assert store.get(first["id"] + 1) is None


def test_a_repeat_with_other_content_is_a_conflict_and_changes_nothing(
    store: SqlAlertStore
) -> None:
    _, first = store.add(AlertIn(**_alert("T1", score=0.99)))
    with pytest.raises(AlertConflict) as raised:
        store.add(AlertIn(**_alert("T1", score=0.1)))
    assert raised.value.transaction_ids == ["T1"]
    assert raised.value.pairs[0][1]["fraud_score"] == 0.99  # the content that stands
    with pytest.raises(AlertConflict) as raised:
        store.add_many([AlertIn(**_alert("T2")), AlertIn(**_alert("T3")),
                        AlertIn(**_alert("T3", score=0.7)), AlertIn(**_alert("T1", score=0.1))])
    assert raised.value.transaction_ids == ["T3", "T1"]  # every conflict, batch and stored
    assert store.add(AlertIn(**_alert("T1", score=0.99))) == (False, first)
    if store.dialect == "sqlite":
        assert store.try_add_now(AlertIn(**_alert("T1", score=0.99))) == (False, first)
        with pytest.raises(AlertConflict):
            store.try_add_now(AlertIn(**_alert("T1", score=0.5)))
    assert [a["transaction_id"] for a in store.query()[0]] == ["T1"]


def test_two_processes_storing_the_same_batch_at_once_store_each_alert_once(
    db: str | Path,
) -> None:
    # Two stores, each with its own pool, stand for two API workers.
    batch = [AlertIn(**_alert(f"T{i}", score=i / 100)) for i in range(200)]
    results, errors = [], []
    stores = [SqlAlertStore(db, checkpoint_seconds=None) for _ in range(2)]
    start = threading.Barrier(2)

    def post(store: SqlAlertStore) -> None:
        start.wait()
        try:
            for k in range(0, 200, 20):
                results.append(store.add_many(batch[k:k + 40]))
        except Exception as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=post, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for s in stores:
        s.close()
    assert errors == []
    created = [tx for r in results for tx in r["created"]]
    assert sorted(created) == sorted(a.transaction_id for a in batch)  # each created once
    assert sorted(_stored(db)) == sorted(created)


def test_try_add_now_gives_up_when_another_connection_holds_the_lock(
    db_path: Path,
) -> None:
    # A raw connection stands for another process (SQLite locks the file the same way).
    with second_store(db_path) as store:
        other = sqlite3.connect(db_path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            assert store.try_add_now(AlertIn(**_alert("T1"))) is None
            other.execute("ROLLBACK")
        finally:
            other.close()
        created, _ = store.try_add_now(AlertIn(**_alert("T1")))
        assert created


def test_try_add_now_never_waits_for_the_write_lock(db_path: Path) -> None:
    with second_store(db_path) as store:
        # Held as a batch or PATCH in another thread would hold it.
        with store._write_lock:
            assert store.try_add_now(AlertIn(**_alert("T1"))) is None
        assert store.query()[0] == []
        created, alert = store.try_add_now(AlertIn(**_alert("T1")))
        assert created and store.get(alert["id"]) == alert


def test_try_add_now_leaves_a_networked_write_to_the_thread_pool(pg_url: str) -> None:
    with second_store(pg_url) as store:
        assert store.try_add_now(AlertIn(**_alert("T1"))) is None
        assert store.query()[0] == []


def test_a_batch_keeps_every_score_and_amount_bit_for_bit(store: SqlAlertStore) -> None:
    # On PostgreSQL a batch travels as JSON text: repr must come back as the same double.
    values = [0.1 + 0.2, 5e-324, 1.7976931348623157e308, 2 / 3, 123456789.00000001, 0.0]
    store.add_many([AlertIn(**_alert(f"T{i}", score=-v, amount=v, reasons="é \u202e \U0001F600 \"q\"\\"))
                    for i, v in enumerate(values)])
    got = {a["transaction_id"]: a for a in store.query(limit=len(values))[0]}
    for i, v in enumerate(values):
        assert (got[f"T{i}"]["fraud_score"], got[f"T{i}"]["amount"]) == (-v, v)
        assert got[f"T{i}"]["reasons"] == "é \u202e \U0001F600 \"q\"\\"


def test_a_single_alert_stored_alone_leaves_the_next_batch_atomic(store: SqlAlertStore) -> None:
    # On PostgreSQL a single new alert is one autocommitted statement: the pooled connection
    # must be back in transactions after it, or a conflicting batch would be half stored.
    store.add(AlertIn(**_alert("T1", score=0.5)))
    with pytest.raises(AlertConflict):
        store.add_many([AlertIn(**_alert("T2")), AlertIn(**_alert("T1", score=0.9))])
    assert [a["transaction_id"] for a in store.query()[0]] == ["T1"]


def test_after_a_postgresql_restart_one_single_alert_fails_and_the_next_is_stored(
        private_postgres) -> None:
    with second_store(private_postgres.url) as store:
        held = [store.engine.connect() for _ in range(3)]  # three connections in the pool
        for conn in held:
            conn.close()
        store.add(AlertIn(**_alert("T1")))
        private_postgres.stop()
        private_postgres.start()
        with pytest.raises(StoreError):  # the pooled connection died with the server
            store.add(AlertIn(**_alert("T2")))
        assert store.add(AlertIn(**_alert("T2")))[0]  # a new pool, not the next dead one
        assert [a["transaction_id"] for a in store.query()[0]] == ["T2", "T1"]


def test_update_refuses_a_missing_alert_or_a_forbidden_transition(store: SqlAlertStore) -> None:
    _, alert = store.add(AlertIn(**_alert()))
    with pytest.raises(AlertNotFound):
        store.update(alert["id"] + 1, AlertUpdate(status="resolved"))
    store.update(alert["id"], AlertUpdate(status="resolved"))
    before = store.get(alert["id"])
    with pytest.raises(TransitionNotAllowed, match="from resolved to open"):
        store.update(alert["id"], AlertUpdate(status="open", note="no"))
    assert store.get(alert["id"]) == before


def test_database_errors_leave_as_store_error(store: SqlAlertStore, db: str | Path) -> None:
    _run(db, "DROP TABLE alerts")
    missing = "no such table" if store.dialect == "sqlite" else 'relation "alerts" does not exist'
    with pytest.raises(StoreError, match=missing):
        store.get(1)
    assert missing in store.health()


def test_an_unreachable_database_is_a_store_error(free_port: int) -> None:
    with pytest.raises(StoreError, match="127.0.0.1"):
        SqlAlertStore(f"postgresql://postgres@127.0.0.1:{free_port}/none")


# ---- --db values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("db", "url"), [
    ("data/alerts.db", "sqlite:///data/alerts.db"),
    ("sqlite:///data/alerts.db", "sqlite:///data/alerts.db"),
    ("sqlite:////tmp/a.db", "sqlite:////tmp/a.db"),
    ("postgresql://u@h:5433/alerts", "postgresql+psycopg://u@h:5433/alerts"),
    ("postgres://u@h/alerts", "postgresql+psycopg://u@h/alerts"),
    ("postgresql+psycopg://u@h/alerts", "postgresql+psycopg://u@h/alerts"),
])
def test_db_names_a_file_or_a_url(db: str, url: str) -> None:
    assert database_url(db).render_as_string() == url


@pytest.mark.parametrize("db", ["mysql://u@h/a", "sqlite://", "sqlite:///:memory:", "oops://"])
def test_an_unsupported_db_is_refused(db: str) -> None:
    with pytest.raises(DatabaseUrlError):
        database_url(db)


# ---- migrations ----------------------------------------------------------------------------------


def test_an_empty_database_is_migrated_to_head_once(db: str | Path) -> None:
    engine = _engine(db)
    assert migrate.upgrade(engine) is True
    assert migrate.upgrade(engine) is False  # at head: nothing to do
    with engine.connect() as conn:
        assert migrate.current(conn) == migrate.head()
        assert {"alerts", "alert_history"} <= set(sa.inspect(conn).get_table_names())
    engine.dispose()


def test_a_store_made_before_migrations_is_upgraded_in_place(tmp_path: Path) -> None:
    # alerts_v0.db was written by issue 19's SqliteAlertStore (the last one before Alembic);
    # alerts_v0.json is what that store read back from it.
    db = tmp_path / "alerts.db"
    shutil.copy(DATA / "alerts_v0.db", db)
    expected = json.loads((DATA / "alerts_v0.json").read_text())
    with second_store(db) as store:
        items, cursor = store.query(limit=500)
        assert (items, cursor) == (expected["alerts"], None)
        for alert in items:
            assert store.history(alert["id"], limit=500) == (expected["history"][str(alert["id"])], None)
        # and it goes on: new alerts after the old ids, triage appended to the old history
        created, new = store.add(AlertIn(**_alert("T-new")))
        assert created and new["id"] == max(a["id"] for a in items) + 1
        updated = store.update(1, AlertUpdate(status="resolved", note="done"))
        assert updated["history_total"] == items[-1]["history_total"] + 1
        assert store.history(1, limit=1)[0] == [updated["history"][-1]]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(migrate.head(),)]


def _drift(engine: sa.Engine) -> list:
    """What Alembic's autogenerate would change to make the database match tables.metadata."""
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(context, metadata)


def test_the_migrations_build_exactly_the_tables_module(db: str | Path) -> None:
    # A table or column added to tables.py without a revision (or the reverse) fails here.
    engine = _engine(db)
    migrate.upgrade(engine)
    assert _drift(engine) == []
    engine.dispose()


def test_an_adopted_store_differs_only_in_type_names_sqlite_treats_alike(tmp_path: Path) -> None:
    db = tmp_path / "alerts.db"
    shutil.copy(DATA / "alerts_v0.db", db)
    engine = _engine(db)
    migrate.upgrade(engine)
    # REAL and DOUBLE have the same (REAL) affinity; INTEGER PRIMARY KEY is the rowid, never null.
    changes = sorted((op[0], op[3]) for diff in _drift(engine) for op in diff)
    assert changes == [("modify_nullable", "id"), ("modify_type", "amount"),
                       ("modify_type", "fraud_score")]
    engine.dispose()

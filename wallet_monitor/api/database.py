"""Which database a ``--db`` value names, and an SQLAlchemy engine tuned for it.

``--db`` is a URL (``sqlite:///data/alerts.db``, ``postgresql://user@host:port/dbname``) or, as
before URLs, a bare SQLite file path. ``postgresql://`` (and ``postgres://``) URLs are served by
psycopg 3 (``postgresql+psycopg://``); no other database is supported.

SQLite: one file in WAL mode with ``synchronous=NORMAL``: every write is committed before the
2xx answer, so an alert survives a crash of this process (the commit is in the WAL file the
moment ``COMMIT`` returns); only a power cut or OS crash may roll back the last few commits, and
never corrupts the file. The driver's own transaction handling is off: a single read runs
alone, and the store begins each transaction itself, a write with ``BEGIN IMMEDIATE``
(``begin_write``) so that it takes the write lock up front instead of failing to upgrade a read
snapshot later.

PostgreSQL: a bounded pool per process (``PG_POOL_SIZE`` + ``PG_POOL_OVERFLOW``). Connections are
not pinged before each use (a round trip per request): after a server restart the first request
of each process fails (503, retried by the client) and SQLAlchemy then replaces the whole pool.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError

BUSY_TIMEOUT_MS = 5000
# Idle SQLite connections kept; more are opened (and closed on return) when threads need them.
SQLITE_POOL_SIZE = 16
# Per API process: 4 workers x 15 stay well under PostgreSQL's default max_connections (100).
PG_POOL_SIZE = 5
PG_POOL_OVERFLOW = 10
# A request waits this long for a free pooled connection before it is a 503.
PG_POOL_TIMEOUT_S = 5.0
PG_CONNECT_TIMEOUT_S = 3
# Replace a pooled connection after an hour: no firewall or proxy keeps an idle one for ever.
PG_POOL_RECYCLE_S = 3600
# SQLITE_BUSY and SQLITE_LOCKED (primary result codes): another connection holds a lock.
_BUSY_CODES = (5, 6)
# The execution option naming the statement that begins an SQLite transaction (None: none).
_BEGIN = "wm_begin"


class DatabaseUrlError(ValueError):
    """A ``--db`` value that names no database this API can use."""


def database_url(db: str | os.PathLike) -> URL:
    """The SQLAlchemy URL of ``db``: a URL, or a file path meaning SQLite."""
    text = os.fspath(db)
    if "://" not in text:
        return URL.create("sqlite", database=str(Path(text)))
    try:
        url = make_url(text)
    except ArgumentError:
        raise DatabaseUrlError(f"not a database URL: {text!r}") from None
    backend = url.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and url.get_driver_name() == "pysqlite":
        if not url.database or url.database == ":memory:":
            raise DatabaseUrlError(f"an SQLite URL needs a file: {text!r}") from None
        return url
    raise DatabaseUrlError(f"unsupported database {url.drivername!r} in {text!r}: "
                           "use sqlite:///PATH or postgresql://USER@HOST:PORT/DBNAME") from None


def describe(url: URL) -> str:
    """``url`` for a log line: the SQLite file, or the URL without its password."""
    if url.get_backend_name() == "sqlite":
        return str(url.database)
    return url.render_as_string(hide_password=True)


def create_engine(url: URL, busy_timeout_ms: int = BUSY_TIMEOUT_MS, pool_size: int | None = None) -> Engine:
    """An engine for ``url``; on SQLite its folder is made and each connection tuned."""
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(
            url, pool_size=pool_size or PG_POOL_SIZE, max_overflow=PG_POOL_OVERFLOW,
            pool_timeout=PG_POOL_TIMEOUT_S, pool_recycle=PG_POOL_RECYCLE_S,
            connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S},
        )
    Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    # check_same_thread=False: a pooled connection serves one call at a time, on any thread.
    engine = sa.create_engine(url, pool_size=pool_size or SQLITE_POOL_SIZE, max_overflow=-1,
                              connect_args={"check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _tune(dbapi_conn, _record) -> None:
        # Autocommit: a read outside a transaction is one statement; the store begins what needs
        # a transaction itself (begin_write, begin_snapshot).
        dbapi_conn.isolation_level = None
        dbapi_conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        dbapi_conn.execute("PRAGMA synchronous = NORMAL")
        # The store's checkpointer thread moves the WAL into the file: a commit then never
        # pays a checkpoint's fsyncs (measured: p999 of a single insert 24 ms with it on).
        dbapi_conn.execute("PRAGMA wal_autocheckpoint = 0")

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        # Straight to the driver: this runs once per call, and SQLAlchemy's own execute path
        # would cost more than the BEGIN itself.
        statement = conn.get_execution_options().get(_BEGIN)
        if statement is not None:
            conn.connection.dbapi_connection.execute(statement)

    return engine


def begin_write(conn: sa.Connection) -> sa.RootTransaction:
    """Begin a write transaction: on SQLite ``BEGIN IMMEDIATE`` (the write lock, now)."""
    return _begin_with(conn, "BEGIN IMMEDIATE")


@contextmanager
def write_transaction(conn: sa.Connection) -> Iterator[None]:
    """One write transaction on ``conn``, committed on exit, rolled back on any error.

    SQLite: ``BEGIN IMMEDIATE`` and ``COMMIT`` straight on the driver, which is in autocommit
    mode: SQLAlchemy's transaction bookkeeping would cost more than the commit itself (a single
    alert's insert is ~0.1 ms). Statements run through ``conn`` meanwhile join the transaction.
    """
    if conn.dialect.name != "sqlite":
        with conn.begin():
            yield
        return
    driver = conn.connection.dbapi_connection
    driver.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if driver.in_transaction:
            driver.execute("ROLLBACK")
        raise
    driver.execute("COMMIT")


def begin_snapshot(conn: sa.Connection) -> sa.RootTransaction:
    """Begin a read transaction whose statements all see one snapshot of the database."""
    if conn.dialect.name != "sqlite":  # READ COMMITTED takes a snapshot per statement
        conn.execution_options(isolation_level="REPEATABLE READ")
    return _begin_with(conn, "BEGIN")


def _begin_with(conn: sa.Connection, statement: str) -> sa.RootTransaction:
    if conn.dialect.name != "sqlite":
        return conn.begin()
    conn.execution_options(**{_BEGIN: statement})
    try:
        return conn.begin()
    finally:
        conn.execution_options(**{_BEGIN: None})


def is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` (SQLAlchemy's or the driver's) is SQLite saying another connection holds
    the lock."""
    orig = getattr(exc, "orig", exc)
    return (getattr(orig, "sqlite_errorcode", 0) & 0xFF) in _BUSY_CODES


def driver_errors(engine: Engine) -> tuple[type[BaseException], ...]:
    """What a failing database raises: SQLAlchemy's errors, and the driver's own (``Compiled``)."""
    return (sa.exc.SQLAlchemyError, engine.dialect.loaded_dbapi.Error)


def reason(exc: BaseException) -> str:
    """What went wrong, in the driver's words (without SQLAlchemy's SQL echo and links)."""
    orig = getattr(exc, "orig", None)
    return " ".join(str(orig if orig is not None else exc).split())


class Compiled:
    """A Core statement compiled once for one dialect, run on the driver's own cursor.

    For the store's hot statements (insert, read by id): per call, SQLAlchemy's execution layer
    costs more than SQLite itself (measured on this machine: a read by id 107 us of CPU through
    ``Connection.execute``, ~30 us straight on the cursor). The SQL is still Core's, rendered
    for the engine's dialect and parameter style; values must need no type conversion on the
    way in (text, floats, ints, lists for PostgreSQL arrays) and come back as the driver's.
    """

    def __init__(self, statement: sa.Executable, dialect: sa.Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self._order = tuple(compiled.positiontup) if compiled.positional else None

    def _params(self, values: dict[str, Any]) -> Any:
        return values if self._order is None else tuple(values[n] for n in self._order)

    def execute(self, conn: sa.Connection, values: dict[str, Any]) -> Any:
        """Run on ``conn``'s driver connection (inside its transaction, if any); the cursor."""
        cursor = conn.connection.dbapi_connection.cursor()
        cursor.execute(self.sql, self._params(values))
        return cursor

    def executemany(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.executemany(self.sql, [self._params(r) for r in rows])
        finally:
            cursor.close()

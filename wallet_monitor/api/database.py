"""Which database a ``--db`` value names, and an SQLAlchemy engine tuned for it.

``--db`` is a URL (``sqlite:///data/alerts.db``, ``postgresql://user@host:port/dbname``) or, as
before URLs, a bare SQLite file path. ``postgresql://`` (and ``postgres://``) URLs are served by
psycopg 3 (``postgresql+psycopg://``); no other database is supported.

SQLite: one file in WAL mode with ``synchronous=NORMAL``: every write is committed before the
2xx answer, so an alert survives a crash of this process (the commit is in the WAL file the
moment ``COMMIT`` returns); only a power cut or OS crash may roll back the last few commits, and
never corrupts the file. The driver's own transaction handling is off: the store begins each
transaction itself, a write with ``BEGIN IMMEDIATE`` (see ``begin_write``) so that it takes the
write lock up front instead of failing to upgrade a read snapshot later.

PostgreSQL: a bounded pool per process (``PG_POOL_SIZE`` + ``PG_POOL_OVERFLOW``), connections
checked before use so that a restarted server costs no failed request once it is back.
"""

from __future__ import annotations

import os
from pathlib import Path

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
# SQLITE_BUSY and SQLITE_LOCKED (primary result codes): another connection holds a lock.
_BUSY_CODES = (5, 6)
_BEGIN = "wm_begin"  # the execution option naming the statement that begins a transaction


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
            pool_timeout=PG_POOL_TIMEOUT_S, pool_pre_ping=True,
            connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S},
        )
    Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    # check_same_thread=False: a pooled connection serves one call at a time, on any thread.
    engine = sa.create_engine(url, pool_size=pool_size or SQLITE_POOL_SIZE, max_overflow=-1,
                              connect_args={"check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _tune(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # the store begins transactions (see _begin)
        dbapi_conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        dbapi_conn.execute("PRAGMA synchronous = NORMAL")
        # The store's checkpointer thread moves the WAL into the file: a commit then never
        # pays a checkpoint's fsyncs (measured: p999 of a single insert 24 ms with it on).
        dbapi_conn.execute("PRAGMA wal_autocheckpoint = 0")

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get(_BEGIN, "BEGIN"))

    return engine


def begin_write(conn: sa.Connection) -> sa.RootTransaction:
    """Begin a write transaction: on SQLite ``BEGIN IMMEDIATE`` (the write lock, now)."""
    if conn.dialect.name != "sqlite":
        return conn.begin()
    conn.execution_options(**{_BEGIN: "BEGIN IMMEDIATE"})
    try:
        return conn.begin()
    finally:
        conn.execution_options(**{_BEGIN: "BEGIN"})


def is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite saying another connection holds the lock."""
    orig = getattr(exc, "orig", None)
    return (getattr(orig, "sqlite_errorcode", 0) & 0xFF) in _BUSY_CODES


def reason(exc: BaseException) -> str:
    """What went wrong, in the driver's words (without SQLAlchemy's SQL echo and links)."""
    orig = getattr(exc, "orig", None)
    return " ".join(str(orig if orig is not None else exc).split())

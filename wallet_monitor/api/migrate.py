"""Bringing a database to the schema this version needs: the Alembic revisions in migrations/.

``upgrade(engine)`` runs every revision up to head in one transaction, under the database's
migration lock (PostgreSQL: an advisory lock; SQLite: the write lock), so that two processes
starting at once upgrade once. ``alert_api.py`` calls it once at start-up, before forking
workers; a store opened on a database already at head costs one query.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from wallet_monitor.api.database import begin_write

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# pg_advisory_xact_lock key: any constant; the one lock every API process takes to migrate.
_LOCK_KEY = 0x57A11E7

logger = logging.getLogger(__name__)


def _config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@cache
def head() -> str:
    """The newest revision: the schema this version of the code reads and writes."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def current(conn: sa.Connection) -> str | None:
    """The revision the database is at (None: never migrated, or empty)."""
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: sa.Engine) -> bool:
    """Bring the database to ``head()``; True when something was run."""
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its INFO lines say nothing new
    with engine.connect() as conn:
        with begin_write(conn):
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            before = current(conn)
            if before == head():
                return False
            command.upgrade(_config(conn), "head")
    logger.info("alert database upgraded from %s to %s", before or "nothing", head())
    return True

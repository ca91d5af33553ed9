"""Alembic's environment: run by ``migrate.upgrade`` on a connection it has already opened.

``migrate.upgrade`` passes the connection (``config.attributes["connection"]``) inside one
transaction it holds with the database's migration lock, so every revision up to head lands
together or not at all (SQLite and PostgreSQL both have transactional DDL). The ``alembic``
command line is not wired: there is no ini file, and no offline (SQL script) mode.
"""

from __future__ import annotations

from alembic import context

from wallet_monitor.api.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():  # a no-op inside migrate.upgrade's transaction
    context.run_migrations()

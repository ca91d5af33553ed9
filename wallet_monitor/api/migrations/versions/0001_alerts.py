"""The alerts and their triage history (the schema of the SQLite store before migrations).

Revision ID: 0001
Revises:
Create Date: 2026-12-07

On an empty database: creates ``alerts`` and ``alert_history``. On a SQLite file made before
migrations existed, adopts it in place, nothing lost:
- made by issue 19's store (``PRAGMA user_version`` 1): the tables are already these; only the
  Alembic version is recorded;
- made by an older one (``alerts`` alone, every triage entry in ``alerts.history``): adds
  ``history_total`` and ``alert_history``, and moves every entry after the opening one there,
  keeping the latest 20 in ``alerts.history``.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ISO_TIME = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
_HISTORY_INLINE = 20  # config.HISTORY_INLINE when this revision was written


def upgrade() -> None:
    tables = set(sa.inspect(op.get_bind()).get_table_names())
    if "alerts" not in tables:
        op.create_table(
            "alerts",
            sa.Column("id", _ID, primary_key=True, autoincrement=True),
            sa.Column("transaction_id", sa.Text, nullable=False, unique=True),
            sa.Column("wallet_id", sa.Text, nullable=False),
            sa.Column("fraud_score", sa.Double, nullable=False),
            sa.Column("severity", sa.Text, nullable=False),
            sa.Column("timestamp", sa.Text),
            sa.Column("amount", sa.Double),
            sa.Column("type", sa.Text),
            sa.Column("reasons", sa.Text),
            sa.Column("model_version", sa.Text),
            sa.Column("status", sa.Text, nullable=False, server_default="open"),
            sa.Column("note", sa.Text),
            sa.Column("created_at", _ISO_TIME, nullable=False),
            sa.Column("updated_at", _ISO_TIME, nullable=False),
            sa.Column("history", sa.Text, nullable=False, server_default="[]"),
            sa.Column("history_total", sa.Integer, nullable=False, server_default="1"),
        )
        moved = False
    else:
        columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("alerts")}
        moved = "history_total" not in columns
        if moved:
            op.add_column("alerts", sa.Column("history_total", sa.Integer, nullable=False,
                                              server_default="1"))
    op.create_index("alerts_wallet", "alerts", ["wallet_id"], if_not_exists=True)
    op.create_index("alerts_created", "alerts", ["created_at"], if_not_exists=True)
    if "alert_history" not in tables:
        op.create_table(
            "alert_history",
            sa.Column("alert_id", _ID, primary_key=True, autoincrement=False),
            sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("status", sa.Text, nullable=False),
            sa.Column("note", sa.Text),
            sa.Column("at", _ISO_TIME, nullable=False),
            sqlite_with_rowid=False,
        )
    if moved:
        _move_history(op.get_bind())


def _move_history(bind: sa.Connection) -> None:
    """A store older than alert_history kept every entry in alerts.history: move them."""
    rows = bind.execute(sa.text("SELECT id, history FROM alerts")).fetchall()
    for alert_id, history in rows:
        entries = json.loads(history)
        if len(entries) <= 1:
            continue
        bind.execute(
            sa.text("INSERT INTO alert_history (alert_id, seq, status, note, at)"
                    " VALUES (:alert_id, :seq, :status, :note, :at)"),
            [{"alert_id": alert_id, "seq": seq, "status": e["status"], "note": e["note"],
              "at": e["at"]} for seq, e in enumerate(entries[1:], 2)],
        )
        bind.execute(sa.text("UPDATE alerts SET history = :h, history_total = :n WHERE id = :id"),
                     {"h": json.dumps(entries[-_HISTORY_INLINE:]), "n": len(entries), "id": alert_id})


def downgrade() -> None:
    op.drop_table("alert_history")
    op.drop_table("alerts")

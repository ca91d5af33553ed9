"""The alert store's schema, in one SQLAlchemy ``MetaData``: the tables the store's SQL is built on.

The database itself is created and upgraded by the Alembic revisions in ``migrations/versions``
(``migrate.upgrade``), never by ``metadata.create_all``: a change here needs a new revision
beside it (``alembic revision`` with ``script_location`` = wallet_monitor/api/migrations), so
that a database made by an older version is upgraded in place. Another feature's tables (an
outbox, say) belong here too, with their own revision.

The same schema on SQLite and PostgreSQL: timestamps are ISO 8601 text (``utc_iso``: they sort
as text, and ``since`` compares them as text), histories JSON text, scores double precision.
"""

from __future__ import annotations

import sqlalchemy as sa

# 64-bit ids on PostgreSQL (BIGSERIAL); on SQLite, INTEGER PRIMARY KEY is the rowid itself.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# ISO 8601 text compared as bytes: PostgreSQL's locale collations may order punctuation otherwise.
IsoTime = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")

metadata = sa.MetaData()

alerts = sa.Table(
    "alerts", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    # Unique: a repeat (a retry, or two workers receiving the same alert) is an insert that does
    # nothing, so each transaction is stored once whichever process receives it.
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
    sa.Column("created_at", IsoTime, nullable=False),
    sa.Column("updated_at", IsoTime, nullable=False),
    # The latest HISTORY_INLINE triage entries (JSON, oldest first) and how many there are.
    sa.Column("history", sa.Text, nullable=False, server_default="[]"),
    sa.Column("history_total", sa.Integer, nullable=False, server_default="1"),
    sa.Index("alerts_wallet", "wallet_id"),
    sa.Index("alerts_created", "created_at"),
)

# Every triage entry after the opening one (entry 1 is the alert's created_at), paged by seq.
alert_history = sa.Table(
    "alert_history", metadata,
    sa.Column("alert_id", Id, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("note", sa.Text),
    sa.Column("at", IsoTime, nullable=False),
    sqlite_with_rowid=False,
)

# ---- notifications (revision 0002): subscriptions and the outbox of their deliveries ---------

# A receiver of notifications: a webhook URL, or (kind "email") the addresses of --email-to.
subscriptions = sa.Table(
    "subscriptions", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.Text, nullable=False, server_default="webhook"),  # webhook | email
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("events", sa.Text, nullable=False),  # comma-separated event types
    sa.Column("min_severity", sa.Text, nullable=False, server_default="low"),
    sa.Column("secret", sa.Text),  # whsec_...: the HMAC key of the signatures (webhooks)
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("paused_reason", sa.Text),
    sa.Column("failing_since", IsoTime),  # the first failed attempt since the last success
    # While failing: when to try one delivery again (a probe); the rest wait for a success.
    sa.Column("retry_at", IsoTime),
    sa.Column("created_at", IsoTime, nullable=False),
)

# The outbox: one row per (notification, subscription), written in the transaction that stores
# the alert or its status change; the sender delivers it and records each attempt here.
deliveries = sa.Table(
    "deliveries", metadata,
    sa.Column("id", sa.Text, primary_key=True),  # msg_...: webhook-id, the idempotency key
    sa.Column("subscription_id", Id, nullable=False),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("alert_id", Id, nullable=False),
    sa.Column("severity", sa.Text, nullable=False),
    sa.Column("digest", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("payload", sa.Text, nullable=False),  # the JSON body, as signed and sent
    sa.Column("status", sa.Text, nullable=False, server_default="pending"),  # | delivered | failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_at", IsoTime, nullable=False),
    sa.Column("created_at", IsoTime, nullable=False),
    sa.Column("last_attempt_at", IsoTime),
    sa.Column("last_error", sa.Text),
    sa.Column("delivered_at", IsoTime),
    sa.Index("deliveries_due", "status", "next_at"),
    # The sender reads each subscription's due deliveries through it: never another's backlog.
    sa.Index("deliveries_subscription", "subscription_id", "status", "next_at"),
    sa.Index("deliveries_created", "created_at"),  # GET /deliveries: newest first
)

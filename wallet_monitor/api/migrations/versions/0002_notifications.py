"""Notifications: webhook and email subscriptions, and the outbox of their deliveries.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ISO_TIME = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.Text, nullable=False, server_default="webhook"),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("events", sa.Text, nullable=False),
        sa.Column("min_severity", sa.Text, nullable=False, server_default="low"),
        sa.Column("secret", sa.Text),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("paused_reason", sa.Text),
        sa.Column("failing_since", _ISO_TIME),
        sa.Column("retry_at", _ISO_TIME),
        sa.Column("created_at", _ISO_TIME, nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("subscription_id", _ID, nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("alert_id", _ID, nullable=False),
        sa.Column("severity", sa.Text, nullable=False),
        sa.Column("digest", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_at", _ISO_TIME, nullable=False),
        sa.Column("created_at", _ISO_TIME, nullable=False),
        sa.Column("last_attempt_at", _ISO_TIME),
        sa.Column("last_error", sa.Text),
        sa.Column("delivered_at", _ISO_TIME),
    )
    op.create_index("deliveries_due", "deliveries", ["status", "next_at"])
    op.create_index("deliveries_subscription", "deliveries", ["subscription_id", "status", "next_at"])
    op.create_index("deliveries_created", "deliveries", ["created_at"])


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_table("subscriptions")

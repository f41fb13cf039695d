"""Status history: the recent polls of each source and every delivery attempt of an alert.

Named 0019c after the issue and part that added it (the status page's source and article pages).

Revision ID: 0019c
Revises: 0013
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision: str = "0019c"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "polls",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.String(40), nullable=False),
        sa.Column("http_status", sa.Integer()),
        sa.Column("new_articles", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text()),
    )
    op.create_index("ix_polls_source_id", "polls", ["source", "id"])
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("error", sa.Text()),
    )
    op.create_index("ix_delivery_attempts_alert_id", "delivery_attempts", ["alert_id"])


def downgrade() -> None:
    op.drop_table("delivery_attempts")
    op.drop_table("polls")

"""Delivery state: the digest an alert waits for, and per-channel state (disabled, rate bucket).

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("batch", sa.String(300)))
    op.create_table(
        "channel_state",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("disabled_at", UTCDateTime()),
        sa.Column("disabled_reason", sa.Text()),
        sa.Column("tokens", sa.Float()),
        sa.Column("tokens_at", UTCDateTime()),
    )


def downgrade() -> None:
    op.drop_table("channel_state")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("batch")

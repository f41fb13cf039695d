"""WebSub: one row per subscription to a hub, found by its callback token.

Numbered 0016 (the issue's number) and chained after 0017, the head when it was merged.

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision: str = "0016"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "websub_subscriptions",
        sa.Column("token", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("hub", sa.Text(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(200), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("pending", sa.String(20)),
        sa.Column("requested_at", UTCDateTime()),
        sa.Column("verified_at", UTCDateTime()),
        sa.Column("lease_seconds", sa.Integer()),
        sa.Column("expires_at", UTCDateTime()),
        sa.Column("renew_at", UTCDateTime()),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("retry_at", UTCDateTime()),
        sa.Column("last_error", sa.Text()),
        sa.Column("pushes", sa.Integer(), nullable=False),
        sa.Column("last_push_at", UTCDateTime()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_websub_source", "websub_subscriptions", ["source"])


def downgrade() -> None:
    op.drop_index("ix_websub_source", table_name="websub_subscriptions")
    op.drop_table("websub_subscriptions")

"""Feed health: one row per source, whether it is flagged unhealthy and since when.

Revision ID: 0008
Revises: 0006
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "source_health",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("tracked_since", UTCDateTime(), nullable=False),
        sa.Column("unhealthy_since", UTCDateTime()),
        sa.Column("reason", sa.Text()),
    )


def downgrade() -> None:
    op.drop_table("source_health")

"""Feed polling state per source: current URL after permanent redirects, retry window, disabled, HTTP status.

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("feed_url", sa.Text()))
        batch.add_column(sa.Column("current_url", sa.Text()))
        batch.add_column(sa.Column("http_status", sa.Integer()))
        batch.add_column(sa.Column("retry_not_before", UTCDateTime()))
        batch.add_column(sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        for column in ("disabled", "retry_not_before", "http_status", "current_url", "feed_url"):
            batch.drop_column(column)

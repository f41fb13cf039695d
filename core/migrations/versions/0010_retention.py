"""Retention: when each source's items were last read, and the indexes pruning looks things up by.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("items_read_at", UTCDateTime()))
    op.create_index("ix_articles_first_seen_at", "articles", ["first_seen_at"])
    op.create_index("ix_alerts_status_sent", "alerts", ["status", "sent_at"])
    # Also what deleting an article needs: its alerts are found by article (ON DELETE CASCADE).
    op.create_index("ix_alerts_article_id", "alerts", ["article_id"])


def downgrade() -> None:
    op.drop_index("ix_alerts_article_id", table_name="alerts")
    op.drop_index("ix_alerts_status_sent", table_name="alerts")
    op.drop_index("ix_articles_first_seen_at", table_name="articles")
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("items_read_at")

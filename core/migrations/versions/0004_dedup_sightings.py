"""Dedup: text fingerprint, MinHash signature, display HTML and language on articles; sightings.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("text_hash", sa.String(64)))
        batch.add_column(sa.Column("signature", sa.JSON()))
        batch.add_column(sa.Column("html", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("language", sa.String(16)))
    op.create_index("ix_articles_text_hash", "articles", ["text_hash"])
    op.create_table(
        "sightings",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "article_id", sa.Integer(), sa.ForeignKey("articles.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("item_key", sa.Text(), nullable=False),
        sa.Column("url", sa.Text()),
        sa.Column("how", sa.String(20), nullable=False),
        sa.Column("similarity", sa.Float()),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("source", "item_key", name="uq_sightings_source_item"),
    )
    op.create_index("ix_sightings_url", "sightings", ["url"])
    op.create_index("ix_sightings_article_id", "sightings", ["article_id"])
    # Every article stored before this revision is its own first sighting.
    op.execute(
        "INSERT INTO sightings (article_id, source, item_key, url, how, first_seen_at, last_seen_at)"
        " SELECT id, source, item_key, url, 'first', first_seen_at, updated_at FROM articles"
    )


def downgrade() -> None:
    op.drop_table("sightings")
    op.drop_index("ix_articles_text_hash", table_name="articles")
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("language")
        batch.drop_column("html")
        batch.drop_column("signature")
        batch.drop_column("text_hash")

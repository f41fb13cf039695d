"""Full text: where an article's text came from (the feed or its linked page), why a wanted page was
not used, and the author the page names. Existing articles are `feed`.

Numbered 0014 and chained after 0017, the head when it was merged (revisions are ids, not an order).

Revision ID: 0014
Revises: 0017
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("text_source", sa.String(10), nullable=False, server_default="feed"))
        batch.add_column(sa.Column("page_error", sa.Text()))
        batch.add_column(sa.Column("author", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("author")
        batch.drop_column("page_error")
        batch.drop_column("text_source")

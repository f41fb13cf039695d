"""Near duplicates: a merged sighting records its containment and which check confirmed it; the
article signatures of older versions (rensa's MinHash) are dropped, to be recomputed at start.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sightings") as batch:
        batch.add_column(sa.Column("containment", sa.Float()))
        batch.add_column(sa.Column("checked", sa.String(20)))
    # Signatures are now one-permutation MinHash over hashed shingles: the old ones compare with
    # nothing. load_index computes the new ones for the articles of the dedup window.
    op.execute(sa.text("UPDATE articles SET signature = NULL"))


def downgrade() -> None:
    with op.batch_alter_table("sightings") as batch:
        batch.drop_column("checked")
        batch.drop_column("containment")
    op.execute(sa.text("UPDATE articles SET signature = NULL"))

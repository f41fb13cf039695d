"""Sightings remember a fingerprint of the raw item, so an unchanged item is not cleaned again.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sightings") as batch:
        batch.add_column(sa.Column("raw_hash", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("sightings") as batch:
        batch.drop_column("raw_hash")

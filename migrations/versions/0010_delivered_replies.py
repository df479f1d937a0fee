"""How many of a handled message's replies went out: a Telegram redelivery sends the rest, and none twice.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("processed_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivered", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("processed_message", schema=None) as batch_op:
        batch_op.drop_column("delivered")

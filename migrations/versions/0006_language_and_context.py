"""A user's language says whether they chose it; a conversation keeps the last topic for follow-ups.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_profile", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language_chosen", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("context", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_column("context")
    with op.batch_alter_table("user_profile", schema=None) as batch_op:
        batch_op.drop_column("language_chosen")

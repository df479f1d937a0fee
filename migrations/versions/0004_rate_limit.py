"""Per-citizen rate-limit counters on the user profile.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 22:42:28.581117
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table("user_profile", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rate_window_start", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("rate_count", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("rate_notified", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:

    with op.batch_alter_table("user_profile", schema=None) as batch_op:
        batch_op.drop_column("rate_notified")
        batch_op.drop_column("rate_count")
        batch_op.drop_column("rate_window_start")

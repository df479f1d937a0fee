"""Chat replies that could not be delivered wait in the outbox too: their kind and options.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 22:50:31.155905
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default="notification"
            )
        )
        batch_op.add_column(sa.Column("options", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:

    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_column("options")
        batch_op.drop_column("kind")

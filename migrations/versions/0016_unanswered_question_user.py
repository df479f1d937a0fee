"""Who asked each unanswered question: erased with the citizen's other data, and capped per chat identity a day.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("unanswered_question", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))
        batch_op.create_index("ix_unanswered_question_user", ["channel", "user_id", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("unanswered_question", schema=None) as batch_op:
        batch_op.drop_index("ix_unanswered_question_user")
        batch_op.drop_column("user_id")

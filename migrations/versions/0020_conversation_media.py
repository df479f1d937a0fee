"""Files citizens send in conversations (fetched once by the worker, shown to staff), and citizens a channel says
cannot be messaged.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "media_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("ref", sa.Text(), nullable=False),
        sa.Column("declared_type", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("content_type", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["complaint_event.id"]),
        sa.ForeignKeyConstraint(["message_id"], ["handover_message.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("media_file", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_media_file_event_id"), ["event_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_media_file_message_id"), ["message_id"], unique=False)
        batch_op.create_index("ix_media_file_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index("ix_media_file_user", ["channel", "user_id"], unique=False)
    op.create_table(
        "media_blob",
        sa.Column("media_id", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["media_id"], ["media_file.id"]),
        sa.PrimaryKeyConstraint("media_id"),
    )
    op.create_table(
        "unreachable",
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.PrimaryKeyConstraint("channel", "user_id"),
    )


def downgrade() -> None:
    op.drop_table("unreachable")
    op.drop_table("media_blob")
    with op.batch_alter_table("media_file", schema=None) as batch_op:
        batch_op.drop_index("ix_media_file_user")
        batch_op.drop_index("ix_media_file_due")
        batch_op.drop_index(batch_op.f("ix_media_file_message_id"))
        batch_op.drop_index(batch_op.f("ix_media_file_event_id"))
    op.drop_table("media_file")

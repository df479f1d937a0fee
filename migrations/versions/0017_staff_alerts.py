"""Staff alerts: an e-mail address per staff account, the alerts made (each once, by its key) and who sees them on
the dashboard, and an index for finding new complaint events of a kind.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 18:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True))
    with op.batch_alter_table("complaint_event", schema=None) as batch_op:
        batch_op.create_index("ix_complaint_event_kind_created", ["kind", "created_at"], unique=False)
    op.create_table(
        "staff_alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("body_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("folded", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["complaint_id"], ["complaint.id"]),
        sa.ForeignKeyConstraint(["event_id"], ["complaint_event.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("staff_alert", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_alert_complaint_id"), ["complaint_id"], unique=False)
    op.create_table(
        "staff_alert_recipient",
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["staff_alert.id"]),
        sa.PrimaryKeyConstraint("alert_id", "username"),
    )
    with op.batch_alter_table("staff_alert_recipient", schema=None) as batch_op:
        batch_op.create_index("ix_staff_alert_recipient_unread", ["username", "read_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("staff_alert_recipient", schema=None) as batch_op:
        batch_op.drop_index("ix_staff_alert_recipient_unread")
    op.drop_table("staff_alert_recipient")
    with op.batch_alter_table("staff_alert", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_alert_complaint_id"))
    op.drop_table("staff_alert")
    with op.batch_alter_table("complaint_event", schema=None) as batch_op:
        batch_op.drop_index("ix_complaint_event_kind_created")
    with op.batch_alter_table("staff_user", schema=None) as batch_op:
        batch_op.drop_column("email")

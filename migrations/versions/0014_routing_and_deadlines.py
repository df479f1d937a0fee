"""Bodies and routing rules; each complaint's body, due time and escalation level; staff accounts' body.

The default bodies and rules (knowledge/data/routing.yaml) are copied in on first start, not here: the file is
checked as it loads, and a migration should not depend on data files that change later.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "body",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name_en", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("name_ur", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("province", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "routing_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("province", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("district", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("body_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["body_id"], ["body.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("routing_rule", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_routing_rule_category"), ["category"], unique=False)
        batch_op.create_index(batch_op.f("ix_routing_rule_body_id"), ["body_id"], unique=False)
    with op.batch_alter_table("complaint", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("escalation_level", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_index(batch_op.f("ix_complaint_body_id"), ["body_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_complaint_due_at"), ["due_at"], unique=False)
        batch_op.create_foreign_key("fk_complaint_body_id", "body", ["body_id"], ["id"])
    with op.batch_alter_table("staff_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.create_foreign_key("fk_staff_user_body_id", "body", ["body_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("staff_user", schema=None) as batch_op:
        batch_op.drop_constraint("fk_staff_user_body_id", type_="foreignkey")
        batch_op.drop_column("body_id")
    with op.batch_alter_table("complaint", schema=None) as batch_op:
        batch_op.drop_constraint("fk_complaint_body_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_complaint_due_at"))
        batch_op.drop_index(batch_op.f("ix_complaint_body_id"))
        batch_op.drop_column("escalation_level")
        batch_op.drop_column("due_at")
        batch_op.drop_column("body_id")
    op.drop_table("routing_rule")
    op.drop_table("body")

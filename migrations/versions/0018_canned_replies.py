"""Canned replies for staff conversations, in English, Urdu and Roman Urdu; the defaults of
knowledge/data/canned_replies.yaml are copied in once (admins keep them on the dashboard after that).

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 18:00:00
"""

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
import sqlmodel
import yaml
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULTS = Path(__file__).resolve().parents[2] / "knowledge" / "data" / "canned_replies.yaml"


def upgrade() -> None:
    table = op.create_table(
        "canned_reply",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("text_en", sa.Text(), nullable=False),
        sa.Column("text_ur", sa.Text(), nullable=False),
        sa.Column("text_roman", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("title"),
    )
    replies = (yaml.safe_load(DEFAULTS.read_text(encoding="utf-8")) or {}).get("replies") if DEFAULTS.exists() else []
    now = dt.datetime.now(dt.UTC)
    rows = [
        {
            "title": r["title"],
            "text_en": r["en"],
            "text_ur": r["ur"],
            "text_roman": r["roman"],
            "updated_at": now,
            "updated_by": "defaults",
        }
        for r in replies or []
    ]
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_table("canned_reply")

"""intake_attempts: attempts of messages whose processing started (poison messages)

Revision ID: 0013_intake_attempts
Revises: 0012_sealed_columns
Create Date: 2026-12-02 16:00:00
"""
from alembic import op
import sqlalchemy as sa
import mailproc.store.base


revision = '0013_intake_attempts'
down_revision = '0012_sealed_columns'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('intake_attempts',
    sa.Column('mailbox', sa.String(length=200), nullable=False),
    sa.Column('uidvalidity', sa.Integer(), nullable=False),
    sa.Column('uid', sa.String(length=255), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('updated_at', mailproc.store.base.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('mailbox', 'uidvalidity', 'uid', name=op.f('pk_intake_attempts')),
    )


def downgrade() -> None:
    op.drop_table('intake_attempts')

"""limits: outbox.cause (the sender whose letter caused a row) and response_limits

``rules.responses_per_sender`` counts every row a sender's letters caused (replies, forwards,
hand-offs); response_limits records what was withheld when the limit was reached.

Revision ID: 0010_limits
Revises: 0008_outbox_mailbox
Create Date: 2026-12-02 16:00:00
"""
from alembic import op
import sqlalchemy as sa

import mailproc.store.base


revision = '0010_limits'
down_revision = '0008_outbox_mailbox'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cause', sa.String(length=320), server_default='',
                                      nullable=False))
        batch_op.create_index('ix_outbox_cause', ['cause', 'created_at'], unique=False)
    op.create_table(
        'response_limits',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('sender', sa.String(length=320), nullable=False),
        sa.Column('message_pk', sa.Integer(), nullable=True),
        sa.Column('at', mailproc.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('limit', sa.Integer(), nullable=False),
        sa.Column('withheld', sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('response_limits', schema=None) as batch_op:
        batch_op.create_index('ix_response_limits_at', ['at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('response_limits', schema=None) as batch_op:
        batch_op.drop_index('ix_response_limits_at')
    op.drop_table('response_limits')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_cause')
        batch_op.drop_column('cause')

"""redaction: mailbox_redactions, the steps that take documents out of the shared mailbox

One row per letter to replace by a stub (kind "redact") or to delete from every folder
(kind "remove"), written before the mailbox is touched (mailproc.registrations.redaction).

Revision ID: 0011_redaction
Revises: 0010_limits
Create Date: 2026-12-02 16:00:00
"""
from alembic import op
import sqlalchemy as sa

from mailproc.store.base import UTCDateTime


revision = '0011_redaction'
down_revision = '0010_limits'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'mailbox_redactions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('message_pk', sa.Integer(), nullable=True),
        sa.Column('mailbox', sa.String(length=300), nullable=False),
        sa.Column('message_id', sa.String(length=998), nullable=False),
        sa.Column('marker', sa.String(length=40), nullable=False),
        sa.Column('sender_hash', sa.String(length=64), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('folder', sa.String(length=300), nullable=False),
        sa.Column('stub_uid', sa.String(length=40), nullable=False),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['registration_cases.id']),
        sa.ForeignKeyConstraint(['message_pk'], ['messages.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('marker'),
        sa.UniqueConstraint('message_pk', 'kind'),
    )
    with op.batch_alter_table('mailbox_redactions', schema=None) as batch_op:
        batch_op.create_index('ix_mailbox_redactions_state', ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_mailbox_redactions_case_id'), ['case_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_mailbox_redactions_message_pk'), ['message_pk'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('mailbox_redactions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mailbox_redactions_message_pk'))
        batch_op.drop_index(batch_op.f('ix_mailbox_redactions_case_id'))
        batch_op.drop_index('ix_mailbox_redactions_state')
    op.drop_table('mailbox_redactions')

"""outbox_mailbox: outbox.mailbox, the installation's mailbox a row was queued for

Rows queued before keep "": their Sent copies are filed by their From address as before.

Revision ID: 0008_outbox_mailbox
Revises: 0007_cluster
Create Date: 2026-11-27 10:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0008_outbox_mailbox'
down_revision = '0007_cluster'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mailbox', sa.String(length=40), server_default='',
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('mailbox')

"""mailings: the outbox row whose Sent copy stands for a whole mailing issue

Revision ID: 0018_mailings
Revises: 0016_rule_sets
Create Date: 2026-12-02 17:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0018_mailings'
down_revision = '0016_rule_sets'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('mailing_issues') as batch_op:
        batch_op.add_column(sa.Column('copy_outbox_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('mailing_issues') as batch_op:
        batch_op.drop_column('copy_outbox_id')

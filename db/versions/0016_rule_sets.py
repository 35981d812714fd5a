"""rule_sets: the last good rule sets (every file's bytes), run at a start with broken rules

Revision ID: 0016_rule_sets
Revises: 0013_intake_attempts
Create Date: 2026-12-02 16:00:00
"""
from alembic import op
import sqlalchemy as sa
import mailproc.store.base


revision = '0016_rule_sets'
down_revision = '0013_intake_attempts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rule_sets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mailbox', sa.String(length=40), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('version', sa.String(length=16), nullable=False),
    sa.Column('rules', sa.Integer(), nullable=False),
    sa.Column('created_at', mailproc.store.base.UTCDateTime(), nullable=False),
    sa.Column('loaded_at', mailproc.store.base.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rule_sets')),
    sa.UniqueConstraint('mailbox', 'digest', name=op.f('uq_rule_sets_mailbox_digest')),
    )
    op.create_index('ix_rule_sets_mailbox_loaded_at', 'rule_sets', ['mailbox', 'loaded_at'],
                    unique=False)
    op.create_table('rule_set_files',
    sa.Column('rule_set_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['rule_set_id'], ['rule_sets.id'],
                            name=op.f('fk_rule_set_files_rule_set_id_rule_sets'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('rule_set_id', 'name', name=op.f('pk_rule_set_files')),
    )


def downgrade() -> None:
    op.drop_table('rule_set_files')
    op.drop_index('ix_rule_sets_mailbox_loaded_at', table_name='rule_sets')
    op.drop_table('rule_sets')

"""cluster: job_runs (one run of a scheduled job per period across instances)

Revision ID: 0007_cluster
Revises: 0006_questions
Create Date: 2026-11-26 13:50:00
"""
from alembic import op
import sqlalchemy as sa
import mailproc.store.base


revision = '0007_cluster'
down_revision = '0006_questions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('job_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job', sa.String(length=40), nullable=False),
    sa.Column('period', sa.String(length=40), nullable=False),
    sa.Column('owner', sa.String(length=120), nullable=False),
    sa.Column('started_at', mailproc.store.base.UTCDateTime(), nullable=False),
    sa.Column('finished_at', mailproc.store.base.UTCDateTime(), nullable=True),
    sa.Column('outcome', sa.String(length=60), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_runs')),
    sa.UniqueConstraint('job', 'period', name=op.f('uq_job_runs_job_period')),
    )


def downgrade() -> None:
    op.drop_table('job_runs')

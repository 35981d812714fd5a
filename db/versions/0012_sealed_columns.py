"""sealed_columns: readers' names and file names sealed, message rows linked to their case

``registration_cases.reader_name`` and ``registration_documents.name`` become Text: they now
hold a value sealed with the vault key (``sealed:`` + a Fernet token, about three times the
clear length), which a VARCHAR(300) on PostgreSQL would refuse. Rows written before keep their
clear values until the case's data is destroyed (readers accept both).
``registration_messages`` links a case to the message rows its mail left, so destroying the
case's data blanks exactly those rows.

Revision ID: 0012_sealed_columns
Revises: 0011_redaction
Create Date: 2026-12-02 16:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0012_sealed_columns'
down_revision = '0011_redaction'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('registration_cases', schema=None) as batch_op:
        batch_op.alter_column('reader_name', existing_type=sa.String(length=300),
                              type_=sa.Text(), existing_nullable=False)
    with op.batch_alter_table('registration_documents', schema=None) as batch_op:
        batch_op.alter_column('name', existing_type=sa.String(length=500),
                              type_=sa.Text(), existing_nullable=False)
    op.create_table(
        'registration_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('message_pk', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['registration_cases.id'],
                                name=op.f('fk_registration_messages_case_id_registration_cases')),
        sa.ForeignKeyConstraint(['message_pk'], ['messages.id'], ondelete='CASCADE',
                                name=op.f('fk_registration_messages_message_pk_messages')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_registration_messages')),
        sa.UniqueConstraint('case_id', 'message_pk',
                            name=op.f('uq_registration_messages_case_id_message_pk')),
    )
    op.create_index(op.f('ix_registration_messages_case_id'), 'registration_messages',
                    ['case_id'], unique=False)
    op.create_index(op.f('ix_registration_messages_message_pk'), 'registration_messages',
                    ['message_pk'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_registration_messages_message_pk'), table_name='registration_messages')
    op.drop_index(op.f('ix_registration_messages_case_id'), table_name='registration_messages')
    op.drop_table('registration_messages')
    with op.batch_alter_table('registration_documents', schema=None) as batch_op:
        batch_op.alter_column('name', existing_type=sa.Text(), type_=sa.String(length=500),
                              existing_nullable=False)
    with op.batch_alter_table('registration_cases', schema=None) as batch_op:
        batch_op.alter_column('reader_name', existing_type=sa.Text(),
                              type_=sa.String(length=300), existing_nullable=False)

"""Alembic environment: runs on the engine mailproc hands over in ``config.attributes``.

Batch mode is on for SQLite, which cannot ALTER most things and needs tables rebuilt.
"""

from alembic import context
from sqlalchemy import create_engine

from mailproc.store.models_all import metadata

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    engine = create_engine(config.get_main_option("sqlalchemy.url"))

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()

"""The migrations in db/ build exactly the schema the models describe, on SQLite."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from mailproc.store import open_database
from mailproc.store.migrate import alembic_config
from mailproc.store.models_all import metadata


def test_migrations_match_the_models(tmp_path):
    db = open_database(f"sqlite:///{tmp_path}/m.sqlite3")
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, metadata)
    assert diff == [], diff


def test_one_line_of_history():
    """One head: migrations apply in one order everywhere."""
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1, script.get_heads()

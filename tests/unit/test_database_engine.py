"""PostgreSQL engines are tuned for the intake's batched INSERTs (store.database)."""

import pytest

from mailproc.store.database import _postgres_engine


def test_psycopg_caches_the_conversion_of_long_batched_inserts():
    _queries = pytest.importorskip("psycopg._queries")
    engine = _postgres_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")  # not connected
    # a psycopg release that renames these makes the tuning a silent no-op: this fails then
    assert _queries.MAX_CACHED_STATEMENT_LENGTH >= 1 << 20
    assert _queries.MAX_CACHED_STATEMENT_PARAMS >= 1 << 16
    assert engine.dialect.use_insertmanyvalues_wo_returning is True
    engine.dispose()


def test_a_wrong_database_url_is_one_line_naming_the_key():
    from mailproc.errors import StoreError
    from mailproc.store.database import open_database

    with pytest.raises(StoreError) as unknown:
        open_database("postgresql+nosuchdriver://a@127.0.0.1/c")
    assert str(unknown.value).startswith("database.url: no database driver for "
                                         "'postgresql+nosuchdriver'")
    assert "postgresql+psycopg://" in str(unknown.value)
    pytest.importorskip("psycopg")
    with pytest.raises(StoreError) as refused:
        open_database("postgresql+psycopg://nobody@127.0.0.1:1/none")  # nothing listens on 1
    assert str(refused.value).startswith("database.url: cannot open ")
    assert "\n" not in str(refused.value)

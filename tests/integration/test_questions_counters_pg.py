"""Case-token allocation under concurrency, on SQLite and PostgreSQL: every token once.

Four threads each open their own transactions and take numbers at once; the counter row's
UPDATE ... RETURNING must hand out 1..N with no duplicate and no gap (a gap would only come
from a rolled-back transaction, which gives its number back).
"""

from __future__ import annotations

import threading
import uuid

import pytest

from mailproc.store import open_database
from mailproc.store.counters import next_token

pytestmark = pytest.mark.integration

THREADS, EACH = 4, 25


def _pg_url():
    psycopg = pytest.importorskip("psycopg")
    name = f"mp_counters_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                             autocommit=True, connect_timeout=3) as con:
            con.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432 ({exc})")
    return name, f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def _drop(name):
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                         autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _allocate(db) -> list[str]:
    got: list[str] = []
    lock = threading.Lock()

    def work():
        for _ in range(EACH):
            with db.transaction() as s:
                token = next_token(s, "q", 2026)
            with lock:
                got.append(token)

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return got


def _check(got):
    assert sorted(got) == [f"2026-{i:05d}" for i in range(1, THREADS * EACH + 1)]


def test_tokens_unique_under_concurrency_sqlite(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        _check(_allocate(db))
    finally:
        db.dispose()


def test_tokens_unique_under_concurrency_postgresql():
    name, url = _pg_url()
    db = open_database(url)
    try:
        _check(_allocate(db))
    finally:
        db.dispose()
        _drop(name)

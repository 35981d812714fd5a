"""Integration fixtures: a private Dovecot (``tests.servers.dovecot``), a mailproc set up
against it (``tests.servers.mailproc``) and a throw-away PostgreSQL database."""

from __future__ import annotations

import pytest

from tests.servers.dovecot import dovecot, prefixed_dovecot  # noqa: F401 - the public fixtures
from tests.servers.mailproc import MailprocSetup


@pytest.fixture
def mailproc_setup(tmp_path, dovecot):  # noqa: F811 - the fixture imported above
    return MailprocSetup(tmp_path / "mailproc", dovecot)


@pytest.fixture
def postgres():
    """The URL of a new database on the PostgreSQL at 127.0.0.1:5432, dropped after the test;
    the test is skipped when there is no server."""
    from tests.drills.cluster_drill import create_database, drop_database

    psycopg = pytest.importorskip("psycopg")
    try:
        name, url = create_database()
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432 ({exc})")
    yield url
    drop_database(name)

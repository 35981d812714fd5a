"""Integration fixtures: a private Dovecot (``tests.servers.dovecot``) and a mailproc set up
against it (``tests.servers.mailproc``)."""

from __future__ import annotations

import pytest

from tests.servers.dovecot import dovecot, prefixed_dovecot  # noqa: F401 - the public fixtures
from tests.servers.mailproc import MailprocSetup


@pytest.fixture
def mailproc_setup(tmp_path, dovecot):  # noqa: F811 - the fixture imported above
    return MailprocSetup(tmp_path / "mailproc", dovecot)

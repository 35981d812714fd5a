"""A full disk is never reported as the mailbox being unreachable (issue 18).

The IMAP source turns a lost link (any OSError of a socket) into SourceUnavailable, which
the daemon logs as "mailbox unreachable" and answers by reconnecting. An OSError whose
errno is the disk's (mailproc.faults.DISK: ENOSPC and co.) comes from local file I/O, not
from a socket: it must reach the daemon as it is (kind "storage"), with the connection kept.
And a chunk that an outage of the database already fails must report that outage, even
when the filing at its end then finds the mailbox gone.
"""

from __future__ import annotations

import errno

import pytest
from sqlalchemy.exc import OperationalError

from mailproc import faults
from mailproc.errors import SourceUnavailable
from mailproc.intake import Intake, IntakeStats
from mailproc.mailbox.base import MessageRef
from mailproc.mailbox.imap import ImapSource


class _Client:
    """Stands in for imapclient's client: the call under test raises ``exc``."""

    def __init__(self, exc: BaseException):
        self.exc = exc
        self.logged_out = False

    def noop(self):
        raise self.exc

    def logout(self):
        self.logged_out = True


def _source(exc: BaseException) -> tuple[ImapSource, _Client]:
    source = ImapSource("127.0.0.1", 1, "user", "secret")
    client = _Client(exc)
    source._client, source._selected, source.connected = client, source.folder, True
    return source, client


@pytest.mark.parametrize("code", sorted(faults.DISK))
def test_a_disk_errno_inside_a_client_call_is_the_disk_not_the_mailbox(code):
    source, client = _source(OSError(code, "local file"))
    with pytest.raises(OSError) as caught:
        source._call(source._c.noop)
    assert not isinstance(caught.value, SourceUnavailable)
    assert faults.kind(caught.value) == "storage"
    assert faults.reason(caught.value) == f"storage: {faults.DISK[code]}"
    assert source.connected and not client.logged_out  # the link was never lost


def test_a_socket_error_is_still_the_mailbox_unreachable():
    source, client = _source(ConnectionResetError(errno.ECONNRESET, "reset by peer"))
    with pytest.raises(SourceUnavailable):
        source._call(source._c.noop)
    assert not source.connected and client.logged_out


class _GoneMailbox:
    """A source whose connection is lost when the chunk's rows are filed."""

    name, uidvalidity, supports_keywords = "imap://user@host:143/INBOX", 7, True

    def move_many(self, uids, folder):
        raise SourceUnavailable("IMAP connection lost: BrokenPipeError")

    add_keywords = move_many


class _NoAttempts:
    def clear(self, uidvalidity, uids, conn=None):
        pass


def _intake_failing_at(uid: str, exc: Exception) -> Intake:
    """An intake whose messages are committed (their filing deferred to the chunk's end)
    until ``uid``, which fails with ``exc``."""
    intake = Intake.__new__(Intake)  # only the chunk's own steps are exercised
    intake.source, intake.max_attempts, intake.attempts = _GoneMailbox(), 0, _NoAttempts()
    intake.should_stop = lambda: False

    def process_message(this, raw, letter, stats):
        if this == uid:
            raise exc
        intake._deferred.append((int(this), this, "Обработанные", (), "done", ""))

    intake.process_message = process_message
    return intake


def test_the_filing_after_a_database_outage_does_not_hide_it(caplog):
    full = OperationalError("INSERT", {}, Exception("database or disk is full"))
    intake = _intake_failing_at("12", full)
    chunk = [MessageRef(uid, 100) for uid in ("10", "11", "12")]
    fetched = [(ref.uid, b"raw", None) for ref in chunk]
    with pytest.raises(OperationalError) as caught:
        intake._chunk(chunk, fetched, {}, IntakeStats())
    assert faults.reason(caught.value) == "database: OperationalError (disk full)"
    assert "after database: OperationalError (disk full) also failed: mailbox: " \
        "SourceUnavailable" in caplog.text
    # with nothing failing the chunk, the mailbox being gone is raised as such
    intake = _intake_failing_at("none", full)
    with pytest.raises(SourceUnavailable):
        intake._chunk(chunk, fetched, {}, IntakeStats())

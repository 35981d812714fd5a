"""A database or disk outage is not a poison message (issue 18, parts 1 and 4).

The intake fails the pass on an outage (mailproc.faults.is_outage) and the message waits in
the intake folder. Such a failed pass must not count as one of the message's attempts: a disk
full for three passes (the daemon retries within seconds) would otherwise send a good
registration letter to review "untouched" as a poison message.
"""

from __future__ import annotations

import errno

import pytest
from sqlalchemy.exc import OperationalError

from mailproc.attempts import AttemptLedger
from mailproc.store import open_database
from mailproc.sorting.decision import ActionCall, Decision
from tests.integration.test_intake_poison import (attempt_rows, make_intake, needs_dovecot,
                                                  rows, source)  # noqa: F401 - fixture
from tests.servers.mailproc import sample_letter

pytestmark = pytest.mark.integration


def _outages():
    yield OSError(errno.ENOSPC, "No space left on device", "/data/vault/x")
    yield OperationalError("INSERT ...", {}, Exception("database is locked"))


@needs_dovecot
@pytest.mark.parametrize("died_before", [False, True], ids=["first", "after-a-death"])
@pytest.mark.parametrize("outage", list(_outages()), ids=["disk-full", "db-locked"])
def test_passes_failed_by_an_outage_are_not_attempts(dovecot, source, tmp_path,  # noqa: F811
                                                     outage, died_before):
    """Five passes fail on one message because the disk is full (or the database locked);
    then the trouble is over: every message is processed, none given up as poison. With
    ``died_before`` the process had died in the chunk once (its messages then go one at a
    time, each attempt committed alone)."""
    for i in range(4):
        dovecot.deliver(sample_letter(i, "o", subject="вопрос"))
    db = open_database(f"sqlite:///{tmp_path}/t.sqlite3")
    if died_before:
        AttemptLedger(db, source.name).start_chunk(source.uidvalidity,
                                                   [r.uid for r in source.list_uids()])
    down = {"passes": 5}

    def decide(letter):
        return Decision(category="question", rule="test", folder="Обработанные",
                        actions=[ActionCall("test-action")])

    def act(session, row, letter, decision):
        if letter.message_id == "<o2@example.org>" and down["passes"]:
            raise outage
        return []

    failed = 0
    while down["passes"]:
        with pytest.raises(type(outage)):
            make_intake(db, source, tmp_path, decide, act).run_once()
        down["passes"] -= 1
        failed += 1
    stats = make_intake(db, source, tmp_path, decide, act).run_once()
    assert failed == 5
    got = rows(db)
    assert [r.reason for r in got.values() if r.state != "done"] == []
    assert stats.review == 0
    assert dovecot.count("На разбор") == 0 and dovecot.count("Обработанные") == 4
    assert attempt_rows(db) == []
    db.dispose()


@needs_dovecot
def test_a_value_over_a_postgresql_limit_is_the_message_s_own_error(dovecot, source,  # noqa: F811
                                                                    tmp_path, postgres):
    """PostgreSQL reports a value over one of its limits (an index row over 2704 bytes: a
    Message-ID of 998 four-byte characters, RFC 6532) as an OperationalError, SQLSTATE class
    54. That is the letter's fault, not an outage: it goes to review in the first pass, and
    the pass goes on."""
    import random

    odd = "".join(chr(random.randint(0x10000, 0x1F000)) for _ in range(998))
    dovecot.deliver(sample_letter(0, "p"))
    dovecot.deliver(f"From: reader@example.org\r\nTo: lib@example.org\r\nSubject: x\r\n"
                    f"Message-ID: <{odd}@example.org>\r\nDate: Mon, 1 Dec 2025 10:00:00 +0000"
                    f"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nтекст\r\n"
                    .encode("utf-8"))
    dovecot.deliver(sample_letter(2, "p"))
    db = open_database(postgres)
    stats = make_intake(db, source, tmp_path).run_once()
    assert (stats.processed, stats.review) == (2, 1)
    assert dovecot.count("На разбор") == 1 and dovecot.count("INBOX") == 0
    db.dispose()


@needs_dovecot
def test_review_retry_keeps_the_russian_reason_alone(dovecot, source, tmp_path):  # noqa: F811
    """``review retry`` of a letter that still fails shows the librarian the same reason as
    the intake: the Russian text alone, no Python class name in front of it."""
    from mailproc.errors import MessageError

    dovecot.deliver(sample_letter(0, "r"))
    db = open_database(f"sqlite:///{tmp_path}/t.sqlite3")

    def refuse(letter):
        raise MessageError("письмо от имени отдела не прошло проверку подлинности: DMARC fail")

    intake = make_intake(db, source, tmp_path, refuse)
    intake.run_once()
    [row] = rows(db).values()
    first = row.reason
    assert first.startswith("письмо от имени")
    raw = intake.raw_for(row)
    assert intake.retry(row, raw).endswith(first)
    [row] = rows(db).values()
    assert row.reason == first
    db.dispose()

"""Poison messages and unstorable text (issue 18, part 1), against a real Dovecot and, where
named, a real PostgreSQL:

* the poison drill, short form: a message that kills ``mailproc run`` (SIGKILL, as the OOM
  killer would) among 20, the daemon restarted each time it dies (tests.drills.poison_drill);
* the unstorable-text drill: four letters PostgreSQL refuses among 100
  (tests.drills.unstorable_drill);
* in-process passes: a pass failing on one message gives it up after ``max_attempts`` with the
  last error; a chunk's attempts cost one INSERT and leave nothing behind; a letter with no
  header goes to review with a clear reason; a lone surrogate and a NUL in an error's text
  are stored on PostgreSQL.
"""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import event, select

from mailproc.attempts import IntakeAttempt
from mailproc.errors import SourceUnavailable
from mailproc.intake import Intake
from mailproc.letter import Address, Letter
from mailproc.mailbox.imap import ImapSource
from mailproc.sorting.decision import ActionCall, Decision
from mailproc.store import open_database
from mailproc.store.models import Message
from tests.servers.mailproc import sample_letter

pytestmark = pytest.mark.integration

needs_dovecot = pytest.mark.skipif(shutil.which("dovecot") is None,
                                   reason="Dovecot is not installed")


@pytest.fixture
def source(dovecot):
    src = ImapSource(dovecot.host, dovecot.port, dovecot.user, dovecot.password, fetch_batch=50)
    src.open()
    yield src
    src.close()


def make_intake(db, source, tmp_path, decide=None, act=None) -> Intake:
    def filed(letter):
        return Decision(category="question", rule="test", folder="Обработанные")

    kwargs = {"act": act} if act is not None else {}
    return Intake(db, source, review_folder="На разбор", spool_dir=tmp_path / "spool",
                  max_size=10_000_000, decide=decide or filed, **kwargs)


def rows(db) -> dict[str, Message]:
    with db.session() as s:
        return {r.message_id or r.uid: r for r in s.scalars(select(Message))}


def attempt_rows(db) -> list[IntakeAttempt]:
    with db.session() as s:
        return list(s.scalars(select(IntakeAttempt)))


@needs_dovecot
def test_poison_that_kills_the_daemon_is_in_review_after_three_deaths(tmp_path):
    from tests.drills.poison_drill import run_drill

    result = run_drill(messages=20, poison="crash", workdir=tmp_path / "drill")
    print(result.summary())
    assert result.deaths == 3 and result.exit_codes == [-9, -9, -9]
    assert result.poison_in_review
    assert result.poison_reason.startswith("обработка письма трижды прервалась: процесс")
    assert result.others_done == 19 and result.rows == 20
    assert result.recorded_twice == [] and result.in_two_folders == [] and result.lost == []
    assert result.left_in_inbox == 0 and result.attempts_left == 0
    assert result.clean_exit


@needs_dovecot
def test_unstorable_values_on_postgresql_go_to_review_and_no_pass_fails(tmp_path):
    psycopg = pytest.importorskip("psycopg")
    from tests.drills.unstorable_drill import run_drill

    try:
        result = run_drill(messages=100, workdir=tmp_path / "drill")
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432 ({exc})")
    print(result.summary())
    assert result.failed_passes == 0 and result.pass_failures_logged == 0
    assert result.rows == 100 and result.processed == 96
    assert sorted(result.bad_in_review) == sorted([
        "NUL in the subject", "NUL in the Message-ID", "NUL in the sender's name",
        "a sender's name too long"])
    reasons = result.bad_in_review
    assert "нельзя сохранить в базе данных" in reasons["NUL in the subject"]
    assert reasons["NUL in the subject"].endswith(": тема; письмо не обработано")
    assert "Message-ID" in reasons["NUL in the Message-ID"]
    assert "имя отправителя" in reasons["NUL in the sender's name"]
    assert reasons["a sender's name too long"] == (
        "база данных не приняла запись письма: StringDataRightTruncation: value too long "
        "for type character varying(400)")
    assert result.recorded_twice == [] and result.in_two_folders == []
    assert result.left_in_inbox == 0


@needs_dovecot
def test_a_pass_failing_on_one_message_gives_it_up_with_the_last_error(dovecot, source,
                                                                        tmp_path):
    """The pass fails on the same message every time (here its action loses the mailbox
    connection, as a message whose part the server cannot send would): after three failed
    passes the message goes to review untouched, with the last error; the rest once."""
    for i in range(6):
        dovecot.deliver(sample_letter(i, "f", subject="вопрос"))
    db = open_database(f"sqlite:///{tmp_path}/t.sqlite3")

    def decide(letter):
        return Decision(category="question", rule="test", folder="Обработанные",
                        actions=[ActionCall("test-action")])

    def act(session, row, letter, decision):
        if letter.message_id == "<f3@example.org>":
            raise SourceUnavailable("connection reset while fetching part 2")
        return []

    failures = 0
    for _ in range(6):
        try:
            stats = make_intake(db, source, tmp_path, decide, act).run_once()
            break
        except SourceUnavailable:
            failures += 1
    assert failures == 3
    assert stats.review == 1
    got = rows(db)
    poison = next(r for r in got.values() if r.state == "review")
    assert poison.reason == ("обработка письма трижды прервалась: последняя ошибка — "
                             "SourceUnavailable: connection reset while fetching part 2; "
                             "письмо перенесено на разбор без обработки")
    assert sorted(r.message_id for r in got.values() if r.state == "done") == sorted(
        f"<f{i}@example.org>" for i in (0, 1, 2, 4, 5))
    assert dovecot.count("INBOX") == 0 and dovecot.count("На разбор") == 1
    assert dovecot.count("Обработанные") == 5
    assert attempt_rows(db) == []
    db.dispose()


@needs_dovecot
def test_a_chunk_records_its_attempts_with_one_insert_and_leaves_none(dovecot, source,
                                                                      tmp_path):
    for i in range(12):
        dovecot.deliver(sample_letter(i, "c"))
    db = open_database(f"sqlite:///{tmp_path}/t.sqlite3")
    inserts = []

    @event.listens_for(db.engine, "before_cursor_execute")
    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO INTAKE_ATTEMPTS"):
            inserts.append(statement)

    seen = []

    def decide(letter):
        seen.append(attempt_rows(db))  # committed before the message's work starts
        return Decision(category="question", rule="test", folder="Обработанные")

    stats = make_intake(db, source, tmp_path, decide).run_once()
    assert stats.processed == 12
    assert len(inserts) == 1  # one statement for the whole fetched chunk
    assert all(len(found) == 12 and {a.attempts for a in found} == {1} for found in seen)
    assert attempt_rows(db) == []
    db.dispose()


@needs_dovecot
def test_a_letter_with_no_header_goes_to_review_with_a_clear_reason(dovecot, source,
                                                                    tmp_path):
    dovecot.deliver(b"\r\nThis is only a body, there is no header at all.\r\n")
    dovecot.deliver(sample_letter(1, "h"))
    db = open_database(f"sqlite:///{tmp_path}/t.sqlite3")
    stats = make_intake(db, source, tmp_path).run_once()
    assert (stats.processed, stats.review) == (1, 1)
    review = [r for r in rows(db).values() if r.state == "review"]
    assert [r.reason for r in review] == [
        "в письме нет ни одного заголовка (ни From, ни Date, ни Subject): это не почтовое "
        "сообщение или оно повреждено"]
    assert dovecot.count("На разбор") == 1 and dovecot.count("INBOX") == 0
    db.dispose()


@needs_dovecot
def test_postgresql_stores_lone_surrogates_and_nul_in_reasons(dovecot, source, tmp_path,
                                                              postgres):
    """A lone surrogate (no UTF-8 form) in a letter, and a NUL in the text of the error that
    sends another to review: both rows are written on PostgreSQL, with U+FFFD."""
    for i in range(3):
        dovecot.deliver(sample_letter(i, "s"))
    db = open_database(postgres)
    refs = source.list_uids()

    def act(session, row, letter, decision):
        if letter.message_id == "<s1@example.org>":
            raise ValueError("broken value \x00 here")
        return []

    def decide(letter):
        return Decision(category="question", rule="test", folder="Обработанные",
                        actions=[ActionCall("test-action")])

    intake = make_intake(db, source, tmp_path, decide, act)
    # a Letter as a partial fetch would build it, its subject carrying a lone surrogate
    surrogate = Letter(content_hash="f" * 64, size=100, message_id="<s0@example.org>",
                       sender=Address("reader@example.org", "Чита\udc80тель"),
                       subject="вопрос \ud800", headers=[("Subject", "вопрос \ud800")])
    intake.process_message(refs[0].uid, None, surrogate)
    intake.process_refs(refs[1:])
    got = rows(db)
    assert got["<s0@example.org>"].state == "review"
    assert got["<s0@example.org>"].subject == "вопрос \ufffd"
    assert "нельзя сохранить в базе данных" in got["<s0@example.org>"].reason
    assert got["<s1@example.org>"].state == "review"
    assert got["<s1@example.org>"].reason == "ValueError: broken value \ufffd here"
    assert got["<s2@example.org>"].state == "done"
    db.dispose()

"""Fetching the next batch on a second connection while the current one is processed
(mailproc.mailbox.prefetch) against a real Dovecot: every message once, in one folder,
messages expunged meanwhile skipped, and nothing left open after a pass or an early stop."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mailproc.intake import Intake
from mailproc.mailbox.imap import ImapSource
from mailproc.sorting.decision import Decision
from mailproc.store import open_database
from mailproc.store.models import Message
from tests.bench.corpus import realistic_message
from tests.servers.mailproc import message_ids_by_folder, sample_letter

pytestmark = pytest.mark.integration


@pytest.fixture
def box(dovecot, tmp_path):
    """(source, db): a source fetching 2 messages a batch, so the fetcher works ahead."""
    src = ImapSource(dovecot.host, dovecot.port, dovecot.user, dovecot.password, fetch_batch=2)
    src.open()
    database = open_database(f"sqlite:///{tmp_path}/t.sqlite3")
    yield src, database
    database.dispose()
    src.close()


def make_intake(db, source, tmp_path, should_stop=None, decided=None):
    def decide(letter):
        if decided is not None:
            decided.append(letter.message_id)
        return Decision(category="question", rule="test", folder="Обработанные")

    # big ones (the corpus has 0.1-2 MB attachments) take the partial path
    return Intake(db, source, review_folder="На разбор", spool_dir=tmp_path / "spool",
                  max_size=10_000_000, decide=decide, should_stop=should_stop,
                  partial_above=64 * 1024)


def connections(dovecot) -> int:
    out = dovecot.doveadm("who", "-1")
    return sum(1 for line in out.splitlines()[1:] if dovecot.user in line)


def fill(dovecot, small: int = 5, big: int = 3) -> list[str]:
    raws = [sample_letter(i, "p") for i in range(small)]
    raws += [realistic_message(i) for i in range(1, big + 1)]
    for raw in raws:
        dovecot.deliver(raw)
    return raws


def test_several_batches_each_message_once_in_one_folder(dovecot, box, tmp_path):
    source, db = box
    fill(dovecot)
    refs = source.list_uids()
    librarian = dovecot.client()
    librarian.select_folder("INBOX")
    librarian.delete_messages([int(refs[5].uid)])  # in the third batch, fetched ahead
    librarian.uid_expunge([int(refs[5].uid)])
    librarian.logout()
    stats = make_intake(db, source, tmp_path).process_refs(refs)
    assert (stats.processed, stats.vanished, stats.review) == (7, 1, 0)
    assert dovecot.count("INBOX") == 0
    filed = message_ids_by_folder(dovecot)["Обработанные"]
    assert len(filed) == len(set(filed)) == 7
    with db.session() as s:
        rows = list(s.scalars(select(Message)))
    assert sorted(r.message_id for r in rows) == sorted(filed)
    assert {r.state for r in rows} == {"done"} and all(r.folder_uid for r in rows)
    assert connections(dovecot) == 1  # the fetcher's connection is closed again


def test_an_early_stop_files_what_was_decided_and_leaves_the_rest(dovecot, box, tmp_path):
    source, db = box
    fill(dovecot)
    decided, done = [], []

    def should_stop():  # as SIGTERM arriving while the third message is being decided
        return len(decided) >= 3

    intake = make_intake(db, source, tmp_path, should_stop=should_stop, decided=decided)
    intake.on_processed = lambda row, _letter, _decision: done.append(row.id)
    stats = intake.run_once()
    assert stats.processed == 3 and len(done) == 3
    assert dovecot.count("INBOX") == 5 and dovecot.count("Обработанные") == 3
    assert connections(dovecot) == 1
    # the next pass takes the rest, nothing twice
    stats = make_intake(db, source, tmp_path).run_once()
    assert stats.processed == 5 and stats.skipped == 0
    with db.session() as s:
        assert len(list(s.scalars(select(Message.id)))) == 8


def test_one_row_that_cannot_be_stored_goes_to_review_alone(dovecot, tmp_path):
    """Messages merely filed share one transaction per batch (group commit); when one of
    them cannot be written, the others are still recorded and filed, and that one goes to
    review with its reason."""
    src = ImapSource(dovecot.host, dovecot.port, dovecot.user, dovecot.password, fetch_batch=10)
    src.open()
    db = open_database(f"sqlite:///{tmp_path}/t.sqlite3")
    try:
        raws = [sample_letter(i, "g") for i in range(6)]
        for raw in raws:
            dovecot.deliver(raw)

        def decide(letter):
            # not JSON: the decision row of this one message cannot be written
            trace = [{"poison": object()}] if letter.message_id == "<g2@example.org>" else []
            return Decision(category="question", rule="test", folder="Обработанные",
                            trace=trace)

        intake = Intake(db, src, review_folder="На разбор", spool_dir=tmp_path / "spool",
                        max_size=10_000_000, decide=decide)
        stats = intake.run_once()
    finally:
        src.close()
    assert (stats.processed, stats.review) == (5, 1)
    assert dovecot.count("INBOX") == 0
    assert dovecot.count("Обработанные") == 5 and dovecot.count("На разбор") == 1
    with db.session() as s:
        rows = {r.state: r for r in s.scalars(select(Message))}
        states = sorted(r.state for r in s.scalars(select(Message)))
    db.dispose()
    assert states == ["done"] * 5 + ["review"]
    assert "TypeError" in rows["review"].reason


def test_attachments_loaded_for_actions_are_dropped_after_their_message(dovecot, tmp_path):
    """A batch keeps its letters until its end: the bytes loaded for one message's actions
    must not stay with it, or a batch of big letters holds all of their attachments."""
    from mailproc.sorting.decision import ActionCall

    source = ImapSource(dovecot.host, dovecot.port, dovecot.user, dovecot.password,
                        fetch_batch=10)
    source.open()
    database = open_database(f"sqlite:///{tmp_path}/t.sqlite3")
    seen = []

    def act(session, row, letter, decision):
        assert all(a.data is not None for a in letter.attachments)  # loaded for the action
        seen.append(letter)
        return [{"name": "read", "result": "ok"}]

    try:
        for i in range(1, 4):
            dovecot.deliver(realistic_message(i))
        intake = Intake(database, source, review_folder="На разбор",
                        spool_dir=tmp_path / "spool", max_size=10_000_000,
                        decide=lambda letter: Decision(category="question", rule="test",
                                                       folder="Обработанные",
                                                       actions=[ActionCall("read", {})]),
                        act=act, partial_above=64 * 1024)
        stats = intake.run_once()
        assert stats.processed == 3 and len(seen) == 3
        assert all(letter.attachments for letter in seen)
        assert all(a.data is None for letter in seen for a in letter.attachments)
    finally:
        database.dispose()
        source.close()

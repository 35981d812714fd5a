"""The IMAP source and the intake against a real Dovecot: UIDs, MOVE with COPYUID, Cyrillic
folders, keywords, \\Seen left alone, expunge races, UIDVALIDITY changes."""

from __future__ import annotations

import pytest
from imapclient import imap_utf7
from sqlalchemy import func, select

from mailproc.errors import SourceUnavailable
from mailproc.intake import Intake
from mailproc.letter import decode_letter
from mailproc.mailbox.imap import ImapSource
from mailproc.sorting.decision import Decision
from mailproc.store import open_database
from mailproc.store.models import Decision as DecisionRow
from mailproc.store.models import Message
from tests.servers.mailproc import sample_letter

pytestmark = pytest.mark.integration


def letter(i: int) -> bytes:
    return sample_letter(i, "t")


@pytest.fixture
def source(dovecot):
    src = ImapSource(dovecot.host, dovecot.port, dovecot.user, dovecot.password)
    src.open()
    yield src
    src.close()


@pytest.fixture
def db(tmp_path):
    database = open_database(f"sqlite:///{tmp_path}/t.sqlite3")
    yield database
    database.dispose()


def make_intake(db, source, tmp_path, folder="Обработанные/Читатели", keywords=("$Question",)):
    def decide(_letter):
        return Decision(category="question", rule="test", folder=folder, keywords=list(keywords))

    return Intake(db, source, review_folder="На разбор", spool_dir=tmp_path / "spool",
                  max_size=10_000_000, decide=decide)


def test_imaplib_debug_is_off(source):
    assert source._client._imap.debug == 0


def test_move_to_cyrillic_folder_returns_new_uid_and_keeps_flags_of_librarians(
        dovecot, source, db, tmp_path):
    for i in range(3):
        dovecot.deliver(letter(i))
    stats = make_intake(db, source, tmp_path).run_once()
    assert stats.processed == 3
    assert dovecot.count("INBOX") == 0
    assert "Обработанные/Читатели" in dovecot.folders()
    filed = dovecot.messages("Обработанные/Читатели")
    assert len(filed) == 3
    for _uid, flags, _raw in filed:
        assert b"$Question" in flags
        assert b"\\Seen" not in flags  # reading is BODY.PEEK; \Seen is the librarians'
    with db.session() as s:
        rows = list(s.scalars(select(Message).order_by(Message.id)))
    assert [r.state for r in rows] == ["done"] * 3
    assert sorted(int(r.folder_uid) for r in rows) == sorted(uid for uid, _f, _r in filed)
    # on the wire the folder name is modified UTF-7 (RFC 3501 5.1.3)
    raw_list = b"\n".join(source._client._imap.list()[1])
    assert "Обработанные".encode() not in raw_list
    assert imap_utf7.encode("Обработанные").startswith(b"&")
    assert imap_utf7.encode("Обработанные/Читатели") in raw_list


def test_seen_set_by_a_librarian_does_not_hide_a_message(dovecot, source, db, tmp_path):
    dovecot.deliver(letter(1), flags=(b"\\Seen", b"\\Flagged"))
    stats = make_intake(db, source, tmp_path).run_once()
    assert stats.processed == 1
    (_uid, flags, _raw), = dovecot.messages("Обработанные/Читатели")
    assert b"\\Seen" in flags and b"\\Flagged" in flags  # kept as the librarian left them


def test_message_expunged_between_search_and_fetch_is_skipped(dovecot, source, db, tmp_path):
    for i in range(4):
        dovecot.deliver(letter(i))
    intake = make_intake(db, source, tmp_path)
    refs = source.list_uids()
    assert len(refs) == 4
    librarian = dovecot.client()
    librarian.select_folder("INBOX")
    librarian.delete_messages([int(refs[1].uid)])
    librarian.uid_expunge([int(refs[1].uid)])
    librarian.logout()
    stats = intake.process_refs(refs)
    assert stats.processed == 3 and stats.vanished == 1 and stats.review == 0
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 3
        assert s.scalar(select(Message).where(Message.uid == refs[1].uid)) is None


def test_uidvalidity_change_refiles_without_running_again(dovecot, source, db, tmp_path,
                                                          monkeypatch):
    for i in range(3):
        dovecot.deliver(letter(i))
    intake = make_intake(db, source, tmp_path, folder="Обработанные")
    fetched = list(source.fetch([r.uid for r in source.list_uids()]))

    def link_lost(*_a, **_k):
        raise SourceUnavailable("cut")

    # committed, then the link dies before MOVE: rows stay "decided", mail stays in INBOX
    monkeypatch.setattr(source, "move", link_lost)
    for uid, raw in fetched:
        with pytest.raises(SourceUnavailable):
            intake.process_raw(uid, raw)
    monkeypatch.undo()
    before = dovecot.uidvalidity()
    dovecot.reset_uidvalidity()
    assert dovecot.uidvalidity() != before
    source.open()  # the reconnect sees the new UIDVALIDITY; every UID is new
    stats = make_intake(db, source, tmp_path, folder="Другое").run_once()
    assert stats.processed == 0 and stats.rematched == 3
    with db.session() as s:
        rows = list(s.scalars(select(Message)))
        assert s.scalar(select(func.count()).select_from(DecisionRow)) == 3  # not decided again
    assert len(rows) == 3
    assert {r.uidvalidity for r in rows} == {source.uidvalidity}
    assert {r.state for r in rows} == {"done"}
    # filed where the first decision said, not where the new one would
    assert dovecot.count("INBOX") == 0 and dovecot.count("Обработанные") == 3
    assert "Другое" not in dovecot.folders()


def test_append_to_sent_returns_uid_and_sets_seen(dovecot, source):
    uid = source.append("Sent", letter(9), ["\\Seen"])
    assert uid
    (got_uid, flags, raw), = dovecot.messages("Sent")
    assert str(got_uid) == uid and b"\\Seen" in flags and raw == letter(9)


def test_oversized_goes_to_review_untouched(dovecot, source, db, tmp_path):
    big = letter(1) + b"x" * 20_000 + b"\r\n"
    dovecot.deliver(big)
    intake = make_intake(db, source, tmp_path)
    intake.max_size = 10_000
    stats = intake.run_once()
    assert stats.review == 1 and stats.processed == 0
    (_uid, flags, raw), = dovecot.messages("На разбор")
    assert raw == big and b"\\Seen" not in flags
    with db.session() as s:
        row = s.scalar(select(Message))
    assert row.state == "review" and "too large" in row.reason and row.spool_path == ""


def test_failure_rolls_back_goes_to_review_and_retry_files_it(dovecot, source, db, tmp_path):
    from mailproc.errors import MessageError

    dovecot.deliver(letter(1))
    intake = make_intake(db, source, tmp_path)

    def broken(_letter):
        raise MessageError("правило сломано")

    intake.decide = broken
    stats = intake.run_once()
    assert stats.review == 1
    ((_uid, flags, raw),) = dovecot.messages("На разбор")
    assert raw == letter(1) and b"$Question" not in flags
    with db.session() as s:
        row = s.scalar(select(Message))
        assert s.scalar(select(func.count()).select_from(DecisionRow)) == 0  # rolled back
    assert row.state == "review" and "правило сломано" in row.reason
    assert open(row.spool_path, "rb").read() == letter(1)
    fixed = make_intake(db, source, tmp_path)
    assert fixed.retry(row, fixed.raw_for(row)).startswith("processed")
    assert dovecot.count("На разбор") == 0 and dovecot.count("Обработанные/Читатели") == 1
    with db.session() as s:
        assert s.scalar(select(Message)).state == "done"


def test_polling_where_idle_is_missing(dovecot, source):
    source._caps.discard(b"IDLE")
    source.poll_interval = 0.2
    assert not source.has_idle
    dovecot.deliver(letter(1))
    assert source.wait(5.0) is True


def test_attachments_are_loaded_before_actions_run(dovecot, source, db, tmp_path):
    from mailproc.sorting.decision import ActionCall
    from tests.bench.corpus import realistic_message

    raw = realistic_message(2)  # a big one: decided without its attachments
    dovecot.deliver(raw)
    seen = []

    def decide(_letter):
        return Decision(category="order", rule="test", folder="Заказы",
                        actions=[ActionCall("forward")])

    def act(_s, _row, letter, _decision):
        seen.extend(a.data for a in letter.attachments)
        return [{"name": "forward"}]

    intake = Intake(db, source, review_folder="На разбор", spool_dir=tmp_path / "spool",
                    max_size=10_000_000, decide=decide, act=act, partial_above=1024)
    assert intake.run_once().processed == 1
    full = decode_letter(raw)
    assert seen and seen == [a.data for a in full.attachments]

"""Backup and restore round trip: every row and the vault's files come back as they were."""

import tarfile
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from mailproc.backup import backup, restore
from mailproc.errors import MailprocError
from mailproc.store import open_database
from mailproc.store.models import Decision, Message


def _fill(db, uid="a1"):
    with db.transaction() as s:
        m = Message(mailbox="maildir:/x", uidvalidity=7, uid=uid, content_hash="h" * 64,
                    subject="Вопрос о регистрации", letter={"text": "Здравствуйте"},
                    sent_at=datetime(2026, 11, 20, 1, 2, 3, tzinfo=timezone.utc))
        s.add(m)
        s.add(Decision(message=m, category="question", rule="вопросы",
                       trace=[{"rule": "вопросы", "hit": ["subject"]}]))


def test_round_trip(tmp_path):
    src_dir, dst_dir = tmp_path / "src", tmp_path / "dst"
    (src_dir / "vault" / "case-1").mkdir(parents=True)
    (src_dir / "vault" / "case-1" / "doc.bin").write_bytes(b"\x00encrypted\xff")
    (src_dir / "spool").mkdir()
    (src_dir / "spool" / "x.eml").write_bytes(b"Subject: x\r\n\r\nbody")
    src = open_database(f"sqlite:///{src_dir}/db.sqlite3")
    _fill(src)
    archive = tmp_path / "backup.tar.gz"
    counts = backup(src, src_dir, archive)
    assert counts["messages"] == 1 and counts["decisions"] == 1

    dst_dir.mkdir()
    dst = open_database(f"sqlite:///{dst_dir}/db.sqlite3")
    restore(dst, dst_dir, archive)
    with dst.session() as s:
        m = s.scalars(select(Message)).one()
        assert m.subject == "Вопрос о регистрации"
        assert m.letter == {"text": "Здравствуйте"}
        assert m.sent_at == datetime(2026, 11, 20, 1, 2, 3, tzinfo=timezone.utc)
        assert m.decisions[0].trace == [{"rule": "вопросы", "hit": ["subject"]}]
    assert (dst_dir / "vault" / "case-1" / "doc.bin").read_bytes() == b"\x00encrypted\xff"
    assert (dst_dir / "spool" / "x.eml").read_bytes() == b"Subject: x\r\n\r\nbody"
    # New rows continue above the restored ids.
    _fill(dst, uid="a2")
    with dst.session() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 2


def test_restore_refuses_a_database_with_rows(tmp_path):
    db = open_database(f"sqlite:///{tmp_path}/db.sqlite3")
    _fill(db)
    archive = tmp_path / "b.tar.gz"
    backup(db, tmp_path, archive)
    with pytest.raises(MailprocError, match="empty database"):
        restore(db, tmp_path, archive)


def test_restore_refuses_what_is_not_a_backup(tmp_path):
    db = open_database(f"sqlite:///{tmp_path}/db.sqlite3")
    junk = tmp_path / "junk.tar.gz"
    with tarfile.open(junk, "w:gz"):
        pass
    with pytest.raises(MailprocError, match="not a mailproc backup"):
        restore(db, tmp_path, junk)

"""Personal data at rest (issue 17, part 4): registration mail's message rows sealed with the
vault key and never written in clear, other mail untouched; registration mail spooled only
encrypted, or not at all without a key; files 0600 and folders 0700 under umask 022; the
sealed columns follow a key rotation. Real SQLite, the shipped rules, a Maildir mailbox."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from mailproc.app import App
from mailproc.backup import backup
from mailproc.config import load_settings
from mailproc.mailbox.maildir import MaildirSource
from mailproc.registrations.common import vault
from mailproc.registrations.models import RegistrationCase, RegistrationDocument
from mailproc.registrations.retention import export_case
from mailproc.registrations.sealed import SHOWN, letter_of, shown, unseal
from mailproc.registrations.vault import new_key
from mailproc.store.models import Message
from tests.unit.test_registration_samples import (
    READER_NAME,
    clear_fragments,
    mail,
    photo,
    scan_pdf,
)

REPO = Path(__file__).resolve().parents[2]
PASSPORT = "9815 472163"


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def app(tmp_path, monkeypatch, umask_022):
    monkeypatch.setenv("MAILPROC_VAULT_KEY", new_key())
    monkeypatch.setenv("MAILPROC_MAIL_TOKEN_SECRET", "test-secret")
    rules = tmp_path / "rules"
    rules.mkdir()
    for f in (REPO / "rules").glob("*.yaml"):
        shutil.copy(f, rules / f.name)
    settings = load_settings(environ={}, overrides={
        "paths": {"data": str(tmp_path / "data"), "templates": str(REPO / "templates"),
                  "rules": str(rules)},
        "database": {"url": f"sqlite:///{tmp_path}/db.sqlite3"},
        "mail": {"from_address": "personbibl@nlrs.example"}})
    app = App(settings)
    yield app
    app.db.dispose()


def run(app, tmp_path, *raws: bytes):
    source = MaildirSource(str(tmp_path / "Maildir"))
    source.open()
    for raw in raws:
        source.append("INBOX", raw)
    intake = app.intake(source)
    return intake, intake.run_once()


def registration(**kw) -> bytes:
    return mail(subject=f"Регистрация {READER_NAME}",
                text=f"ФИО: {READER_NAME}. Паспорт {PASSPORT}. Высылаю анкету.",
                files=[("анкета Петрова.jpg", photo(seed=41), "image/jpeg")], **kw)


def database_bytes(tmp_path) -> bytes:
    return b"".join(p.read_bytes() for p in tmp_path.glob("db.sqlite3*"))


def test_registration_row_sealed_before_it_is_written_other_mail_clear(app, tmp_path):
    question = mail(sender="other@example.org", name="Иванов Пётр", subject="Часы работы",
                    text="Когда открыта библиотека?")
    _intake, stats = run(app, tmp_path, registration(), question)
    assert stats.processed == 2 and stats.review == 0
    box = vault(app.settings)
    with app.db.session() as s:
        reg, other = s.scalars(select(Message).order_by(Message.id))
        case = s.scalar(select(RegistrationCase))
        doc = s.scalar(select(RegistrationDocument))
        assert reg.category == "registration" and set(reg.letter) == {"sealed"}
        assert PASSPORT not in json.dumps(reg.letter) and "Петрова" not in reg.subject
        assert PASSPORT in letter_of(reg, box)["text"]
        assert unseal(box, reg.subject) == f"Регистрация {READER_NAME}"
        assert shown(reg.subject) == SHOWN
        assert unseal(box, case.reader_name) == READER_NAME and unseal(box, doc.name) == \
            "анкета Петрова.jpg"
        assert other.subject == "Часы работы" and "sealed" not in other.letter  # no cost
    data = database_bytes(tmp_path)  # the database file and its WAL: never in clear
    for needle in (PASSPORT, PASSPORT.replace(" ", "")):
        assert needle.encode() not in data
    with app.db.engine.connect() as conn:  # the name only in the outbox's queued reply
        for table, column in (("messages", "subject"), ("messages", "letter"),
                              ("registration_cases", "reader_name"),
                              ("registration_documents", "name")):
            for (value,) in conn.exec_driver_sql(f"SELECT {column} FROM {table}"):
                assert "Петрова" not in value and "\\u041f\\u0435\\u0442" not in value


def test_registration_mail_without_a_key_is_not_spooled(app, tmp_path, monkeypatch):
    monkeypatch.delenv("MAILPROC_VAULT_KEY")
    raw = registration()
    intake, stats = run(app, tmp_path, raw)
    assert stats.review == 1
    with app.db.session() as s:
        row = s.scalar(select(Message))
    assert row.state == "review" and "vault" in row.reason
    assert row.spool_path == "" and row.subject == ""
    assert not [p for p in (tmp_path / "data").rglob("*") if p.is_file()
                and "spool" in p.parts]
    review = intake.source.folder_path(app.settings.mailbox.review_folder)
    assert [p.read_bytes() for p in review.rglob("*") if p.is_file()
            and p.parent.name == "cur"] == [raw]  # only the review folder keeps it


def test_registration_mail_spooled_encrypted_with_a_key(app, tmp_path, monkeypatch):
    raw = registration()
    source = MaildirSource(str(tmp_path / "Maildir"))
    source.open()
    source.append("INBOX", raw)
    intake = app.intake(source)

    def broken(*_args):
        raise RuntimeError("the action failed")

    intake.act = broken
    assert intake.run_once().review == 1
    with app.db.session() as s:
        row = s.scalar(select(Message))
    spooled = Path(row.spool_path)
    assert spooled.name.endswith(".eml.sealed")
    assert stat.S_IMODE(spooled.stat().st_mode) == 0o600
    assert stat.S_IMODE(spooled.parent.stat().st_mode) == 0o700
    data = spooled.read_bytes()
    for fragment in [PASSPORT.encode(), *clear_fragments(photo(seed=41))]:
        assert fragment not in data
    assert row.subject.startswith("sealed:")
    assert intake.raw_for(row) == raw


def test_files_are_private_whatever_the_umask(app, tmp_path):
    run(app, tmp_path, registration(), mail(
        subject="Регистрация", text="Досылаю заявление и согласие.",
        files=[("заявление.jpg", photo(seed=42), "image/jpeg"),
               ("согласие.pdf", scan_pdf(seed=43), "application/pdf")]))
    with app.db.session() as s:
        token = s.scalar(select(RegistrationCase.token))
    written = export_case(app, token, tmp_path / "look", actor="test", reason="проверка")
    assert len(written) == 3
    backup(app.db, app.data_dir, tmp_path / "backup.tar.gz")
    files = [*tmp_path.glob("db.sqlite3*"), *written, tmp_path / "backup.tar.gz",
             *[p for p in (tmp_path / "data").rglob("*") if p.is_file()]]
    assert any(p.name == "db.sqlite3-wal" for p in files)
    assert any("vault" in p.parts for p in files) and any("blobs" in p.parts for p in files)
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    folders = [tmp_path / "data", tmp_path / "look",
               *[p for p in (tmp_path / "data").rglob("*") if p.is_dir()]]
    for path in folders:
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path


def test_rotate_key_reseals_the_columns(app, tmp_path, monkeypatch):
    from mailproc.commands.vault import rotate_key

    run(app, tmp_path, registration())
    old = os.environ["MAILPROC_VAULT_KEY"]
    fresh = new_key()
    monkeypatch.setenv("MAILPROC_VAULT_KEY", f"{fresh},{old}")
    monkeypatch.setattr(App, "from_args", classmethod(lambda cls, args: app))
    assert rotate_key(argparse.Namespace(keep_old=False)) == 0
    monkeypatch.setenv("MAILPROC_VAULT_KEY", fresh)  # the old key gone: everything opens
    box = vault(app.settings)
    with app.db.session() as s:
        row = s.scalar(select(Message))
        case = s.scalar(select(RegistrationCase))
        assert case.reader_name.startswith("sealed:") and row.subject.startswith("sealed:")
        assert unseal(box, case.reader_name) == READER_NAME
        assert unseal(box, row.subject).startswith("Регистрация")
        assert PASSPORT in letter_of(row, box)["text"]


def test_blanked_values_leave_no_bytes_in_the_database_files(tmp_path):
    """secure_delete zeroes what a blanking frees inside a page; forget_freed empties the
    WAL that still holds the page as it was."""
    from mailproc.store import open_database

    db = open_database(f"sqlite:///{tmp_path}/db.sqlite3")
    secret = f"Паспорт {PASSPORT} {READER_NAME}"
    with db.transaction() as s:
        s.add_all([Message(mailbox="m", uidvalidity=1, uid=str(i), content_hash="h",
                           subject=secret if i == 3 else f"письмо {i}") for i in range(8)])
    with db.transaction() as s:
        s.scalar(select(Message).where(Message.uid == "3")).subject = ""
    with db.engine.connect() as conn:  # on in every build, not only where it is the default
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
    assert (tmp_path / "db.sqlite3-wal").read_bytes().count(PASSPORT.encode())
    assert db.forget_freed()
    assert (tmp_path / "db.sqlite3-wal").stat().st_size == 0
    data = (tmp_path / "db.sqlite3").read_bytes()
    assert PASSPORT.encode() not in data and READER_NAME.encode() not in data
    db.dispose()

"""Sensitive attachments (issue 7): sealed with the vault's key in the blob store until sent,
sent byte for byte, and left out of the Sent copy. The Sent copy itself is appended to a real
Maildir; delivery goes to the ``file:`` transport."""

from __future__ import annotations

import email
import email.policy

import pytest
from sqlalchemy import select

from mailproc.app import App
from mailproc.outbound.models import OutboxMessage
from mailproc.outbound.outbox import OutAttachment, enqueue
from mailproc.outbound.sender import deliver_due
from mailproc.registrations.vault import new_key
from tests.servers.smtp import outbound_settings

NOTICE = {"title": "Т", "lines": ["строка"], "what_to_do": "ничего"}
SECRET = b"PASSPORT 9812 345678 Petrova Anna " * 40
PUBLIC = b"opening hours: 9-18 " * 40


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILPROC_VAULT_KEY", new_key())
    return App(outbound_settings(tmp_path / "data", f"file:{tmp_path}/out"))


def test_sensitive_blob_sealed_until_sent_and_left_out_of_the_sent_copy(app, tmp_path):
    with app.db.transaction() as s:
        enqueue(s, app.settings, to="cko@example.org", template="librarians/notice",
                context=NOTICE, kind="request", attachments=[
                    OutAttachment("form.pdf", "application/pdf", SECRET, sensitive=True),
                    OutAttachment("hours.txt", "text/plain", PUBLIC)])
    blobs = [p.read_bytes() for p in (tmp_path / "data" / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 2 and PUBLIC in blobs
    assert not any(SECRET[:40] in b for b in blobs), "the sensitive blob is in clear"

    deliver_due(app)
    [sent] = (tmp_path / "out").glob("*.eml")
    got = email.message_from_bytes(sent.read_bytes(), policy=email.policy.default)
    assert [(p.get_filename(), p.get_content()) for p in got.iter_attachments()] == [
        ("form.pdf", SECRET), ("hours.txt", PUBLIC.decode())]
    with app.db.session() as s:
        assert s.scalar(select(OutboxMessage.copied))
    copies = [p for p in (tmp_path / "data" / "Maildir").rglob("*") if p.is_file()
              and p.parent.name in ("cur", "new")]
    assert len(copies) == 1
    copy = email.message_from_bytes(copies[0].read_bytes(), policy=email.policy.default)
    assert [p.get_filename() for p in copy.iter_attachments()] == ["hours.txt"]


def test_no_vault_key_no_sensitive_enqueue(app, monkeypatch):
    from mailproc.errors import ConfigError

    monkeypatch.delenv("MAILPROC_VAULT_KEY")
    with pytest.raises(ConfigError, match="vault"):
        with app.db.transaction() as s:
            enqueue(s, app.settings, to="cko@example.org", template="librarians/notice",
                    context=NOTICE, kind="request",
                    attachments=[OutAttachment("f.pdf", "application/pdf", SECRET, True)])

"""Shared helpers for the questions tests: a database, settings and one message's action
context, built the way the Sorter builds them (real outbox, real templates, no mail sent)."""

from __future__ import annotations

from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from mailproc.config import load_settings
from mailproc.letter import decode_letter
from mailproc.sorting.context import ActionContext
from mailproc.sorting.decision import Decision
from mailproc.sorting.directory import load_directory
from mailproc.store import open_database
from mailproc.store.models import Message
from mailproc.tokens import Tokens

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 26, 3, 0, tzinfo=timezone.utc)  # a Thursday


def make_settings(tmp_path, **questions):
    return load_settings(None, environ={}, overrides={
        "paths": {"data": str(tmp_path / "data"), "rules": str(REPO / "rules"),
                  "templates": str(REPO / "templates")},
        "database": {"url": f"sqlite:///{tmp_path / 'db.sqlite3'}"},
        "mail": {"from_address": "personbibl@nlrs.example"},
        "questions": questions,
    })


def mail(sender: str, text: str, subject: str = "Вопрос", *, name: str = "",
         in_reply_to: str = "", references: str = "", auto: bool = False,
         attachment: tuple[str, bytes] | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>" if name else sender
    msg["To"] = "personbibl@nlrs.example"
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="reader.example")
    msg["Date"] = "Thu, 26 Nov 2026 11:00:00 +0900"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = references or in_reply_to
    if auto:
        msg["Auto-Submitted"] = "auto-replied"
    msg.set_content(text)
    if attachment:
        msg.add_attachment(attachment[1], maintype="application", subtype="pdf",
                           filename=attachment[0])
    return msg.as_bytes()


class World:
    """Settings, database, directory and tokens for one test."""

    def __init__(self, tmp_path, **questions):
        self.settings = make_settings(tmp_path, **questions)
        self.db = open_database(self.settings.database.url)
        self.directory = load_directory(REPO / "rules" / "departments.yaml")
        self.tokens = Tokens(b"test-key", "nlrs.example")
        self.mailbox = f"maildir:{tmp_path / 'Maildir'}"  # the mailbox the mail came to
        self._uid = 0

    def act(self, raw: bytes, func, now: datetime = NOW, **kw) -> dict:
        """Run one action on one message in its own transaction, as intake does."""
        self._uid += 1
        letter = decode_letter(raw)
        with self.db.transaction() as s:
            row = Message(mailbox=self.mailbox, uidvalidity=1, uid=str(self._uid), content_hash="x",
                          message_id=letter.message_id, from_addr=letter.sender.email)
            s.add(row)
            s.flush()
            ctx = ActionContext(session=s, settings=self.settings, letter=letter, message=row,
                                decision=Decision(category="question", rule="test"),
                                directory=self.directory, tokens=self.tokens, now=now)
            return func(ctx, **kw)

"""Letters built from header, BODYSTRUCTURE and text parts (attachments not downloaded) say
what the full decode says, for everything sorting reads."""

from __future__ import annotations

import hashlib

import pytest

from mailproc.letter import decode_letter
from mailproc.mailbox.imap import ImapSource
from mailproc.mailbox.partial import letter_attachment_bytes
from tests.bench.corpus import realistic_message

pytestmark = pytest.mark.integration


def nested_message() -> bytes:
    from email.message import EmailMessage
    from email.policy import SMTP

    inner = EmailMessage(policy=SMTP)
    inner["From"] = "Отдел хранения <storage@nlrs.example>"
    inner["Subject"] = "Пересланное"
    inner.set_content("Внутренний текст")
    outer = EmailMessage(policy=SMTP)
    outer["From"] = "reader@example.org"
    outer["Subject"] = "Fwd: Пересланное"
    outer["Message-ID"] = "<nested@example.org>"
    outer.set_content("Текст письма")
    outer.add_alternative("<p>Текст <b>письма</b></p>", subtype="html")
    outer.add_attachment(inner)
    outer.add_attachment(b"%PDF-1.4\n" + bytes(range(256)) * 2000, maintype="application",
                         subtype="pdf", filename="scan.pdf")
    return outer.as_bytes()


@pytest.mark.parametrize("raw", [realistic_message(i) for i in (1, 2, 5)] + [nested_message()],
                         ids=["corpus1", "corpus2", "corpus5", "nested"])
def test_partial_letter_matches_full_decode(dovecot, raw):
    dovecot.deliver(raw)
    src = ImapSource(dovecot.host, dovecot.port, dovecot.user, dovecot.password)
    src.open()
    try:
        ((uid, partial),) = list(src.fetch_partial([r.uid for r in src.list_uids()]))
        full = decode_letter(raw)
        for name in ("message_id", "subject", "text", "html", "sender", "to", "date",
                     "automatic", "in_reply_to"):
            assert getattr(partial, name) == getattr(full, name), name
        assert len(partial.forwarded) == len(full.forwarded)
        assert [(a.name, a.type, a.part, a.declared_type) for a in partial.attachments] == \
            [(a.name, a.type, a.part, a.declared_type) for a in full.attachments]
        for p, f in zip(partial.attachments, full.attachments):
            assert abs(p.size - f.size) <= max(64, f.size // 50)
            # loaded on demand: the very bytes the full decode saw
            assert letter_attachment_bytes(partial, p) == f.data
            assert p.sha256 == hashlib.sha256(f.data).hexdigest()
        assert partial.size == len(raw)
    finally:
        src.close()

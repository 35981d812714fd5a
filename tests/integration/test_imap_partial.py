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


@pytest.mark.parametrize("cte", ["base64", "quoted-printable", "8bit"])
def test_big_part_loads_in_ranges_to_the_same_bytes(dovecot, monkeypatch, cte):
    """A part is fetched in ranges (BODY[n]<origin.octets>) cut anywhere, inside a base64
    quantum or a "=XX" escape, and decoded as they come: the bytes are those of a full decode."""
    from email.message import EmailMessage
    from email.policy import SMTP

    from mailproc.mailbox import imap

    monkeypatch.setattr(imap, "PART_RANGE", 997)  # many ranges, cut at odd places
    msg = EmailMessage(policy=SMTP)
    msg["From"], msg["Subject"] = "reader@example.org", "Скан"
    msg["Message-ID"] = f"<ranges-{cte}@example.org>"
    msg.set_content("Во вложении скан.")
    if cte == "base64":
        msg.add_attachment(bytes(range(256)) * 300, maintype="application", subtype="pdf",
                           filename="scan.pdf")
    else:
        text = ("Анкета читателя = заполнена; строка\n" * 2000)
        msg.add_attachment(text, subtype="plain", filename="анкета.txt", cte=cte)
    raw = msg.as_bytes()
    dovecot.deliver(raw)
    src = ImapSource(dovecot.host, dovecot.port, dovecot.user, dovecot.password)
    src.open()
    try:
        (ref,) = src.list_uids()
        full = decode_letter(raw)
        part = full.attachments[0].part
        asked: list[bytes] = []
        fetch = src._c.fetch

        def spy(uids, items, *args, **kwargs):  # the real FETCH, its items noted
            asked.extend(items)
            return fetch(uids, items, *args, **kwargs)

        monkeypatch.setattr(src._c, "fetch", spy)
        got = src.load_part(ref.uid, part)
        assert got == full.attachments[0].data and len(got) > 50 * 997
        whole = f"BODY.PEEK[{part}]".encode()
        assert whole not in asked  # never the whole part in one literal
        assert sum(item.startswith(whole + b"<") for item in asked) > 50
    finally:
        src.close()

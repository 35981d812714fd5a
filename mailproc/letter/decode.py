"""Raw RFC 5322 bytes -> Letter. Never raises: a broken message yields a Letter with defects.

First cut; hardened by the labelled corpus in tests/fixtures/letters.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import hashlib
import html as html_lib
import re
from email.message import EmailMessage, Message

import filetype

from mailproc.letter.model import Address, Attachment, Letter

POLICY = email.policy.default.clone(max_line_length=0)


def decode_letter(raw: bytes) -> Letter:
    content_hash = hashlib.sha256(raw).hexdigest()
    defects: list[str] = []
    try:
        msg = email.message_from_bytes(raw, policy=POLICY)
    except Exception as exc:  # noqa: BLE001 - the parser must never stop us
        defects.append(f"unparseable: {type(exc).__name__}")
        return Letter(content_hash=content_hash, size=len(raw),
                      message_id=f"<{content_hash[:32]}@mailproc.invalid>",
                      sender=Address(""), defects=defects)
    return _from_message(msg, raw, content_hash, defects)


def _from_message(msg: Message, raw: bytes, content_hash: str, defects: list[str]) -> Letter:
    headers = [(k, _header_text(msg, k, v, defects)) for k, v in msg.raw_items()]

    def first(name: str) -> str:
        lname = name.lower()
        for k, v in headers:
            if k.lower() == lname:
                return v
        return ""

    message_id = first("Message-ID").strip()
    if not message_id:
        message_id = f"<{content_hash[:32]}@mailproc.invalid>"
    senders = _addresses(first("From"))
    letter = Letter(
        content_hash=content_hash,
        size=len(raw),
        message_id=message_id.split()[0] if message_id else message_id,
        sender=senders[0] if senders else Address(""),
        to=_addresses(first("To")),
        cc=_addresses(first("Cc")),
        reply_to=_addresses(first("Reply-To")),
        subject=" ".join(first("Subject").split()),
        in_reply_to=first("In-Reply-To").strip(),
        references=re.findall(r"<[^>]+>", first("References")),
        headers=headers,
        defects=defects,
    )
    try:
        letter.date = email.utils.parsedate_to_datetime(first("Date")) if first("Date") else None
        if letter.date is not None and letter.date.tzinfo is None:
            letter.date = None
    except (TypeError, ValueError, IndexError):
        defects.append("bad Date header")
    _walk(msg, letter, defects)
    if not letter.text and letter.html:
        letter.text = html_to_text(letter.html)
    return letter


def _header_text(msg: Message, name: str, value, defects: list[str]) -> str:
    try:
        return str(msg.policy.header_fetch_parse(name, value))
    except Exception:  # noqa: BLE001
        defects.append(f"undecodable {name} header")
        return ""


def _addresses(value: str) -> list[Address]:
    out = []
    for name, addr in email.utils.getaddresses([value]):
        if addr or name:
            out.append(Address(email=addr.strip().lower(), name=name.strip()))
    return out


def _walk(msg: Message, letter: Letter, defects: list[str]) -> None:
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        disposition = part.get_content_disposition()
        name = part.get_filename() or ""
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not name:
            text = _text_of(part, defects)
            if ctype == "text/plain" and not letter.text:
                letter.text = text
            elif ctype == "text/html" and not letter.html:
                letter.html = text
            continue
        data = part.get_payload(decode=True) or b""
        kind = filetype.guess(data)
        letter.attachments.append(Attachment(
            name=str(name),
            type=kind.mime if kind else ctype,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            declared_type=ctype,
            data=data,
            inline=disposition == "inline",
        ))


def _text_of(part: Message, defects: list[str]) -> str:
    data = part.get_payload(decode=True) or b""
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset)
    except (LookupError, UnicodeDecodeError):
        defects.append(f"text not in declared charset {charset}")
        return data.decode("utf-8", errors="replace")


_TAGS = re.compile(r"<[^>]+>")
_BLOCK = re.compile(r"<(br|/p|/div|/tr|/li|/h\d)[^>]*>", re.I)
_DROP = re.compile(r"<(script|style|head)[^>]*>.*?</\1>", re.I | re.S)


def html_to_text(html: str) -> str:
    text = _DROP.sub("", html)
    text = _BLOCK.sub("\n", text)
    text = _TAGS.sub("", text)
    text = html_lib.unescape(text)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join(line for line in lines if line).strip()

"""An outbox row to the bytes that go on the wire, the same bytes every time.

Building is deterministic (the Date is the row's, MIME boundaries derive from the Message-ID)
so that a re-send after a crash and the copy appended to Sent are the very message the reader
got. Encodings follow what readers' clients expect: Russian subjects and display names as
RFC 2047 encoded words (split between characters, each word at most 75 characters), UTF-8
bodies in base64, attachment names rebuilt (``outbound.filenames``) and written as RFC 2231
parameters by the standard library, CRLF line ends (RFC 5321 2.3.8), header lines folded
under 78 characters.

Written by hand rather than with ``email.generator``: its header folding costs about 10 ms a
message, more than everything else the sender does together.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from email.message import Message
from email.utils import format_datetime
from functools import lru_cache

from mailproc.outbound.filenames import safe_content_type, safe_name

CRLF = "\r\n"
#: headers copied from the row's ``headers["extra"]`` in this order (the rest follow, sorted)
_ORDER = ["Reply-To", "In-Reply-To", "References", "Auto-Submitted", "List-Unsubscribe",
          "List-Unsubscribe-Post", "List-Id", "Precedence"]
_ADDRESS_HEADERS = {"reply-to", "cc", "to", "from", "sender"}
_SPECIALS = set('()<>[]:;@\\,."')


def encoded_words(text: str, room: int = 45) -> list[str]:
    """RFC 2047 B-encoded words for ``text``, each holding at most ``room`` bytes of UTF-8
    (so at most 72 characters), never splitting a character."""
    words, chunk, size = [], [], 0
    for ch in text:
        n = len(ch.encode("utf-8"))
        if chunk and size + n > room:
            words.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(ch)
        size += n
    if chunk:
        words.append("".join(chunk))
    return ["=?utf-8?b?" + base64.b64encode(w.encode("utf-8")).decode("ascii") + "?="
            for w in words]


def encode_text(value: str) -> str:
    """An unstructured header value (Subject): ASCII as is, else encoded words folded one
    per line (RFC 2047 6.2: the whitespace between adjacent encoded words is dropped)."""
    if value.isascii():
        return value
    return (CRLF + " ").join(encoded_words(value))


@lru_cache(maxsize=1024)
def encode_phrase(name: str) -> str:
    """A display name: a quoted string when ASCII, else encoded words. Cached: the From
    name is the same on every message of a pass."""
    if name.isascii():
        if any(c in _SPECIALS for c in name):
            return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return name
    return (CRLF + " ").join(encoded_words(name))


def format_address(name: str, addr: str) -> str:
    return f"{encode_phrase(name)} <{addr}>" if name else addr


def encode_header(name: str, value: str) -> str:
    if value.isascii():
        return value
    if name.lower() == "list-id":  # RFC 2919: [phrase] "<" list-id ">"; only the phrase encoded
        phrase, _, rest = value.rpartition("<")
        if phrase.strip():
            return f"{encode_phrase(phrase.strip())}{CRLF} <{rest}"
    if name.lower() in _ADDRESS_HEADERS:
        from email.utils import getaddresses

        return ", ".join(format_address(n, a) for n, a in getaddresses([value]))
    return encode_text(value)


def _b64(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii").replace("\n", CRLF)


def _text_part(text: str, subtype: str) -> str:
    return (f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}'
            f"Content-Transfer-Encoding: base64{CRLF}{CRLF}"
            + _b64(text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")))


def _attachment_head(name: str, content_type: str) -> str:
    """One attachment's header lines. The name is rebuilt (``filenames.safe_name``,
    idempotent: callers have usually rebuilt it already) and its parameters are written by
    the standard library (``email.message.Message.add_header``: a quoted string when ASCII,
    else RFC 2231 ``filename*=utf-8''...``); the rebuilt name's length cap keeps the line
    under RFC 5322's 998 characters. No RFC 2047 ``name=`` for old clients: encoded words
    inside a parameter are not a standard (RFC 2047 5), and every client in use reads RFC
    2231."""
    ctype = safe_content_type(content_type)
    name = safe_name(name, ctype)
    params = Message()
    params.add_header("Content-Type", ctype, name=name)
    params.add_header("Content-Disposition", "attachment", filename=name)
    head = "".join(f"{key}: {value.replace('; ', ';' + CRLF + ' ', 1)}{CRLF}"
                   for key, value in params.items())
    return head + f"Content-Transfer-Encoding: base64{CRLF}{CRLF}"


def _attachment_part(name: str, content_type: str, data: bytes) -> str:
    """One whole attachment part as text (the head above and the base64 body)."""
    return _attachment_head(name, content_type) + _b64(data)


def _multipart(subtype: str, boundary: str, parts: list[str]) -> str:
    body = "".join(f"--{boundary}{CRLF}{p}{CRLF}" if not p.endswith(CRLF)
                   else f"--{boundary}{CRLF}{p}" for p in parts)
    return (f'Content-Type: multipart/{subtype};{CRLF} boundary="{boundary}"{CRLF}{CRLF}'
            f"{body}--{boundary}--{CRLF}")


def build_message(row, attachments: Iterable[tuple[object, bytes]], from_name: str,
                  sent_copy: bool = False) -> bytes:
    """The RFC 5322 message for ``row``; ``attachments`` pairs each OutboxAttachment with its
    bytes, which are carried unchanged (base64). It is read one pair at a time and each file
    is encoded as bytes before the next is taken, so a generator keeps one file's clear bytes
    in memory, not all of them, and no text copy of the base64 is ever made. ``sent_copy``:
    the copy for the Sent folder, with the row's ``headers["copy_extra"]``
    (``X-Mailproc-Recipients`` of a mailing issue) added after the others; the message itself
    is otherwise the same bytes."""
    seed = hashlib.sha256(row.message_id.encode()).hexdigest()[:24]
    lines = [
        f"From: {format_address(from_name, row.sender)}",
        "To: " + ("," + CRLF + " ").join(format_address(n, a)
                                          for n, a in row.headers.get("to", [])),
        f"Subject: {encode_text(row.subject)}",
        f"Date: {format_datetime(row.date)}",
        f"Message-ID: {row.message_id}",
    ]
    extra = row.headers.get("extra", {})
    for name in _ORDER + sorted(k for k in extra if k not in _ORDER):
        if extra.get(name):
            lines.append(f"{name}: {encode_header(name, extra[name])}")
    if sent_copy:
        lines.extend(f"{name}: {encode_header(name, value)}"
                     for name, value in row.headers.get("copy_extra", {}).items())
    lines.append("MIME-Version: 1.0")
    head = CRLF.join(lines) + CRLF
    body = _text_part(row.text, "plain")
    if row.html:
        body = _multipart("alternative", f"=_mp_{seed}_alt",
                          [body, _text_part(row.html, "html")])
    files = [(_attachment_head(a.name, a.content_type).encode("ascii"),
              base64.encodebytes(data).replace(b"\n", b"\r\n"))
             for a, data in attachments]
    if not files:
        return (head + body).encode("ascii")
    # _multipart("mixed", ...) written as bytes: every part ends with CRLF here
    boundary = f"=_mp_{seed}_mix"
    sep = f"--{boundary}{CRLF}".encode("ascii")
    pieces = [(head + f'Content-Type: multipart/mixed;{CRLF} boundary="{boundary}"{CRLF}{CRLF}'
               ).encode("ascii"), sep, body.encode("ascii")]
    if not body.endswith(CRLF):
        pieces.append(CRLF.encode())
    for part_head, encoded in files:
        pieces += [sep, part_head, encoded]
    pieces.append(f"--{boundary}--{CRLF}".encode("ascii"))
    return b"".join(pieces)

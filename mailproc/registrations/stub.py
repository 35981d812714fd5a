"""The redacted copy ("stub") that replaces a reader's registration letter in the mailbox.

A pure function of the original's bytes: same header block and text, each document (an
attachment whose SHA-256 is a document of the case) replaced by one inline text/plain part
naming the case and the document kind, e.g.

    [документ убран в защищённое хранилище: дело 2026-00012, регистрационная анкета (2 стр.)]

What changes in the header, and why (what a librarian's mail client shows):

- ``Message-ID`` is new (RFC 5322 3.6.4: one identifier per message; the stub is a new message,
  and for a moment it sits beside the original): the original's local part and domain with
  ``.redacted-<marker>`` inserted, so it is plainly derived from it.
- ``X-Mailproc-Original-Message-ID`` keeps the original identifier (withdrawal and purge find
  the stub by it), and it is appended to ``References``: clients that thread by References
  (the RFC 5256 REFERENCES algorithm, Thunderbird, Roundcube) then keep the stub in one thread
  with the reader's later letters and our answers, which all name the original.
  ``In-Reply-To`` and the earlier ``References`` stay as they were.
- ``X-Mailproc-Redacted: <case token> <marker>`` marks the stub: recovery after a kill
  searches the folder for it before appending again (never a second stub).
- ``DKIM-Signature``, ``ARC-Seal`` and ``ARC-Message-Signature`` are dropped: they sign the
  original body and would show as broken signatures on the stub.

A letter that must stay in the mailbox after its case's data was destroyed (the reader's
consent withdrawal, which waits in the review folder for a librarian's answer) is replaced by
an *anonymised* copy instead (``build_anonymised``): a new message, not an edited one, whose
header keeps only addresses (no display names), dates and the thread identifiers, whose
subject is a fixed Russian one naming the case, and whose one text part says what was removed.
Nothing of the reader's words, name, passport number or files is carried over.

Documents hidden inside a container the walk cannot see into (a TNEF winmail.dat) cannot be
matched by hash: when a document of the letter is not found, every attachment of the stub
is replaced (the vault holds the documents; the line then says only that an attachment was
removed). A passport number typed in the text (series and number after the word «паспорт»)
is masked in the stub's text parts.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from email.message import Message

from mailproc.registrations.documents import names_ru

MARKER_HEADER = "X-Mailproc-Redacted"
ORIGINAL_ID_HEADER = "X-Mailproc-Original-Message-ID"
#: signatures over the original body: on the stub they would only verify as broken
DROPPED_HEADERS = ("DKIM-Signature", "ARC-Seal", "ARC-Message-Signature")

#: a Russian passport's series (4 digits) and number (6 digits) after the word «паспорт»
_PASSPORT = re.compile(
    r"(паспорт[а-яё]*\W{0,3}(?:[^\W\d]+\W{1,3}){0,4}?)(\d{2}[ \t]?\d{2}[ \t]*(?:№|N|No)?"
    r"[ \t]*\d{6})(?!\d)", re.IGNORECASE)
PASSPORT_MASK = "[номер паспорта убран]"


def document_line(token: str, kind: str, pages: int = 1) -> str:
    """The line that stands for one document in the stub."""
    what = names_ru(kind) if kind else ""
    what = what or "документ"
    if pages and pages > 1:
        what += f" ({pages} стр.)"
    return f"[документ убран в защищённое хранилище: дело {token}, {what}]"


def removed_line(token: str) -> str:
    """The line for an attachment removed without being recognised as a document."""
    return f"[вложение убрано из общего ящика: дело {token}]"


def stub_message_id(original_id: str, marker: str, domain: str = "mailproc.invalid") -> str:
    """``<local.redacted-MARKER@domain>`` from ``<local@domain>`` (``domain`` when the
    original had no Message-ID)."""
    inner = original_id.strip().strip("<>")
    local, at, host = inner.rpartition("@")
    if not at or not local:
        local, host = "", domain
    local = re.sub(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]", "", local)[:200].strip(".")
    host = re.sub(r"[^A-Za-z0-9.-]", "", host)[:200] or domain
    return f"<{local + '.' if local else ''}redacted-{marker}@{host}>"


def anonymised_line(token: str) -> str:
    """The one line the anonymised copy holds."""
    return (f"[текст письма и вложения убраны из общего ящика: персональные данные по делу "
            f"{token} уничтожены (отзыв согласия). Адрес отправителя оставлен для ответа "
            f"читателю.]")


def build_anonymised(raw: bytes, *, token: str, marker: str) -> bytes:
    """The anonymised copy of ``raw`` (see the module docstring): From, To, Cc and Reply-To as
    bare addresses (RFC 5322 3.4 addr-spec), Date, In-Reply-To and References kept for
    threading, a new Message-ID derived from the original's, which is kept in
    ``X-Mailproc-Original-Message-ID``, and the marker."""
    from email.message import EmailMessage
    from email.utils import getaddresses

    old = email.message_from_bytes(raw, policy=email.policy.compat32)
    msg = EmailMessage(policy=email.policy.SMTP)
    for name in ("From", "To", "Cc", "Reply-To"):
        addresses = [a for _n, a in getaddresses([str(v) for v in old.get_all(name, [])])
                     if a and "@" in a and a.isascii()]
        if addresses:
            msg[name] = ", ".join(addresses)
    for name in ("Date", "In-Reply-To"):
        if old.get(name) and str(old[name]).isascii():
            msg[name] = " ".join(str(old[name]).split())
    original_id = (old.get("Message-ID") or "").strip()
    refs = [r for r in " ".join((old.get("References") or "").split()).split() if r.isascii()]
    if original_id and original_id not in refs:
        refs.append(original_id)
    if refs:
        msg["References"] = " ".join(refs)
    msg["Subject"] = f"Отзыв согласия на обработку персональных данных (дело {token})"
    msg["Message-ID"] = stub_message_id(original_id, marker)
    if original_id:
        msg[ORIGINAL_ID_HEADER] = original_id
    msg[MARKER_HEADER] = f"{token} {marker}"
    msg.set_content(anonymised_line(token) + "\n", charset="utf-8", cte="8bit")
    return msg.as_bytes()


def mask_passport_numbers(text: str) -> str:
    return _PASSPORT.sub(lambda m: m.group(1) + PASSPORT_MASK, text)


def build_stub(raw: bytes, *, token: str, marker: str, lines: dict[str, str],
               expected: set[str] | frozenset[str] = frozenset(),
               message_id: str | None = None) -> bytes:
    """The stub of ``raw``. ``lines``: SHA-256 of a document's bytes -> its line;
    ``expected``: the hashes this letter must have held (when one is not found, every
    attachment is replaced). ``message_id``: the stub's Message-ID (default: derived)."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    original_id = (msg.get("Message-ID") or "").strip()
    found = _replace_documents(msg, lines)
    if set(expected) - found:
        _replace_attachments(msg, removed_line(token))
    _mask_texts(msg)
    for name in DROPPED_HEADERS:
        del msg[name]
    del msg[MARKER_HEADER]
    del msg[ORIGINAL_ID_HEADER]
    new_id = message_id or stub_message_id(original_id, marker)
    if original_id:
        refs = " ".join((msg.get("References") or "").split())
        if original_id not in refs.split():
            del msg["References"]
            msg["References"] = f"{refs} {original_id}".strip()
        msg[ORIGINAL_ID_HEADER] = original_id
    if "Message-ID" in msg:
        msg.replace_header("Message-ID", new_id)
    else:
        msg["Message-ID"] = new_id
    msg[MARKER_HEADER] = f"{token} {marker}"
    return msg.as_bytes(policy=email.policy.compat32.clone(linesep="\r\n"))


def _leaves(msg: Message):
    for part in msg.walk():
        if not part.is_multipart():
            yield part


def _is_body_text(part: Message) -> bool:
    return (part.get_content_type() in ("text/plain", "text/html")
            and part.get_content_disposition() != "attachment" and not part.get_filename())


def _replace_documents(msg: Message, lines: dict[str, str]) -> set[str]:
    found: set[str] = set()
    for part in _leaves(msg):
        data = part.get_payload(decode=True)
        if not data:
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest in lines:
            _set_line(part, lines[digest], root=part is msg)
            found.add(digest)
    return found


def _replace_attachments(msg: Message, line: str) -> None:
    for part in _leaves(msg):
        if not _is_body_text(part) and not part.get(MARKER_HEADER + "-Part"):
            _set_line(part, line, root=part is msg)


def _set_line(part: Message, line: str, *, root: bool) -> None:
    """Make ``part`` an inline UTF-8 text part holding ``line`` (a root keeps its header)."""
    for name in list(part.keys()):
        if root and not name.lower().startswith("content-"):
            continue
        del part[name]
    part.set_payload((line + "\n").encode("utf-8"))
    part["Content-Type"] = 'text/plain; charset="utf-8"'
    part["Content-Transfer-Encoding"] = "8bit"
    part["Content-Disposition"] = "inline"
    part[MARKER_HEADER + "-Part"] = "document"


def _mask_texts(msg: Message) -> None:
    for part in _leaves(msg):
        if not _is_body_text(part) or part.get(MARKER_HEADER + "-Part"):
            continue
        data = part.get_payload(decode=True) or b""
        charset = part.get_content_charset() or "us-ascii"
        try:
            text = data.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
        masked = mask_passport_numbers(text)
        if masked == text:
            continue
        try:
            encoded = masked.encode(charset)
        except (LookupError, UnicodeEncodeError):
            charset, encoded = "utf-8", masked.encode("utf-8")
        del part["Content-Transfer-Encoding"]
        part.set_payload(encoded)
        part.set_param("charset", charset)
        part["Content-Transfer-Encoding"] = "8bit"

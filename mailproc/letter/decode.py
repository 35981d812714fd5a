"""Raw RFC 5322 bytes -> Letter. Never raises, and is bounded in time on hostile input.

How the work is split:
- structure: the standard library's feed parser (``email``), with the compat32 policy. The
  ``policy.default`` header classes are NOT used on the wire headers: their parser is quadratic
  or recursive on hostile values (measured here: a 1 MB From header 83 s, 200 000 parameters in a
  Content-Type 94 s, 300 000 nested comments a RecursionError inside the parser itself).
- header text: :mod:`mailproc.letter.headers` (RFC 2047, RFC 2231, raw 8-bit), on bounded values.
- addresses and dates: mail-parser's forensic parsers (``mailparser.utils.get_addresses`` keeps
  display names with commas and records ambiguous items, ``mailparser.dates.parse_mail_date``
  says why a Date is wrong), which become defects.
- charsets: :mod:`mailproc.letter.charsets`; types: :mod:`mailproc.letter.sniff`.

Each attachment's transfer encoding is decoded exactly once; the bytes are hashed and sniffed
from that one copy. Walking stops after ``MAX_PARTS`` parts or ``MAX_DEPTH`` levels, with a defect.
"""

from __future__ import annotations

import email
import email.parser
import email.policy
import email.utils
import hashlib
import re
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from email.message import Message

from mailproc.letter import bounce as bounces
from mailproc.letter.charsets import decode_text
from mailproc.letter.fastparse import parse_fast
from mailproc.letter.headers import bounded, decode_header, parse_params, to_bytes
from mailproc.letter.htmltext import html_to_text
from mailproc.letter.marks import automatic_reason
from mailproc.letter.model import Address, Attachment, Letter
from mailproc.letter.sniff import sniff_type
from mailproc.letter.tnef import unpack_tnef

POLICY = email.policy.compat32
MAX_PARTS = 1000
MAX_DEPTH = 24
MAX_HEADERS = 500
MAX_TEXT_PARTS = 20  # charset detection is Python-speed work: bounded per letter
_MAX_CT = 8192
# Literal prefixes keep the scan at C speed; the line start is checked per hit.
_CT_LINES = (re.compile(rb"ontent-[Tt]ype:[^\n]*(?:\n[ \t][^\n]*)*"),
             re.compile(rb"ONTENT-TYPE:[^\n]*(?:\n[ \t][^\n]*)*"))
_MSGID = re.compile(r"<[^<>\s]+>")
_ADDR_SPEC = re.compile(r"[^\s<>()\",;:@]{1,128}@[^\s<>()\",;:@]{1,255}")  # bounded: linear


def decode_letter(raw: bytes, *, content_hash: str = "", rebuilt: bool = False) -> Letter:
    """Decode ``raw``; a message that cannot be read still yields a Letter with defects.

    ``content_hash``: the caller already hashed ``raw`` (or names the letter otherwise, as
    the partial IMAP path does): it is not hashed a second time. ``rebuilt``: ``raw`` was
    put together by mailproc itself (mailproc.mailbox.partial), so its MIME delimiters are
    regular and the multipart fast path is taken whatever its size; the feed parser would
    compile a fresh boundary regex for every such small message."""
    content_hash = content_hash or hashlib.sha256(raw).hexdigest()
    try:
        defects: list[str] = []
        tamed = _tame(raw, defects)
        msg = parse_fast(tamed, 0 if rebuilt else None) \
            or email.message_from_bytes(tamed, policy=POLICY)
        letter = _Decoder(content_hash).letter(msg, content_hash, len(raw), "", 0, defects)
    except (Exception, RecursionError) as exc:  # noqa: BLE001 - must never stop intake
        letter = Letter(content_hash=content_hash, size=len(raw), message_id=_made_id(content_hash),
                        sender=Address(""), defects=[f"not decodable: {type(exc).__name__}"])
    letter.raw = raw
    return letter


def _made_id(content_hash: str) -> str:
    return f"<{content_hash[:32]}@mailproc.invalid>"


def _tame(raw: bytes, defects: list[str]) -> bytes:
    """Cut giant Content-Type headers before parsing: the feed parser reads their parameters
    (for the boundary) with a quadratic loop."""
    if len(raw) < _MAX_CT:
        return raw
    long = []
    for pattern in _CT_LINES:
        for match in pattern.finditer(raw):
            start = match.start() - 1
            if match.end() - start > _MAX_CT and (start == 0 or raw[start - 1:start] == b"\n"):
                long.append((start, match.end()))
    out = []
    pos = 0
    for start, end in sorted(long):
        value = raw[start:start + _MAX_CT]
        cut = value.rfind(b";")
        value = value[:cut] if cut > 20 else value
        out += [raw[pos:start], value]
        pos = end
        defects.append(f"Content-Type header of {end - start} bytes cut")
    return b"".join(out) + raw[pos:] if out else raw


@dataclass
class _Budget:
    parts: int = 0
    texts: int = 0
    stopped: set[str] = field(default_factory=set)


class _Decoder:
    def __init__(self, root_hash: str):
        self.budget = _Budget()
        self.root_hash = root_hash

    # -- one message (the top one or a forwarded one) ------------------------------------------
    def letter(self, msg: Message, content_hash: str, size: int, number: str, depth: int,
               defects: list[str]) -> Letter:
        raw_headers = list(msg.raw_items())
        if len(raw_headers) > MAX_HEADERS:
            defects.append(f"{len(raw_headers)} header fields, read the first {MAX_HEADERS}")
            raw_headers = raw_headers[:MAX_HEADERS]
        headers = []
        for name, value in raw_headers:
            name = str(name)
            quote = name.lower() in ("from", "to", "cc", "reply-to", "sender", "bcc")
            headers.append((name, decode_header(bounded(str(value), defects, name), defects,
                                                quote_specials=quote)))
        letter = Letter(content_hash=content_hash, size=size, message_id="",
                        sender=Address(""), headers=headers, defects=defects)
        senders = _addresses(letter.header("From"), defects) or \
            _addresses(letter.header("Sender"), defects)
        letter.sender = senders[0] if senders else Address("")
        letter.to = _addresses(letter.header("To"), defects)
        letter.cc = _addresses(letter.header("Cc"), defects)
        letter.reply_to = _addresses(letter.header("Reply-To"), defects)
        letter.subject = " ".join(letter.header("Subject").split())
        letter.message_id = _message_id(letter.header("Message-ID")) or _made_id(content_hash)
        letter.in_reply_to = (_MSGID.findall(letter.header("In-Reply-To")) or [""])[0]
        letter.references = _MSGID.findall(letter.header("References"))[:200]
        letter.date = _date(letter.header("Date"), defects)
        report = _Report()
        self.walk(msg, letter, number, depth, False, report)
        if not letter.text and letter.html:
            letter.text = html_to_text(letter.html)
        _collect_defects(msg, defects)
        self.marks(letter, report)
        return letter

    def marks(self, letter: Letter, report: "_Report") -> None:
        original = report.original_id or (letter.forwarded[0].message_id
                                          if letter.forwarded else "")
        own = {letter.sender.email, *(a.email for a in letter.to)}
        if report.blocks:
            letter.bounce = bounces.from_report(report.blocks, original)
        elif bounces.looks_like_bounce(letter.sender.email, letter.subject):
            letter.bounce = bounces.from_text(letter.text, original, own)
        letter.automatic_reason = automatic_reason(
            letter.header, letter.sender.email, letter.header_all("Return-Path"))
        if not letter.automatic_reason and letter.bounce is not None:
            letter.automatic_reason = "delivery report"
        letter.automatic = bool(letter.automatic_reason)

    # -- the MIME tree ------------------------------------------------------------------------
    def walk(self, part: Message, letter: Letter, number: str, depth: int, alternative: bool,
             report: "_Report") -> None:
        budget = self.budget
        budget.parts += 1
        if budget.parts > MAX_PARTS:
            self._stop(letter, "parts", f"more than {MAX_PARTS} MIME parts: the rest not read")
            return
        if depth > MAX_DEPTH:
            self._stop(letter, "depth", f"MIME nesting deeper than {MAX_DEPTH}: not read")
            return
        ctype, params = parse_params(_raw(part, "Content-Type") or "text/plain", letter.defects)
        if "/" not in ctype:
            ctype = "text/plain"
        if part.is_multipart():
            children = part.get_payload()
            if ctype == "message/delivery-status":  # the parser split it into field blocks
                report.blocks.extend(_fields(child) for child in children[:200]
                                     if isinstance(child, Message))
                return
            if ctype.startswith("message/") and children and isinstance(children[0], Message):
                self.forwarded(children[0], letter, number or "1", depth)
                return
            for index, child in enumerate(children, start=1):
                if budget.parts > MAX_PARTS:
                    self._stop(letter, "parts", f"more than {MAX_PARTS} MIME parts: "
                                                f"the rest not read")
                    break
                self.walk(child, letter, f"{number}.{index}" if number else str(index),
                          depth + 1, alternative or ctype == "multipart/alternative", report)
            return
        number = number or "1"
        if ctype == "message/rfc822":
            inner = _parse_bytes(_payload(part, letter.defects))
            self.forwarded(inner, letter, number, depth)
            return
        if ctype == "message/delivery-status":
            report.blocks.extend(_status_blocks(_payload(part, letter.defects)))
            return
        if ctype == "text/rfc822-headers":
            found = _MSGID.search(_header_of(_payload(part, letter.defects), "message-id"))
            report.original_id = report.original_id or (found.group(0) if found else "")
            return
        disposition, dparams = parse_params(_raw(part, "Content-Disposition"), letter.defects,
                                            "Content-Disposition")
        name = (dparams.get("filename") or params.get("name") or "").strip()
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not name:
            self.budget.texts += 1
            if self.budget.texts <= MAX_TEXT_PARTS:
                self.body_text(part, ctype, params, letter, alternative)
                return
            self._stop(letter, "texts", f"more than {MAX_TEXT_PARTS} text parts: "
                                        f"the rest kept as attachments")
        self.attachment(part, ctype, name, disposition, number, letter)

    def _stop(self, letter: Letter, why: str, defect: str) -> None:
        if why not in self.budget.stopped:
            self.budget.stopped.add(why)
            letter.defects.append(defect)

    def forwarded(self, inner: Message, letter: Letter, number: str, depth: int) -> None:
        inner_hash = hashlib.sha256(f"{self.root_hash}/{number}".encode()).hexdigest()
        nested = self.letter(inner, inner_hash, 0, number, depth + 1, [])
        letter.forwarded.append(nested)

    def body_text(self, part: Message, ctype: str, params: dict, letter: Letter,
                  alternative: bool) -> None:
        data = _payload(part, letter.defects)
        decoded = decode_text(data, params.get("charset"))
        if decoded.defect:
            letter.defects.append(f"{ctype}: {decoded.defect}")
        text = decoded.text.replace("\r\n", "\n").replace("\r", "\n")
        if "\x00" in text:
            letter.defects.append(f"{ctype}: NUL characters removed")
            text = text.replace("\x00", "")
        if ctype == "text/html":
            if not letter.html:
                letter.html = text
                letter.charset = letter.charset or decoded.charset
            return
        if params.get("format", "").lower() == "flowed":
            text = _unflow(text, params.get("delsp", "").lower() == "yes")
        text = text.strip()
        if not letter.text:
            letter.text = text
            letter.charset = decoded.charset if text else letter.charset
        elif text and not alternative:
            letter.text += "\n\n" + text  # phones split the text around inline photos

    def attachment(self, part: Message, ctype: str, name: str, disposition: str, number: str,
                   letter: Letter) -> None:
        data = _payload(part, letter.defects)
        real, defect = sniff_type(data, ctype, name)
        if defect:
            letter.defects.append(f"part {number}: {defect}")
        if real == "application/ms-tnef" or name.lower() == "winmail.dat":
            problems: list[str] = []
            content = unpack_tnef(data, problems)
            letter.defects.extend(f"part {number}: {p}" for p in problems)
            if content is not None:
                for item in content.files:
                    kind, _ = sniff_type(item.data, "application/octet-stream", item.name)
                    letter.attachments.append(_attachment(item.name, kind, "",
                                                          item.data, number, False, "",
                                                          container=name or "winmail.dat"))
                if not letter.text and content.body:
                    letter.text = content.body.replace("\r\n", "\n").strip()
                if not letter.html and content.html:
                    letter.html = content.html
                return
        cid = (_raw(part, "Content-ID") or "").strip().strip("<>")
        letter.attachments.append(_attachment(name, real, ctype, data, number,
                                              disposition == "inline", cid))


@dataclass
class _Report:
    blocks: list[dict[str, str]] = field(default_factory=list)
    original_id: str = ""


def _attachment(name: str, kind: str, declared: str, data: bytes, number: str, inline: bool,
                cid: str, container: str = "") -> Attachment:
    return Attachment(name=name, type=kind, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                      declared_type=declared, data=data, content_id=cid[:200], inline=inline,
                      part=number, container=container)


def _raw(part: Message, name: str) -> str:
    lname = name.lower()
    for key, value in part.raw_items():
        if key.lower() == lname:
            return str(value)
    return ""


def _payload(part: Message, defects: list[str]) -> bytes:
    """The part's bytes with the transfer encoding undone, once."""
    try:
        data = part.get_payload(decode=True)
    except Exception as exc:  # noqa: BLE001
        defects.append(f"payload not decodable: {type(exc).__name__}")
        raw = part.get_payload()
        return to_bytes(raw) if isinstance(raw, str) else b""
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    if isinstance(raw, list):
        return b"".join(to_bytes(m.as_string()) for m in raw if isinstance(m, Message))
    return to_bytes(raw) if isinstance(raw, str) else b""


def _parse_bytes(data: bytes) -> Message:
    return email.message_from_bytes(data, policy=POLICY)


def _status_blocks(data: bytes) -> list[dict[str, str]]:
    blocks = []
    for chunk in re.split(rb"\r?\n\s*\r?\n", data)[:200]:
        fields = _fields(email.parser.BytesHeaderParser(policy=POLICY).parsebytes(chunk))
        if fields:
            blocks.append(fields)
    return blocks


def _fields(block: Message) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in block.raw_items():
        fields.setdefault(str(name).lower(), " ".join(str(value).split())[:1000])
    return fields


def _header_of(data: bytes, name: str) -> str:
    msg = email.parser.BytesHeaderParser(policy=POLICY).parsebytes(data[:65536])
    return str(msg.get(name, ""))


def _message_id(value: str) -> str:
    found = _MSGID.search(value)
    if found:
        return found.group(0)
    value = "".join(value.split())
    return f"<{value[:250]}>" if value else ""


#: one address as most mail writes it: ``Name <local@domain>``, ``<local@domain>`` or a bare
#: ``local@domain``, with no quotes, comments, groups or second address (RFC 5322 3.4)
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,64}"
_ATOM_ADDR = rf"{_ATEXT}(?:\.{_ATEXT}){{0,15}}@{_ATEXT}(?:\.{_ATEXT}){{0,15}}"  # dot-atoms
_SIMPLE_ADDRESS = re.compile(
    rf"\s*(?:([^\"<>()\[\],;:@\\]{{0,500}}?)\s*<({_ATOM_ADDR})>|({_ATOM_ADDR}))\s*")


def simple_address(value: str) -> tuple[str, str] | None:
    """(name, address) for a header holding one plain address, else None.

    Why: mailparser's RFC 5322 parser costs about 20 us a header, a tenth of the intake's
    CPU per message, and nearly every From and To is this simple. The answer is the one
    mailparser gives (names whitespace-collapsed, nothing decoded; tests hold the two side
    by side); anything else (quoted names, comments, lists, groups) is left to it.
    """
    found = _SIMPLE_ADDRESS.fullmatch(value)
    if found is None:
        return None
    name, bracketed, bare = found.groups()
    return (" ".join(name.split()) if name else "", bracketed or bare)


def _addresses(value: str, defects: list[str]) -> list[Address]:
    if not value.strip():
        return []
    problems: list = []
    simple = simple_address(value)
    if simple is not None:
        pairs = [simple]
    else:
        from mailparser.utils import get_addresses

        try:
            pairs = get_addresses(value, defects=problems)
        except Exception:  # noqa: BLE001 - fall back to the standard library
            pairs = email.utils.getaddresses([value])
    out = [Address(email=addr.strip().lower(), name=_clean_name(name))
           for name, addr in pairs if addr.strip()]
    if not out:
        # "Иван Петров ivan@example.org" and similar: keep the address, say it was guessed.
        found = _ADDR_SPEC.search(value)
        if found:
            name = " ".join(value[:found.start()].replace('"', " ").split())
            out = [Address(email=found.group(0).strip(".").lower(), name=name)]
        if problems or found:
            defects.append("address header not well-formed, address guessed")
    return out[:500]


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
        name = name[1:-1]
    return name


def _date(value: str, defects: list[str]):
    if not value.strip():
        return None
    from mailparser.dates import parse_mail_date

    try:
        result = parse_mail_date(" ".join(value.split())[:200])
    except Exception:  # noqa: BLE001
        result = None
    if result is not None and result.value is not None:
        if result.reasons:
            defects.append(f"Date: {', '.join(result.reasons)}")
        try:  # keep the sender's own offset, as the header gave it
            offset = timezone(timedelta(hours=float(result.timezone)))
            return result.value.astimezone(offset)
        except (TypeError, ValueError, OverflowError):
            return result.value
    try:
        parsed = email.utils.parsedate_to_datetime(value)
        if parsed.tzinfo is not None:
            defects.append("Date: not RFC 5322, read leniently")
            return parsed
    except (TypeError, ValueError, IndexError, OverflowError):
        pass
    defects.append("Date: not readable")
    return None


def _unflow(text: str, delsp: bool) -> str:
    """RFC 3676 format=flowed: a line ending in a space continues on the next one."""
    out: list[str] = []
    joining = False
    for line in text.split("\n"):
        if line.startswith(" "):
            line = line[1:]  # space-stuffing (RFC 3676 section 4.4)
        soft = line.endswith(" ") and line.rstrip() != "--"
        piece = line[:-1] if soft and delsp else line
        if joining and out:
            out[-1] += piece
        else:
            out.append(piece)
        joining = soft
    return "\n".join(out)


def _collect_defects(msg: Message, defects: list[str]) -> None:
    """The parser's own findings (StartBoundaryNotFoundDefect ...), once each."""
    for part in _parts(msg):
        for defect in getattr(part, "defects", []):
            name = type(defect).__name__
            if name not in defects:
                defects.append(name)


def _parts(msg: Message, limit: int = MAX_PARTS):
    """Message parts breadth-first, bounded (``Message.walk`` recurses without limit)."""
    queue = [msg]
    count = 0
    while queue and count < limit:
        part = queue.pop(0)
        count += 1
        yield part
        payload = part._payload  # noqa: SLF001 - the tree as parsed, without decoding
        if isinstance(payload, list):
            queue.extend(p for p in payload[:limit] if isinstance(p, Message))

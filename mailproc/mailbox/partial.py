"""A Letter from the parts that decide, not from every byte (IMAP only).

Why: parsing base64 attachments line by line in Python costs about 16 ms a message, while
sorting needs the headers, the text and each attachment's name, type and size. Dovecot parses
MIME in C and serves BODYSTRUCTURE and single parts (RFC 3501 6.4.5 BODY[n], BODY[n.MIME]).

How: from BODYSTRUCTURE we rebuild the message's MIME tree with its original headers and
boundaries, but put into each large non-text leaf only a short decoded prefix (enough to sniff
the real type). The one decoder (mailproc.letter.decode_letter) reads that small stand-in, so
the Letter is built by the same code as always; its part numbers are IMAP's part numbers.
Then each stand-in attachment is corrected: ``size`` (from BODYSTRUCTURE; decoded size
estimated from the transfer encoding), ``data=None``, ``sha256=""`` (unknown until loaded).
``letter_attachment_bytes(letter, att)`` loads an attachment's bytes on demand, from the
message while it is still in the intake folder; the intake calls ``load_attachments`` before
running a decision's actions (actions read ``Attachment.data``), so only messages that are
merely filed (automatic mail, no actions) never download their attachments, and
``release_attachments`` drops the bytes again once the message is done. A big part is fetched
in ranges and decoded as they arrive (``ImapSource.load_part``), so it is held once, decoded.

``content_hash`` of such a letter is a fingerprint of the header block, the body structure
and the size ("p:" scheme inside the hash input), not a hash of every byte; a message always
takes the same path (decided by RFC822.SIZE), so re-matching after a UIDVALIDITY change still
compares like with like.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable

from mailproc.letter import Letter, decode_letter

#: leaves at most this big are fetched whole whatever their type
SMALL_PART = 32 * 1024
#: text and message parts up to this size are fetched whole (bigger: treated as attachments)
TEXT_PART = 2 * 1024 * 1024
#: bytes of the encoded body fetched to sniff an attachment's real type
PREFIX = 160


def _s(v) -> str:
    if v is None:
        return ""
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def _params(raw) -> dict[str, str]:
    if not raw or not isinstance(raw, (list, tuple)):
        return {}
    items = list(raw)
    return {_s(items[i]).lower(): _s(items[i + 1]) for i in range(0, len(items) - 1, 2)}


class Node:
    """One BODYSTRUCTURE node with its IMAP part number."""

    def __init__(self, bs, number: str):
        self.number = number
        self.multipart = bool(getattr(bs, "is_multipart", False))
        if self.multipart:
            self.children = [Node(child, f"{number}.{i}" if number else str(i))
                             for i, child in enumerate(bs[0], start=1)]
            self.ctype = "multipart/" + _s(bs[1]).lower()
            self.params = _params(bs[2]) if len(bs) > 2 else {}
            self.size = sum(c.size for c in self.children)
            self.encoding = ""
        else:
            self.children = []
            self.ctype = f"{_s(bs[0]).lower()}/{_s(bs[1]).lower()}"
            self.params = _params(bs[2])
            self.encoding = _s(bs[5]).lower()
            self.size = int(bs[6] or 0)

    @property
    def whole(self) -> bool:
        """Fetch this leaf entirely (text, forwarded messages, reports, small parts)."""
        if self.size <= SMALL_PART:
            return True
        return self.ctype.startswith(("text/", "message/")) and self.size <= TEXT_PART

    def leaves(self):
        if self.multipart:
            for c in self.children:
                yield from c.leaves()
        else:
            yield self

    def all(self):
        yield self
        for c in self.children:
            yield from c.all()


def plan_items(root: Node) -> list[bytes]:
    """The FETCH items a partial letter needs beyond header and BODYSTRUCTURE."""
    items: list[bytes] = []
    top_leaf = not root.multipart
    for node in root.all():
        if node is root:
            continue
        items.append(f"BODY.PEEK[{node.number}.MIME]".encode())
    for leaf in root.leaves():
        number = "TEXT" if top_leaf else leaf.number
        if leaf.whole:
            items.append(f"BODY.PEEK[{number}]".encode())
        else:
            items.append(f"BODY.PEEK[{number}]<0.{PREFIX}>".encode())
    return items


def _stand_in(prefix: bytes, encoding: str) -> bytes:
    """A short body in the part's own transfer encoding, decoding to the real first bytes."""
    if encoding == "base64":
        text = b"".join(prefix.split())
        text = text[: len(text) // 4 * 4]
        try:
            raw = base64.b64decode(text)
        except (binascii.Error, ValueError):
            raw = b""
        return base64.encodebytes(raw).replace(b"\n", b"\r\n")
    if encoding == "quoted-printable":
        cut = prefix.rsplit(b"=", 1)[0] if b"=" in prefix[-3:] else prefix
        return cut.rsplit(b"\n", 1)[0] + b"\r\n" if b"\n" in cut else cut + b"\r\n"
    return prefix.rsplit(b"\n", 1)[0] + b"\r\n" if b"\n" in prefix else prefix + b"\r\n"


def _decoded_size(node: Node) -> int:
    if node.encoding == "base64":
        return node.size * 57 // 78  # 76 characters + CRLF carry 57 bytes
    return node.size


def rebuild(header: bytes, root: Node, got: Callable[[str], bytes]) -> bytes:
    """The message with stand-ins for big leaves; ``got(item)`` returns a fetched item."""
    if not header.endswith(b"\r\n\r\n"):
        header = header.rstrip(b"\r\n") + b"\r\n\r\n"

    def body(node: Node, top: bool) -> bytes:
        if node.multipart:
            boundary = node.params.get("boundary", "").encode()
            out = []
            for child in node.children:
                out.append(b"--" + boundary + b"\r\n" + got(f"BODY[{child.number}.MIME]")
                           + body(child, False) + b"\r\n")
            out.append(b"--" + boundary + b"--\r\n")
            return b"".join(out)
        number = "TEXT" if top else node.number
        if node.whole:
            return got(f"BODY[{number}]")
        return _stand_in(got(f"BODY[{number}]<0>"), node.encoding)

    return header + body(root, True)


def partial_letter(header: bytes, structure, size: int, fetch_items: Callable[[list[bytes]], dict]
                   ) -> Letter:
    """Build the Letter from header + BODYSTRUCTURE + the parts ``plan_items`` names."""
    root = Node(structure, "")
    items = plan_items(root)
    data = fetch_items(items) if items else {}

    def got(key: str) -> bytes:
        return data.get(key.encode()) or b""

    content_hash = fingerprint(header, structure, size)
    letter = decode_letter(rebuild(header, root, got), content_hash=content_hash, rebuilt=True)
    stand_ins = {leaf.number or "1": leaf for leaf in root.leaves() if not leaf.whole}
    for att in letter.attachments:
        leaf = stand_ins.get(att.part)
        if leaf is None:
            continue
        att.size = _decoded_size(leaf)
        att.sha256 = ""
        att.data = None
    if stand_ins:
        letter.defects = [d for d in letter.defects
                          if not any(d.startswith(f"part {n}:") for n in stand_ins)]
    letter.size = size
    return letter


def fingerprint(header: bytes, structure, size: int) -> str:
    return hashlib.sha256(b"p:" + header + repr(structure).encode() + str(size).encode()
                          ).hexdigest()


def letter_attachment_bytes(letter: Letter, att) -> bytes | None:
    """An attachment's decoded bytes: kept ones directly, stand-ins loaded from the mailbox
    (possible while the message is being processed, before it is filed)."""
    if att.data is not None:
        return att.data
    loader = getattr(letter, "load_part", None)
    if loader is None:
        return None
    att.data = loader(att.part)
    att.sha256 = hashlib.sha256(att.data).hexdigest() if att.data is not None else ""
    return att.data


def load_attachments(letter: Letter) -> int:
    """Load every stand-in attachment's bytes (before actions run: actions read ``data``).
    Returns how many were loaded; a letter decoded from full bytes needs none."""
    if getattr(letter, "load_part", None) is None:
        return 0
    loaded = 0
    for att in letter.attachments:
        if att.data is None and att.part:
            letter_attachment_bytes(letter, att)
            loaded += 1
    return loaded


def release_attachments(letter: Letter | None) -> None:
    """Forget the bytes ``load_attachments`` loaded, once the message is done: the batch it
    came in (up to ``fetch_batch`` letters) is kept until its end, and must not keep every
    letter's attachments with it."""
    if letter is None or getattr(letter, "load_part", None) is None:
        return
    for att in letter.attachments:
        if att.part:
            att.data = None

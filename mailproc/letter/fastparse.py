"""A fast path for the common big message: one clean multipart level with large leaf parts.

The standard library's feed parser reads a message line by line in Python; a 650 KB message of
base64 photos is ~9 000 lines and the line loop dominates decoding. When the top level is a
multipart whose delimiters are all where RFC 2046 section 5.1.1 puts them (first delimiter, the
close delimiter last), the body is cut at the delimiters with ``bytes.find`` and each leaf part
gets only its headers parsed; nested multiparts and message/* parts still go through the feed
parser. Anything irregular returns None and the caller parses the whole message normally, so
broken MIME keeps the parser's own recovery and defects.
"""

from __future__ import annotations

import email
import email.parser
import email.policy
import re
from email.message import Message

POLICY = email.policy.compat32
FAST_MIN_SIZE = 100_000  # below this the feed parser is fast enough
MAX_PARTS = 200  # more parts than a letter has: leave it to the feed parser and its caps
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_NESTED = re.compile(rb"(?im)^content-type:[ \t]*(multipart|message)/")


def parse_fast(raw: bytes, min_size: int | None = None) -> Message | None:
    if len(raw) < (FAST_MIN_SIZE if min_size is None else min_size):
        return None
    end = _HEADER_END.search(raw)
    if end is None or end.start() > 65536:
        return None
    root = _headers(raw[:end.start() + 2])
    if not root.get_content_type().startswith("multipart/"):
        return None
    boundary = root.get_boundary()
    if not boundary or len(boundary) > 200 or not boundary.isascii():
        return None
    parts = _split(raw[end.end():], b"--" + boundary.encode("ascii"))
    if parts is None or len(parts) > MAX_PARTS:
        return None
    children = []
    for chunk in parts:
        child = _part(chunk)
        if child is None:
            return None
        children.append(child)
    root.set_payload(children)
    return root


def _headers(block: bytes) -> Message:
    return email.parser.HeaderParser(policy=POLICY).parsestr(
        block.decode("ascii", "surrogateescape"))


def _split(body: bytes, delim: bytes) -> list[bytes] | None:
    """The parts between delimiter lines, or None when the structure is not clean."""
    marks: list[tuple[int, int, bool]] = []  # (line start, next line start, is close)
    pos = 0
    while True:
        i = body.find(delim, pos)
        if i < 0:
            break
        pos = i + len(delim)
        if i and body[i - 1:i] != b"\n":
            continue
        eol = body.find(b"\n", i)
        line_end = len(body) if eol < 0 else eol
        rest = body[i + len(delim):line_end].rstrip(b" \t\r")
        if rest not in (b"", b"--"):
            continue
        marks.append((i, line_end + 1, rest == b"--"))
        if rest == b"--":
            break
    if len(marks) < 2 or not marks[-1][2] or any(close for _, _, close in marks[:-1]):
        return None
    parts = []
    for (_, start, _), (next_line, _, _) in zip(marks, marks[1:]):
        chunk = body[start:next_line]
        # The line break before a delimiter belongs to the delimiter (RFC 2046 5.1.1).
        if chunk.endswith(b"\r\n"):
            chunk = chunk[:-2]
        elif chunk.endswith(b"\n"):
            chunk = chunk[:-1]
        parts.append(chunk)
    return parts


def _part(chunk: bytes) -> Message | None:
    if chunk.startswith((b"\r\n", b"\n")):
        head, body = b"", chunk.split(b"\n", 1)[1]
    else:
        end = _HEADER_END.search(chunk)
        if end is None:
            return None
        head, body = chunk[:end.start() + 2], chunk[end.end():]
    if _NESTED.search(head):
        return email.message_from_bytes(chunk, policy=POLICY)
    part = _headers(head)
    part.set_payload(body.decode("ascii", "surrogateescape"))
    return part

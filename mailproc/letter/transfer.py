"""Undoing a part's Content-Transfer-Encoding (RFC 2045 6) piece by piece.

A big attachment fetched in ranges (RFC 3501 6.4.5, ``BODY[n]<origin.octets>``) is decoded
as the ranges arrive, so its bytes are held once, decoded, instead of also whole in their
encoded form and again as a parsed message. A range may end anywhere: inside a base64
quantum or a quoted-printable escape; what cannot be decoded yet waits for the next piece.
Decoding is as lenient as the email package's: characters outside the base64 alphabet are
skipped, a short last quantum is padded.
"""

from __future__ import annotations

import binascii
import re

#: the encodings decoded here; others (x-uuencode ...) are left to the email package
STREAMABLE = frozenset({"base64", "quoted-printable", "7bit", "8bit", "binary", ""})

_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/=]")


class PartDecoder:
    """``feed(encoded piece) -> decoded bytes`` then ``finish() -> the rest``."""

    def __init__(self, encoding: str):
        self.encoding = (encoding or "").strip().lower()
        self._carry = b""

    def feed(self, piece: bytes) -> bytes:
        if self.encoding == "base64":
            data = self._carry + _NOT_BASE64.sub(b"", piece)
            cut = len(data) // 4 * 4
            self._carry = data[cut:]
            return _b64(data[:cut])
        if self.encoding == "quoted-printable":
            data = self._carry + piece
            # an escape ("=XX") or a soft line break ("=\r\n") may be cut at the end
            at = data.rfind(b"=", max(0, len(data) - 3))
            if at >= 0:
                data, self._carry = data[:at], data[at:]
            else:
                self._carry = b""
            return binascii.a2b_qp(data)
        return piece

    def finish(self) -> bytes:
        rest, self._carry = self._carry, b""
        if not rest:
            return b""
        if self.encoding == "base64":
            rest = rest.rstrip(b"=")
            if len(rest) % 4 == 1:  # a lone character carries no whole byte
                rest = rest[:-1]
            return _b64(rest + b"=" * (-len(rest) % 4))
        return binascii.a2b_qp(rest)


def _b64(data: bytes) -> bytes:
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:  # padding inside the stream (concatenated encodings): per quantum
        return b"".join(_quantum(data[i:i + 4]) for i in range(0, len(data), 4))


def _quantum(q: bytes) -> bytes:
    try:
        return binascii.a2b_base64(q)
    except binascii.Error:
        return b""

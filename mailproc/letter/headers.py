"""Header values -> text: RFC 2047 encoded words, raw 8-bit bytes, RFC 2231 parameters.

Header values come from the parser as ``str`` with undecodable bytes kept as surrogates
(``surrogateescape``), so raw 8-bit windows-1251 or KOI8-R bytes (mailers that skip RFC 2047)
are recovered as bytes and read through :func:`decode_text` like a body would be.

Every function here works on a bounded copy (``MAX_HEADER`` characters): the standard library's
structured header parser is quadratic on hostile input (a 1 MB header of parameters takes
minutes), so mailproc parses headers itself and never hands an unbounded value to it.
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import unquote_to_bytes

from mailproc.letter.charsets import decode_text

MAX_HEADER = 16384
MAX_PARAMS = 64

_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_SPECIALS = set('()<>@,;:\\".[]')


def to_bytes(value: str) -> bytes:
    """The original octets of a parsed header value (8-bit bytes come back as they were)."""
    return value.encode("utf-8", "surrogateescape")


def bounded(value: str, defects: list[str], name: str) -> str:
    if len(value) > MAX_HEADER:
        defects.append(f"{name} header of {len(value)} characters cut to {MAX_HEADER}")
        return value[:MAX_HEADER]
    return value


def decode_header(value: str, defects: list[str], *, quote_specials: bool = False) -> str:
    """RFC 2047 words and raw 8-bit bytes -> text; folding removed (RFC 5322 section 2.2.3).

    With ``quote_specials`` (address headers), a decoded word holding ',' or '<' is put in quotes,
    so "Иванов, Иван" stays one display name when the header is parsed afterwards.
    """
    value = _FOLD.sub("", value)
    out: list[str] = []
    pos = 0
    pending: list[tuple[str, bytes]] = []  # adjacent encoded words, joined before decoding

    def flush() -> None:
        # Adjacent words of one charset are joined as bytes first: mailers split a UTF-8
        # character across two words (RFC 2047 forbids it; Outlook and phones do it anyway).
        groups: list[tuple[str, bytearray]] = []
        for charset, data in pending:
            if groups and groups[-1][0] == charset:
                groups[-1][1].extend(data)
            else:
                groups.append((charset, bytearray(data)))
        for charset, data in groups:
            out.append(_quoted(_text(bytes(data), charset, defects), quote_specials))
        pending.clear()

    for match in _ENCODED_WORD.finditer(value):
        between = value[pos:match.start()]
        if pending and between.strip(" \t") == "":
            pass  # whitespace between encoded words is dropped (RFC 2047 section 6.2)
        else:
            flush()
            out.append(_plain(between, defects))
        charset, enc, payload = match.groups()
        pending.append((charset, _word_bytes(enc, payload, defects)))
        pos = match.end()
    flush()
    out.append(_plain(value[pos:], defects))
    return "".join(out)


def _plain(segment: str, defects: list[str]) -> str:
    raw = to_bytes(segment)
    if raw.isascii():
        return segment
    return _text(raw, "", defects)


def _word_bytes(enc: str, payload: str, defects: list[str]) -> bytes:
    if enc in "bB":
        data = payload.encode("ascii", "ignore")
        try:
            return base64.b64decode(data + b"=" * (-len(data) % 4))
        except (binascii.Error, ValueError):
            defects.append("bad base64 in an encoded word")
            try:
                return binascii.a2b_base64(data[: len(data) // 4 * 4])
            except (binascii.Error, ValueError):
                return data
    raw = payload.replace("_", " ").encode("utf-8", "surrogateescape")
    return re.sub(rb"=([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), raw)


def _text(data: bytes, charset: str, defects: list[str]) -> str:
    decoded = decode_text(data, charset)
    if decoded.defect:
        defects.append(f"header: {decoded.defect}")
    return decoded.text


def _quoted(text: str, quote: bool) -> str:
    if not quote or not (set(text) & _SPECIALS):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def split_params(value: str) -> list[str]:
    """Split ``type/sub; a=1; b="x;y"`` on semicolons outside quotes, in linear time."""
    items: list[str] = []
    buf: list[str] = []
    quoted = escaped = False
    for ch in value:
        if escaped:
            buf.append(ch)
            escaped = False
        elif ch == "\\" and quoted:
            buf.append(ch)
            escaped = True
        elif ch == '"':
            quoted = not quoted
            buf.append(ch)
        elif ch == ";" and not quoted:
            items.append("".join(buf))
            buf = []
            if len(items) > MAX_PARAMS:
                break
        else:
            buf.append(ch)
    items.append("".join(buf))
    return items


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value.strip('"')


def parse_params(value: str, defects: list[str], name: str = "Content-Type") -> tuple[str, dict]:
    """``Content-Type``/``Content-Disposition`` -> (main value lower-cased, {param: text}).

    RFC 2231 continuations (``name*0*=``, ``name*1*=``) are joined as bytes and decoded once in
    their declared charset (through :func:`decode_text`, so ``koi8-r`` names labelled wrongly
    still read); RFC 2047 words inside quoted values (common, though not allowed) are decoded.
    """
    value = bounded(_FOLD.sub("", value), defects, name)
    items = split_params(value)
    main = items[0].strip().lower()
    simple: dict[str, str] = {}
    pieces: dict[str, dict[int, tuple[bool, str]]] = {}
    for item in items[1:]:
        key, sep, raw = item.partition("=")
        key = key.strip().lower()
        if not sep or not key:
            continue
        match = re.fullmatch(r"([^*]+)\*(\d+)?(\*)?", key)
        if match is None:
            simple.setdefault(key, _unquote(raw))
            continue
        base, number, star = match.groups()
        extended = star is not None or number is None
        pieces.setdefault(base, {})[int(number or 0)] = (extended, _unquote(raw))
    params: dict[str, str] = {}
    for base, parts in pieces.items():
        params[base] = _rfc2231(parts, defects)
    for key, raw in simple.items():
        if key not in params:
            params[key] = decode_header(raw, defects) if raw else raw
    return main, params


def _rfc2231(parts: dict[int, tuple[bool, str]], defects: list[str]) -> str:
    charset = None
    data = bytearray()
    for index in sorted(parts)[:MAX_PARAMS]:
        extended, raw = parts[index]
        if index == 0 and extended and raw.count("'") >= 2:
            charset, _lang, raw = raw.split("'", 2)
        if extended:
            data.extend(unquote_to_bytes(raw))
        else:
            data.extend(to_bytes(raw))
    if sorted(parts) != list(range(len(parts))):
        defects.append("RFC 2231 parameter with missing continuation")
    return _text(bytes(data), charset or "", defects)

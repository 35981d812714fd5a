"""winmail.dat (MS-TNEF) -> the files inside, so Outlook users' scans are not lost in it.

tnefparse reads the container; file names are kept as bytes in the Outlook's code page
(windows-1251 for Russian Outlooks), so they are decoded here through decode_text, not by
tnefparse (which assumes UTF-8 and fails on them).
"""

from __future__ import annotations

from dataclasses import dataclass

from mailproc.letter.charsets import decode_text

MAX_FILES = 200


@dataclass
class TnefFile:
    name: str
    data: bytes


@dataclass
class TnefContent:
    files: list[TnefFile]
    body: str = ""
    html: str = ""


def unpack_tnef(data: bytes, defects: list[str]) -> TnefContent | None:
    try:
        from tnefparse import TNEF

        tnef = TNEF(data, do_checksum=False)
    except Exception as exc:  # noqa: BLE001 - a broken container stays an attachment
        defects.append(f"winmail.dat not readable: {type(exc).__name__}")
        return None
    codepage = tnef.codepage or "cp1251"
    files = []
    for att in tnef.attachments[:MAX_FILES]:
        files.append(TnefFile(_name(att, codepage), bytes(att.data or b"")))
    if len(tnef.attachments) > MAX_FILES:
        defects.append(f"winmail.dat holds {len(tnef.attachments)} files, read {MAX_FILES}")
    return TnefContent(files, _body(tnef.body, codepage), _body(tnef.htmlbody, codepage))


def _name(att, codepage: str) -> str:
    try:
        long_name = att.long_filename()
    except Exception:  # noqa: BLE001
        long_name = None
    if isinstance(long_name, str) and long_name.strip("\x00"):
        return long_name.strip("\x00")
    raw = long_name if isinstance(long_name, bytes) else att._name  # noqa: SLF001
    if isinstance(raw, str):
        return raw.strip("\x00")
    return decode_text(bytes(raw or b"").strip(b"\x00"), codepage).text


def _body(value, codepage: str) -> str:
    if not value:
        return ""
    if isinstance(value, str):
        return value.strip("\x00")
    return decode_text(bytes(value).strip(b"\x00"), codepage).text

"""Attachment names that leave mailproc: rebuilt from what a sender wrote, never copied.

A name arrives decoded from RFC 2047 encoded words or RFC 2231 parameters, so it can hold
anything: CR/LF (a name that decodes to ``p.jpg\\r\\nX-Injected: 1`` would add header lines
to the part it is copied into), NUL, path parts (``../x``, ``/etc/passwd``, ``C:\\x``),
bidirectional overrides that show ``gpj.exe`` as ``exe.jpg``, hundreds of characters, and an
extension that lies about the bytes (``скан.jpg.exe``). :func:`safe_name` is the one place a
name is rebuilt for every use outside mailproc: outgoing MIME parts (``outbound.mime``, which
hands it to the standard library for RFC 2231 encoding), files written to disk (``vault
export``) and names shown to readers in templates. :func:`scan_type` says which detected types
may be forwarded to a reader as a scan.

The result is idempotent (rebuilding a rebuilt name changes nothing), never empty, at most
:data:`MAX_CHARS` characters and :data:`MAX_BYTES` bytes of UTF-8, has no control or format
characters, no ``/ \\ : * ? " < > |``, no leading dot, and ends in an extension that fits the
type detected from the bytes (RFC 6838 type names; the extension table is ``mimetypes``').
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata

#: a rebuilt name is at most this many characters ...
MAX_CHARS = 100
#: ... and this many bytes of UTF-8 (file systems allow 255; the RFC 2231 form of a Cyrillic
#: name is three times as long, and a header line must stay under RFC 5322's 998)
MAX_BYTES = 180

#: the types a scan or a photo of pages can be, with their usual extensions (first: canonical)
SCAN_TYPES: dict[str, tuple[str, ...]] = {
    "image/jpeg": (".jpg", ".jpeg", ".jpe", ".jfif"),
    "image/png": (".png",),
    "image/tiff": (".tif", ".tiff"),
    "image/heic": (".heic",),
    "image/heif": (".heif", ".heic"),
    "application/pdf": (".pdf",),
    "image/vnd.djvu": (".djvu", ".djv"),
}
SCAN_LABELS = "JPEG, PNG, TIFF, HEIC, PDF, DjVu"

#: types ``mimetypes`` knows badly or maps to misleading lists
_EXTENSIONS: dict[str, tuple[str, ...]] = {
    **SCAN_TYPES,
    "application/octet-stream": (".bin",),
    "text/plain": (".txt",),
    "application/x-msdownload": (".exe", ".dll"),
    "application/vnd.microsoft.portable-executable": (".exe", ".dll"),
    "application/x-dosexec": (".exe",),
    "application/x-executable": (".bin",),
    "application/ms-tnef": (".dat",),
    "image/webp": (".webp",),
    "image/avif": (".avif",),
    "application/msword": (".doc",),
    "application/rtf": (".rtf",),
    "text/rtf": (".rtf",),
    "application/zip": (".zip",),
    "application/vnd.rar": (".rar",),
    "application/x-rar-compressed": (".rar",),
    "application/x-7z-compressed": (".7z",),
}
#: characters no file system or mail client should get in a name
_FORBIDDEN = set('/\\:*?"<>|')
_SPACES = re.compile(r"\s+")
_EXT = re.compile(r"\.([0-9a-z]{1,8})$", re.ASCII | re.IGNORECASE)
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)),
             *(f"lpt{i}" for i in range(10))}  # Windows device names


def extensions(content_type: str) -> tuple[str, ...]:
    """The extensions that fit a type, canonical first; ``.bin`` when none is known."""
    ctype = (content_type or "").lower().strip()
    if ctype in _EXTENSIONS:
        return _EXTENSIONS[ctype]
    found = mimetypes.guess_all_extensions(ctype, strict=False)
    if not found:
        return (".bin",)
    canonical = mimetypes.guess_extension(ctype, strict=False) or found[0]
    return (canonical, *[e for e in found if e != canonical])


#: a MIME type as RFC 6838 4.2 allows its names (lower case)
MIME_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$")


def safe_content_type(content_type: str) -> str:
    """A type/subtype of RFC 6838 characters, else application/octet-stream: nothing a
    sender wrote reaches a header line unchecked."""
    ctype = (content_type or "").strip().lower()
    return ctype if MIME_TYPE.match(ctype) else "application/octet-stream"


#: never forwarded to a reader whatever the settings say: programs, scripts, active content
NEVER_FORWARDED = ("application/x-msdownload", "application/x-dosexec",
                    "application/x-executable", "application/x-sharedlib",
                    "application/x-mach-binary", "application/vnd.microsoft.portable-executable",
                    "application/javascript", "text/javascript", "text/html",
                    "application/xhtml+xml", "image/svg+xml", "application/x-sh",
                    "application/x-shellscript", "application/java-archive",
                    "application/x-msi", "application/hta")


def never_forwarded(content_type: str) -> bool:
    """A program or active content (by the detected type): never sent on to a reader."""
    return (content_type or "").lower().strip() in NEVER_FORWARDED


def scan_type(content_type: str, extra: tuple[str, ...] = ()) -> bool:
    """May a file of this detected type go to a reader as a scan? The built-in
    :data:`SCAN_TYPES` and those the library added (``orders.extra_forward_types``)."""
    ctype = (content_type or "").lower().strip()
    return ctype in SCAN_TYPES or ctype in extra


def _clean(text: str) -> str:
    """NFC, controls and format characters to spaces, forbidden characters to ``_``."""
    out = []
    for ch in unicodedata.normalize("NFC", text):
        cat = unicodedata.category(ch)
        if cat[0] in "CZ" and ch != " ":  # Cc Cf Cs Co Cn, line and paragraph separators
            out.append(" ")
        elif ch in _FORBIDDEN:
            out.append("_")
        else:
            out.append(ch)
    return _SPACES.sub(" ", "".join(out)).strip(" .")


def _last_part(name: str) -> str:
    """What follows the last ``/`` or ``\\`` (a path's file name); ``..`` parts vanish."""
    parts = [p for p in re.split(r"[/\\]", name) if p.strip(" .")]
    return parts[-1] if parts else ""


def _cut(stem: str, room_chars: int, room_bytes: int) -> str:
    stem = stem[:max(0, room_chars)]
    while len(stem.encode("utf-8")) > room_bytes:
        stem = stem[:-1]
    return stem.rstrip(" .")


def safe_name(name: str, content_type: str, fallback: str = "file") -> str:
    """``name`` rebuilt for use outside mailproc (see the module docstring).

    ``content_type`` is the type detected from the bytes (``Attachment.type``), never what the
    sender's header claimed: the extension is made to fit it. ``fallback`` (cleaned the same
    way) stands in when nothing of the name is left."""
    allowed = extensions(content_type)
    stem, ext = _split(_clean(_last_part(name or "")), allowed)
    if not stem:
        stem, fallback_ext = _split(_clean(_last_part(fallback)), allowed)
        ext = ext or fallback_ext
    stem = stem.lstrip(" .") or "file"
    if stem.lower() in _RESERVED:
        stem = "_" + stem
    ext = ext or allowed[0]  # ASCII: _EXT matches ASCII only
    stem = _cut(stem, MAX_CHARS - len(ext), MAX_BYTES - len(ext)) or "file"
    return stem + ext


def _split(stem: str, allowed: tuple[str, ...]) -> tuple[str, str]:
    """(stem, extension that fits or ""): every trailing extension that does not fit the
    bytes is dropped (скан.jpg.exe of a JPEG -> скан, .jpg; of an executable the name stays
    truthful, скан.jpg + .exe, and the file goes to review anyway)."""
    while True:
        m = _EXT.search(stem)
        if not m:
            return stem, ""
        if "." + m.group(1).lower() in allowed:
            return stem[:m.start()].rstrip(" ."), stem[m.start():]
        stem = stem[:m.start()].rstrip(" .")

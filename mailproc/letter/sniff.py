"""The real type of an attachment, from its first bytes, not from what the header claims.

Phones label photos application/octet-stream, Outlook labels PDFs as whatever the extension
says; rules decide on the family (image, pdf, office ...), so the type must come from the bytes.
Only the first bytes are looked at (filetype reads at most 8 KB).
"""

from __future__ import annotations

import mimetypes

import filetype

TNEF_MAGIC = b"\x78\x9f\x3e\x22"
#: DjVu: an IFF85 FORM (DjVu v3 spec, 4.2): "AT&T", "FORM", length, then the form type
DJVU_MAGIC = b"AT&TFORM"
DJVU_FORMS = (b"DJVU", b"DJVM")  # one page; a bundled multi-page document
_HEAD = 8192
# Declared types whose bytes filetype would recognise: if it does not, the label is a lie.
_SNIFFABLE = ("image/jpeg", "image/png", "image/gif", "image/webp", "image/tiff", "image/bmp",
              "image/heic", "application/pdf", "application/zip")


def sniff_type(data: bytes, declared: str, name: str) -> tuple[str, str]:
    """(real type, defect or ""), from the first bytes; falls back to the label and the name."""
    head = data[:_HEAD]
    if head.startswith(TNEF_MAGIC):
        return "application/ms-tnef", ""
    if head.startswith(DJVU_MAGIC) and head[12:16] in DJVU_FORMS:  # filetype has no DjVu
        return "image/vnd.djvu", ""
    kind = None
    try:
        kind = filetype.guess(head)
    except Exception:  # noqa: BLE001 - an unreadable head is just unknown
        kind = None
    if kind is not None:
        mime = kind.mime
        if mime == "application/zip" and name.lower().endswith((".docx", ".xlsx", ".pptx")):
            mime = mimetypes.guess_type(name)[0] or mime
        return mime, ""
    if declared in _SNIFFABLE and data:
        return "application/octet-stream", f"attachment labelled {declared} is not one"
    if head.startswith(b"%PDF"):
        return "application/pdf", ""
    if declared in ("", "application/octet-stream", "application/x-unknown") and name:
        guessed = mimetypes.guess_type(name)[0]
        if guessed and not guessed.startswith(_SNIFFABLE):
            return guessed, ""
    return declared or "application/octet-stream", ""

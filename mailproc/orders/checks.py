"""Checking photos and scans before they reach a reader: pure, over the letter's attachments.

What fails is not sent on: an empty file, a file that is neither an image nor a PDF (a .docx
from a department is a question for a librarian, not a delivery), or far fewer or far more
pages than asked (the wrong pages, or the wrong book). Photos often show a spread (two pages
on one picture), so half the pages asked for is enough; a few extra pages (title page,
contents) are fine.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from mailproc.letter.model import Attachment
from mailproc.letter.sniff import DJVU_FORMS
from mailproc.outbound.filenames import SCAN_LABELS, safe_name, scan_type

#: inline images below this size are signature logos, not pages
SIGNATURE_IMAGE_MAX = 30 * 1024

_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")
_COUNT = re.compile(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)|/Count\s+(\d+)[^>]*?/Type\s*/Pages\b",
                    re.S)


def pdf_page_count(data: bytes) -> int:
    """Pages in a PDF without a PDF library: the page-tree's /Count (PDF 32000-1, 7.7.3.2),
    else the number of /Type /Page objects. Compressed object streams hide both; then 0 is
    returned and the caller treats the count as unknown rather than wrong."""
    counts = [int(a or b) for a, b in _COUNT.findall(data)]
    if counts:
        return max(counts)
    return len(_PAGE.findall(data))


@dataclass
class DeliveryCheck:
    files: list[Attachment] = field(default_factory=list)
    pages_found: int = 0
    unknown_pdf: int = 0  # PDFs (and bundled DjVu) whose pages could not be counted
    problems: list[str] = field(default_factory=list)  # English, for the review reason

    @property
    def ok(self) -> bool:
        return not self.problems


def page_files(attachments: list[Attachment]) -> list[Attachment]:
    """The attachments that carry pages: signature logos and other inline trimmings dropped."""
    return [a for a in attachments
            if not (a.inline and a.family == "image" and a.size < SIGNATURE_IMAGE_MAX)]


def not_scans(files: list[Attachment], extra_types: tuple[str, ...] = ()) -> list[str]:
    """Russian descriptions («name», type) of the files a reader must not get: any type but
    a scan's (JPEG, PNG, TIFF, HEIC, PDF, DjVu) and ``orders.extra_forward_types``, by the
    type detected from the bytes. Names are the rebuilt ones (no line breaks, no paths)."""
    return [f"«{safe_name(a.name, a.type, f'файл {n}')}» (тип {a.type})"
            for n, a in enumerate(files, 1) if not scan_type(a.type, extra_types)]


def not_scans_reason(token: str, bad: list[str]) -> str:
    """The review reason when ``not_scans`` found files."""
    what = "это не сканы" if len(bad) > 1 else "это не скан"
    return (f"заказ {token}: файлы не отправлены читателю, {what}: " + ", ".join(bad)
            + f". Читателю пересылаются только {SCAN_LABELS}; посмотрите письмо и при "
            f"необходимости попросите отдел прислать скан")


def check_delivery(attachments: list[Attachment], pages_requested: int) -> DeliveryCheck:
    result = DeliveryCheck(files=page_files(attachments))
    if not result.files:
        result.problems.append("no photo or scan attached")
        return result
    for n, a in enumerate(result.files, 1):
        # by position, not by name: the reason is logged, and file names may name people
        label = f"file {n} of {len(result.files)}"
        if a.data is None:
            result.problems.append(f"{label} could not be fetched from the mailbox")
        elif a.size == 0 or not a.data.strip():
            result.problems.append(f"{label} is empty")
        elif a.type == "image/vnd.djvu" and a.data[12:16] == DJVU_FORMS[1]:
            result.unknown_pdf += 1  # a bundled DjVu: pages not counted
        elif a.family == "image":
            result.pages_found += 1
        elif a.family == "pdf":
            pages = pdf_page_count(a.data)
            if pages:
                result.pages_found += pages
            else:
                result.unknown_pdf += 1
        else:
            result.problems.append(f"{label} is {a.type}, expected an image or a PDF")
    if result.problems or not pages_requested or result.unknown_pdf:
        return result
    low = math.ceil(pages_requested / 2)
    high = pages_requested + max(2, pages_requested // 5)
    if result.pages_found < low:
        result.problems.append(f"{result.pages_found} page(s) received, {pages_requested} "
                               f"asked for")
    elif result.pages_found > high:
        result.problems.append(f"{result.pages_found} pages received, only {pages_requested} "
                               f"asked for")
    return result

"""What each attachment of a registration mail is, whether it can be read, and its clean form.

Pure functions of bytes and text (no database, no files), so every guess is unit-testable.

Recognition, strongest evidence first:
1. the file name (``анкета.jpg``, ``Soglasie.pdf``, ``заявление_1.png``);
2. the mail's words: one kind named and one unnamed file, or several kinds named in the
   order the files come ("высылаю анкету и согласие" + two photos);
3. the order of pages: unnamed files left over take the missing kinds in the order of the
   library's set (анкета, заявление, согласие), which is the order readers photograph them.
The librarian corrects any guess with ``mailproc registrations set-doc``.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from PIL import Image, ImageOps, ImageStat, UnidentifiedImageError

#: the library's set in its usual order, with the words (stems) that name each kind
KIND_ORDER = ("form", "application", "consent")
KIND_ORDER_INDEX = {"form": 0, "application": 1, "consent": 2, "other": 3}
KIND_STEMS = {
    "form": ("анкет", "anket", "form"),
    "application": ("заявлен", "zayavl", "zajavl", "zaiavl", "application"),
    "consent": ("соглас", "soglas", "consent"),
}
KIND_NAMES_RU = {
    "form": "регистрационная анкета",
    "application": "заявление на регистрацию",
    "consent": "согласие на обработку персональных данных",
    "other": "другой документ",
}
#: the accusative, for "мы получили ..." in running text
KIND_NAMES_RU_ACC = {**KIND_NAMES_RU, "form": "регистрационную анкету"}


def kinds_of(value: str) -> list[str]:
    """A document row's ``kind``: one kind, or several comma-separated (one scan, several
    documents)."""
    return [k for k in (value or "").split(",") if k]


def names_ru(value: str) -> str:
    return ", ".join(KIND_NAMES_RU[k] for k in kinds_of(value))

MIN_SIDE = 200  # pixels: a thumbnail or an icon is not a readable page
MIN_STDDEV = 4.0  # grey-level spread: below this the picture is blank (one colour)
MIN_PDF_BYTES = 300
ORIENTATION = 0x0112  # the EXIF tag
TURNED = (5, 6, 7, 8)  # orientations that swap width and height
Image.MAX_IMAGE_PIXELS = 80_000_000  # photos up to ~80 Mpx; beyond that a decompression bomb


@dataclass(frozen=True)
class Readability:
    ok: bool
    problem: str = ""  # Russian, shown to the reader when not ok
    pages: int = 1
    width: int = 0
    height: int = 0


def _fold(text: str) -> str:
    return (text or "").lower().replace("ё", "е")


def kinds_in_text(text: str) -> list[str]:
    """The kinds a text (a mail, a file name) names, in the order it names them first."""
    low = _fold(text)
    found: list[tuple[int, str]] = []
    for kind in KIND_ORDER:
        positions = [m.start() for stem in KIND_STEMS[kind]
                     for m in re.finditer(re.escape(stem), low)]
        if positions:
            found.append((min(positions), kind))
    return [kind for _, kind in sorted(found)]


Guess = tuple[tuple[str, ...], str]  # (kinds a file holds, how they were recognised)


def classify(files: list[tuple[str, int]], text: str,
             have: set[str] | frozenset[str] = frozenset()) -> list[Guess]:
    """The kinds each file holds, for files given as (name, pages) in mail order.

    ``have``: kinds the case already holds. One file may hold several documents: a name such
    as "анкета и согласие.pdf", or a multi-page scan when the mail names more documents than it
    has files. Guessing by order alone gives one kind a file (an анкета is often two pages).
    """
    result: list[Guess] = [(tuple(kinds_in_text(name)), "name") for name, _ in files]
    taken = {k for kinds, _ in result for k in kinds}
    named = [k for k in kinds_in_text(text) if k not in taken]
    _spread(result, files, named, "words", by_pages=True)
    taken = {k for kinds, _ in result for k in kinds}
    _spread(result, files, [k for k in KIND_ORDER if k not in taken and k not in have], "order",
            by_pages=False)
    return [(kinds, how) if kinds else (("other",), "order") for kinds, how in result]


def _spread(result: list[Guess], files: list[tuple[str, int]], kinds: list[str], how: str,
            by_pages: bool) -> None:
    """Give unrecognised files the ``kinds`` in order, one each; with ``by_pages``, kinds left
    over go to the multi-page files, one a page."""
    todo = [i for i, (got, _) in enumerate(result) if not got]
    left = list(kinds)
    for i in todo:
        if left:
            result[i] = ((left.pop(0),), how)
    if by_pages:
        for i in todo:
            extra = max(0, files[i][1] - 1)
            if left and extra and result[i][0]:
                more, left = left[:extra], left[extra:]
                result[i] = (result[i][0] + tuple(more), how)


# -- readability ----------------------------------------------------------------------------


def check_readable(data: bytes, family: str) -> Readability:
    if family == "pdf":
        return _check_pdf(data)
    if family != "image":
        return Readability(False, "файл не является изображением или PDF")
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            if img.getexif().get(ORIENTATION, 1) in TURNED:  # as exif_transpose would stand it
                width, height = height, width
            # a JPEG is decoded at 1/2..1/8 scale (DCT scaling): every byte is still read, so a
            # damaged file still fails, but a 12 Mpx photo costs a few MB, not 36 and copies
            img.draft("L", (512, 512))
            img.load()
            if min(width, height) < MIN_SIDE:
                return Readability(False, f"изображение слишком маленькое ({width}×{height})",
                                   width=width, height=height)
            grey = img.convert("L")
            grey.thumbnail((512, 512))
            if ImageStat.Stat(grey).stddev[0] < MIN_STDDEV:
                return Readability(False, "изображение пустое (однотонное)", width=width,
                                   height=height)
            return Readability(True, width=width, height=height)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return Readability(False, "изображение не открывается (повреждено)")


_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


def _check_pdf(data: bytes) -> Readability:
    """A minimal structural check: header, end marker, at least one page object."""
    if not data.startswith(b"%PDF-"):
        return Readability(False, "PDF повреждён (нет заголовка)")
    if len(data) < MIN_PDF_BYTES:
        return Readability(False, "PDF слишком маленький, в нём нет страниц")
    if b"%%EOF" not in data[-2048:]:
        return Readability(False, "PDF обрезан (неполный файл)")
    pages = len(_PDF_PAGE.findall(data))
    if pages == 0 and b"/ObjStm" not in data:  # page objects may hide in compressed streams
        return Readability(False, "в PDF нет страниц")
    return Readability(True, pages=max(pages, 1))


# -- the clean form stored in the vault -----------------------------------------------------


def sanitize(data: bytes, family: str, content_type: str) -> tuple[bytes, str]:
    """The bytes to keep: photos re-encoded upright and without EXIF (which carries GPS
    position, the phone's serial and the time: personal data nobody needs); PDFs as they are."""
    if family != "image":
        return data, content_type
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            fmt = (img.format or "").upper()
            ImageOps.exif_transpose(img, in_place=True)  # no copy of the pixels when upright
            out = io.BytesIO()
            if fmt in ("JPEG", "MPO") or img.mode not in ("RGB", "L", "RGBA", "P", "LA"):
                (img if img.mode == "RGB" else img.convert("RGB")).save(
                    out, "JPEG", quality=90, optimize=True)
                return out.getvalue(), "image/jpeg"
            img.save(out, "PNG", optimize=True)
            return out.getvalue(), "image/png"
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return data, content_type

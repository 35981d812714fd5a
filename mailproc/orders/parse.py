"""Reading an order out of a reader's letter: pure, no I/O.

Readers write freely: «Якутские сказки», шифр КХ2 84(2Рос=Як)-4, с. 15-27; or "нужна статья
из журнала «Илин» № 3 за 1990 год, стр. 5, 7-9". We pick out what we can and say what is
missing; a request that is not clear enough goes to ``needs_details`` and the reader is asked
instead of a department receiving a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: fund codes from the instruction, longest first so "КХ2" is not read as "КХ"
FUND_CODES = ("КХ ОНКФ", "КХ2", "КМП", "КХ", "КМ", "СБ", "ОНКФ")
_FUND = re.compile(r"(?<![А-ЯЁA-Z])(КХ\s*ОНКФ|КХ\s*2|КМП|КХ|КМ|СБ|ОНКФ)(?![А-ЯЁа-яёA-Za-z])")
SHELF_RE = re.compile(
    r"(?:шифр|шифр хранения|полочный индекс)?\s*[:\-]?\s*"
    r"((?:КХ\s*ОНКФ|КХ\s*2|КМП|КХ|КМ|СБ|ОНКФ)(?:[ \t]+[0-9А-ЯЁA-Z][^\s,;«»\n]*){0,3})")
_RANGE = r"\d{1,4}(?:\s*[-–—]\s*\d{1,4})?"
PAGES_RE = re.compile(
    rf"(?:(?<![А-Яа-яЁё])(?:с|стр|страниц[аыи]?|pp?)\.?|страниц[аыи]?)\s*"
    rf"({_RANGE}(?:\s*(?:,|и)\s*{_RANGE})*)", re.I)
_BOOK_PAGES = re.compile(
    r"(?:всего|объ[её]м(?:ом)?|в книге)\s*[:\-]?\s*(\d{2,4})\s*(?:с\.|стр|страниц)", re.I)
_QUOTED = re.compile(r"[«\"“„]([^»\"”“\n]{2,200})[»\"”“]")
_AUTHOR_BEFORE = re.compile(
    r"([А-ЯЁ][а-яё]+(?:-[А-ЯЁ][а-яё]+)?\s+[А-ЯЁ]\.\s?(?:[А-ЯЁ]\.)?"
    r"|[А-ЯЁ]\.\s?(?:[А-ЯЁ]\.\s?)?[А-ЯЁ][а-яё]+(?:-[А-ЯЁ][а-яё]+)?)\s*[,.:]?\s*$")
_AUTHOR_LABEL = re.compile(r"автор\w*\s*[:\-]?\s*([А-ЯЁ][^\n,;«»]{2,80})", re.I)
#: a catalogue description copied by the reader: "Ксенофонтов Г.В. Ураангхай-сахалар. Т. 1.
#: — Якутск, 1992." (author with initials, the title up to the " — " of the imprint)
_CATALOGUE = re.compile(
    r"^\s*([А-ЯЁ][а-яё]+(?:-[А-ЯЁ][а-яё]+)?,?\s+[А-ЯЁ]\.\s?(?:[А-ЯЁ]\.)?)\s+"
    r"([А-ЯЁ0-9][^\n]*?)\s*(?:\.?\s+[—–]\s+|$)", re.M)
_TITLE_LABEL = re.compile(r"(?:название|заглавие)\s*[:\-]\s*([^\n«»]{2,200})", re.I)
_YEAR = re.compile(r"(?<!\d)(1[6-9]\d\d|20[0-3]\d)\s*(?:г\.|г\b|год)", re.I)
_YEAR_LOOSE = re.compile(r"(?<![\d№-])(1[6-9]\d\d|20[0-3]\d)(?![\d-])")
_JOURNAL = re.compile(r"(?:журнал\w*|газет\w*|сборник\w*)\s+[«\"“„]([^»\"”“\n]{2,120})[»\"”“]",
                      re.I)
_ISSUE = re.compile(r"(?:№|N|номер|вып\.?|выпуск)\s*(\d{1,4}(?:\s*[-/]\s*\d{1,4})?)", re.I)
_ARTICLE = re.compile(r"стать[яиюей]|журнал|газет", re.I)
_SCAN = re.compile(r"скан|сканир|оцифр", re.I)
_CARD = re.compile(
    r"(?:читательск\w*\s+билет\w*|ЧБ|номер билета|билет)\s*(?:№|N|номер)?\s*[:\-]?\s*(\d{4,12})",
    re.I)


@dataclass
class ParsedRequest:
    author: str = ""
    title: str = ""
    year: str = ""
    shelf_mark: str = ""
    fund_code: str = ""
    journal: str = ""
    issue: str = ""
    pages: str = ""
    pages_count: int = 0
    book_pages: int = 0
    kind: str = "book"
    wants_scan: bool = False
    card: str = ""
    missing: list[str] = field(default_factory=list)  # "title", "pages", "fund", "journal"

    @property
    def clear(self) -> bool:
        return not self.missing


def normalise_fund(code: str) -> str:
    code = re.sub(r"\s+", " ", code.strip().upper())
    if code.replace(" ", "") == "КХ2":
        return "КХ2"
    if code.replace(" ", "") == "КХОНКФ":
        return "КХ ОНКФ"
    return code


def parse_pages(spec: str) -> tuple[str, int]:
    """'15–27, 30' -> ('15-27, 30', 14). Reversed ranges are read as written backwards."""
    parts = []
    count = 0
    for piece in re.split(r"\s*(?:,|\bи\b)\s*", spec.strip()):
        m = re.fullmatch(r"(\d{1,4})(?:\s*[-–—]\s*(\d{1,4}))?", piece.strip())
        if not m:
            continue
        a = int(m.group(1))
        b = int(m.group(2)) if m.group(2) else a
        a, b = min(a, b), max(a, b)
        parts.append(f"{a}-{b}" if b != a else str(a))
        count += b - a + 1
    return ", ".join(parts), count


def parse_request(subject: str, text: str) -> ParsedRequest:
    """Everything we can read from a request; ``missing`` names what must still be asked."""
    whole = f"{subject}\n{text}"
    req = ParsedRequest()
    req.shelf_mark, req.fund_code = shelf_of(whole)
    journal = journal_of(whole)
    if journal:
        req.journal = journal.group(1).strip()
        issue = _ISSUE.search(whole, journal.end()) or _ISSUE.search(whole)
        req.issue = issue.group(1).replace(" ", "") if issue else ""
    if _ARTICLE.search(whole):
        req.kind = "article"
    req.title, req.author = title_of(whole, req.journal)
    if not req.author:
        label = _AUTHOR_LABEL.search(whole)
        req.author = label.group(1).strip() if label else ""
    req.pages, req.pages_count = pages_of(whole)
    book_pages = _BOOK_PAGES.search(whole)
    if book_pages:
        req.book_pages = int(book_pages.group(1))
    year = _YEAR.search(whole) or _YEAR_LOOSE.search(_without_pages(whole))
    req.year = year.group(1) if year else ""
    req.wants_scan = bool(_SCAN.search(whole))
    card = _CARD.search(whole)
    req.card = card.group(1) if card else ""
    req.missing = missing_fields(req)
    return req


# The parts of parse_request that sorting's ``order-request`` condition asks for one by one, so
# that a letter which is plainly no order costs a few substring look-ups (deciding must stay
# cheap next to decoding). Each answers exactly as parse_request does.

#: every shelf mark opens with one of these (SHELF_RE's group): without them no regex is run
_FUND_HEADS = ("КХ", "КМ", "СБ", "ОНКФ")
#: every quoted title and every journal name opens with one of these (_QUOTED, _JOURNAL)
_OPENING_QUOTES = ("«", '"', "“", "„")
_DIGIT = re.compile(r"\d")


def shelf_of(whole: str) -> tuple[str, str]:
    """(shelf mark, fund code), or ("", "")."""
    if not any(head in whole for head in _FUND_HEADS):
        return "", ""
    shelf = SHELF_RE.search(whole)
    if not shelf:
        return "", ""
    mark = " ".join(shelf.group(1).split()).rstrip(".")
    return mark, normalise_fund(_FUND.match(mark).group(1))


def journal_of(whole: str) -> re.Match | None:
    """The «journal/newspaper/collection "name"» mention; its group 1 is the name."""
    if not any(q in whole for q in _OPENING_QUOTES):
        return None
    return _JOURNAL.search(whole)


def title_of(whole: str, journal: str = "") -> tuple[str, str]:
    """(title, author): the first quoted name that is not the journal, else a copied
    catalogue description, else "название: ..."; the author as written next to the title."""
    title = author = ""
    if any(q in whole for q in _OPENING_QUOTES):
        for m in _QUOTED.finditer(whole):
            if journal and m.group(1).strip() == journal:
                continue
            title = m.group(1).strip()
            before = _AUTHOR_BEFORE.search(whole[max(0, m.start() - 60):m.start()])
            if before:
                author = before.group(1).strip()
            break
    if not title:
        described = _CATALOGUE.search(whole)
        if described:
            author = described.group(1).rstrip(",")
            title = described.group(2).strip().rstrip(".")
    if not title:
        label = _TITLE_LABEL.search(whole)
        title = label.group(1).strip() if label else ""
    return title, author


def pages_of(whole: str) -> tuple[str, int]:
    """(pages as written tidily, how many), or ("", 0)."""
    if not _DIGIT.search(whole):  # page numbers are digits; most letters have none at all
        return "", 0
    pages = PAGES_RE.search(whole)
    return parse_pages(pages.group(1)) if pages else ("", 0)


def _without_pages(text: str) -> str:
    return PAGES_RE.sub(" ", text)


def missing_fields(req: ParsedRequest) -> list[str]:
    missing = []
    if not req.title and not (req.kind == "article" and req.journal):
        missing.append("title")
    if req.kind == "book" and not req.pages:
        missing.append("pages")
    if req.kind == "article" and not req.journal and not req.fund_code:
        missing.append("journal")
    if req.kind == "book" and not req.fund_code:
        missing.append("fund")
    return missing


MISSING_RU = {
    "title": "автора и название издания (название — в кавычках «»)",
    "pages": "нужные страницы (например: с. 15-27)",
    "fund": "шифр хранения из каталога (например: КХ, КХ2, КМ, КМП, СБ, КХ ОНКФ)",
    "journal": "название журнала или газеты, год и номер выпуска",
}


def work_key(author: str, title: str) -> str:
    """One key for one work whatever the spelling: lower case, ё as е, letters and digits."""
    def norm(s: str) -> str:
        return " ".join(re.findall(r"[0-9a-zа-я]+", s.lower().replace("ё", "е")))
    return f"{norm(author)}|{norm(title)}"[:200]

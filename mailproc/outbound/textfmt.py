"""Pure text helpers the templates use: Russian plurals, dates, HTML to plain text."""

from __future__ import annotations

import html
import re
from datetime import date, datetime, timezone
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

MONTHS_GENITIVE = [
    "января", "февраля", "марта", "апреля", "мая", "июня",
    "июля", "августа", "сентября", "октября", "ноября", "декабря",
]


def plural_form(n: int, one: str, few: str, many: str) -> str:
    """The Russian form for ``n``: 1 книга, 2 книги, 5 книг, 11 книг, 21 книга, 22 книги."""
    n = abs(int(n))
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def plural(n: int, one: str, few: str, many: str) -> str:
    """``n`` followed by its form: ``plural(21, "книга", "книги", "книг")`` -> "21 книга"."""
    return f"{n} {plural_form(n, one, few, many)}"


def local(value: datetime | date | str, tz: ZoneInfo) -> datetime | date:
    """``value`` in the library's time zone; ISO text ("2026-11-26", "2026-11-26T10:00")
    is accepted because sample data and JSON contexts carry dates as text."""
    if isinstance(value, str):
        text = value.strip()
        value = datetime.fromisoformat(text) if len(text) > 10 else date.fromisoformat(text)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(tz)
    return value


def format_date(value: datetime | date, tz: ZoneInfo) -> str:
    """"26 ноября 2026 г." in the library's time zone."""
    d = local(value, tz)
    return f"{d.day} {MONTHS_GENITIVE[d.month - 1]} {d.year} г."


def format_datetime(value: datetime, tz: ZoneInfo) -> str:
    """"26 ноября 2026 г., 14:05" in the library's time zone."""
    d = local(value, tz)
    if not isinstance(d, datetime):
        return format_date(d, tz)
    return f"{format_date(d, tz)}, {d:%H:%M}"


_BLOCK = {"p", "div", "br", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table",
          "blockquote", "hr", "section", "header", "footer"}
_SKIP = {"style", "script", "head", "title"}


class _TextMaker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.href: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in _SKIP:
            self.skip += 1
        elif "display:none" in (a.get("style") or "").replace(" ", ""):
            self.hidden += 1 if tag not in ("br", "img", "hr") else 0
        if tag == "li":
            self.out.append("\n- ")
        elif tag in _BLOCK:
            self.out.append("\n\n" if tag in ("p", "h1", "h2", "h3", "table", "ul", "ol") else "\n")
        if tag == "a":
            self.href.append(a.get("href") or "")

    def handle_endtag(self, tag):
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        if tag == "a" and self.href:
            href = self.href.pop()
            if href and not href.startswith("#") and not self.skip:
                self.out.append(f" ({href.removeprefix('mailto:')})")
        if tag in ("p", "h1", "h2", "h3", "ul", "ol", "table"):
            self.out.append("\n\n")

    def handle_data(self, data):
        if not self.skip:
            self.out.append(re.sub(r"\s+", " ", data))


def html_to_text(markup: str) -> str:
    """A readable text/plain alternative for an HTML part: paragraphs, list items, link
    targets kept; styles and scripts dropped."""
    maker = _TextMaker()
    maker.feed(markup)
    maker.close()
    text = "".join(maker.out)
    lines = [line.strip() for line in text.splitlines()]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return html.unescape(text).strip() + "\n"

"""HTML -> the text a reader sees, for HTML-only letters (newsletters, web mail, phones).

One line per block element, blank lines dropped, scripts/styles/head/comments dropped, entities
decoded. Written as a linear scan on purpose: ``html.parser.HTMLParser`` is quadratic on
unclosed tags (300 000 ``<a `` took minutes here), and a hostile letter must not stall intake.
"""

from __future__ import annotations

import html as html_lib
import re

MAX_HTML = 4_000_000
_BLOCK = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul",
          "ol", "blockquote", "pre", "hr", "section", "article", "header", "footer", "td", "th",
          "dt", "dd", "title", "center", "address"}
# [^<>]* cannot run past the next "<", so every character is looked at a bounded number of times.
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9:-]*)[^<>]*>")
_SKIP = (("<!--", "-->"), ("<script", "</script"), ("<style", "</style"), ("<head", "</head"),
         ("<template", "</template"))


def html_to_text(html: str) -> str:
    text = _TAG.sub(_tag, _drop_blocks(html[:MAX_HTML]))
    text = html_lib.unescape(text)
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _tag(match: re.Match) -> str:
    return "\n" if match.group(2).lower() in _BLOCK else ""


def _drop_blocks(html: str) -> str:
    """Remove comments and script/style/head blocks; an unclosed one runs to the end."""
    low = html.lower()
    nexts = {opener: low.find(opener) for opener, _ in _SKIP}
    out: list[str] = []
    pos = 0
    while True:
        for opener, _ in _SKIP:
            if -1 < nexts[opener] < pos:
                nexts[opener] = low.find(opener, pos)
        found = [(at, opener, closer) for opener, closer in _SKIP
                 if (at := nexts[opener]) >= 0]
        if not found:
            out.append(html[pos:])
            return "".join(out)
        at, opener, closer = min(found)
        out.append(html[pos:at])
        end = low.find(closer, at + len(opener))
        if end < 0:
            return "".join(out)
        close_end = low.find(">", end)
        pos = len(html) if close_end < 0 else close_end + 1

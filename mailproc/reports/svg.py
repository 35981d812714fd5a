"""Horizontal (stacked) bar charts drawn as inline SVG by hand.

Why not matplotlib: the report needs bars and nothing else; hand-written SVG is a few dozen
lines, adds no 40 MB dependency (numpy, fonts) to a mail daemon, renders identically on every
machine (no font cache, no backend), and stays selectable text that a browser scales and
prints sharply. Every label and number is escaped: department keys and topics come from
files librarians edit.
"""

from __future__ import annotations

from html import escape

PALETTE = ("#2f6ea5", "#e07b39", "#3a9a5b", "#c0392b", "#8e6bb8", "#7f8c8d", "#d4a72c",
           "#16a2b8", "#a0522d", "#5d6d7e")
WIDTH = 960
LABEL_W = 300
VALUE_W = 70
ROW_H = 26
BAR_H = 18


def stacked_bars(rows: list[tuple[str, dict[str, float]]], series: list[tuple[str, str]],
                 title: str, colours: dict[str, str] | None = None) -> str:
    """One bar per row, split by ``series`` (key, legend title); series absent from every row
    stay out of the legend; ``colours`` fixes a series' colour (failures red, say)."""
    rows = [(label, parts) for label, parts in rows if sum(parts.values()) > 0]
    if not rows:
        return f'<p class="empty">{escape(title)}: нет данных за период.</p>'
    series = [(k, n) for k, n in series if any(parts.get(k) for _l, parts in rows)]
    fill = {k: (colours or {}).get(k, PALETTE[i % len(PALETTE)])
            for i, (k, _n) in enumerate(series)}
    legend = len(series) > 1
    top = 30 + (24 if legend else 0)
    height = top + ROW_H * len(rows) + 10
    biggest = max(sum(p.values()) for _l, p in rows)
    scale = (WIDTH - LABEL_W - VALUE_W) / biggest
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
           f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
           f'font-family="sans-serif" font-size="13">',
           f'<title>{escape(title)}</title>',
           f'<text x="0" y="18" font-size="15" font-weight="bold">{escape(title)}</text>']
    if legend:
        x = 0
        for key, name in series:
            out.append(f'<rect x="{x}" y="30" width="12" height="12" fill="{fill[key]}"/>'
                       f'<text x="{x + 16}" y="41">{escape(name)}</text>')
            x += 24 + 8 * len(name)
    for r, (label, parts) in enumerate(rows):
        y = top + r * ROW_H
        out.append(f'<text x="{LABEL_W - 8}" y="{y + BAR_H - 4}" text-anchor="end">'
                   f'<title>{escape(label)}</title>{escape(_short(label))}</text>')
        x = float(LABEL_W)
        for key, name in series:
            v = parts.get(key, 0)
            if not v:
                continue
            w = v * scale
            out.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{BAR_H}" '
                       f'fill="{fill[key]}"><title>{escape(name)}: {v:g}'
                       f'</title></rect>')
            x += w
        out.append(f'<text x="{x + 6:.1f}" y="{y + BAR_H - 4}">'
                   f'{sum(parts.values()):g}</text>')
    out.append("</svg>")
    return "\n".join(out)


def bars(items: list[tuple[str, float]], title: str) -> str:
    return stacked_bars([(label, {"v": v}) for label, v in items], [("v", title)], title)


def _short(text: str, limit: int = 34) -> str:
    text = text or "(не указано)"
    return text if len(text) <= limit else text[: limit - 1] + "…"

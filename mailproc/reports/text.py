"""The statistics report as plain text for the terminal (Russian, like the HTML)."""

from __future__ import annotations

from mailproc.reports import labels as L


def _h(s: dict, none: str) -> str:
    if not s["count"]:
        return none
    return f"{s['count']}, медиана {s['median']} ч, 90% за {s['p90']} ч"


def _pairs(d: dict, table: dict | None = None) -> str:
    if not d:
        return "—"
    return ", ".join(f"{L.name(table, k) if table else (k or '(не указано)')}: {v}"
                     for k, v in d.items())


def render_text(fig: dict) -> str:
    p, reg, o, q, n, m = (fig["period"], fig["registrations"], fig["orders"], fig["questions"],
                          fig["needs"], fig["mailings"])
    lines = [
        f"Отчёт за {p['from']} — {p['to']} ({p['timezone']})",
        "",
        f"Письма: {fig['messages']['received']} ({_pairs(fig['messages']['by_category'])})",
        f"Регистрация: заявок {reg['received']}, комплект собран {reg['complete']}, "
        f"передано в ЦКО {reg['handed']}, билетов выдано {reg['cards_issued']}",
        f"Заказы: получено {o['received']}, выполнено {o['delivered']} "
        f"(страниц {o['pages_delivered']}); срок: {_h(o['delivery_hours'], 'нет выполненных')}",
    ]
    names = fig.get("names", {}).get("departments", {})
    topics = fig.get("names", {}).get("topics", {})
    for dept, states in o["by_department"].items():
        title = names.get(dept, dept) if dept else "(отдел не определён)"
        lines.append(f"  {title}: {_pairs(states, L.ORDER_STATES)}")
    lines += [
        f"Вопросы: получено {q['received']}, отвечено {q['answered']} "
        f"({_pairs(q['answered_by'], L.ANSWERERS)}); "
        f"срок: {_h(q['answer_hours'], 'нет отвеченных')}",
        f"  по темам: {_pairs({topics.get(k, k): v for k, v in q['by_topic'].items()})}",
        f"  по отделам: {_pairs({names.get(k, k): v for k, v in q['by_department'].items()})}",
        f"Информационные потребности: {n['total']} ({_pairs(n['by_kind'], L.NEED_KINDS)})",
    ]
    lines += [f"  {x['count']} × {x['what']}" for x in n["top"]]
    lines.append(f"Рассылки: выпусков {m['issues']}, отправлено {m['sent']}, вернулось "
                 f"{m['bounced']}, не ушло {m['failed']}, отписались {m['unsubscribed']}")
    return "\n".join(lines) + "\n"

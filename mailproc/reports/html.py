"""The statistics report as one self-contained HTML page: tables and inline SVG charts.

Self-contained (no scripts, no external files) so it can be mailed, archived or opened from a
USB stick years later and look the same.
"""

from __future__ import annotations

from html import escape

from mailproc.reports import labels as L
from mailproc.reports.svg import bars, stacked_bars

CSS = """
body { font-family: sans-serif; margin: 24px 32px; color: #222; max-width: 1000px; }
h1 { font-size: 24px; } h2 { font-size: 19px; margin-top: 32px; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 8px 0 16px; }
td, th { border: 1px solid #ccc; padding: 4px 10px; text-align: left; }
td.n, th.n { text-align: right; } .empty { color: #777; } .chart { display: block; margin: 8px 0; }
"""


def _table(head: list[str], rows: list[list], numeric_from: int = 1) -> str:
    if not rows:
        return '<p class="empty">Нет данных за период.</p>'
    th = "".join(f'<th class="{"n" if i >= numeric_from else ""}">{escape(h)}</th>'
                 for i, h in enumerate(head))
    body = "".join("<tr>" + "".join(
        f'<td class="{"n" if i >= numeric_from else ""}">{escape(_fmt(v))}</td>'
        for i, v in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.1f}".replace(".", ",")
    return str(v)


def _hours(summary: dict) -> list:
    return [summary["count"], summary["median"], summary["p90"]]


def render_html(fig: dict) -> str:
    p = fig["period"]
    reg, orders, q, needs, mail, msgs = (fig["registrations"], fig["orders"], fig["questions"],
                                         fig["needs"], fig["mailings"], fig["messages"])
    states = sorted({s for d in orders["by_department"].values() for s in d})
    names = fig.get("names", {})

    def dept(key: str, empty: str = "(отдел не определён)") -> str:
        return names.get("departments", {}).get(key, key) if key else empty

    def topic(key: str) -> str:
        return names.get("topics", {}).get(key, key) if key else "(без готового ответа)"

    parts = [
        f"<h1>Персональный библиотекарь: отчёт за {escape(p['from'])} — {escape(p['to'])}</h1>",
        f"<p>Время — {escape(p['timezone'])}. Сроки — в часах от поступления до результата; "
        "90-й процентиль — срок, в который уложились 9 случаев из 10.</p>",
        "<h2>Главное</h2>",
        _table(["Показатель", "Значение"], [
            ["Писем получено", msgs["received"]],
            ["Заявок на регистрацию", reg["received"]],
            ["Комплектов документов собрано", reg["complete"]],
            ["Читательских билетов выдано", reg["cards_issued"]],
            ["Заказов фрагментов", orders["received"]],
            ["Заказов выполнено", orders["delivered"]],
            ["Вопросов читателей", q["received"]],
            ["Вопросов отвечено", q["answered"]],
            ["Информационных потребностей", needs["total"]],
            ["Писем рассылок отправлено", mail["sent"]],
        ]),
        "<h2>Письма</h2>",
        bars(list(msgs["by_category"].items()), "Письма по категориям"),
        "<h2>Регистрация</h2>",
        bars([("Заявки получены", reg["received"]), ("Комплект собран", reg["complete"]),
              ("Передано в ЦКО", reg["handed"]), ("Билет выдан", reg["cards_issued"])],
             "Регистрация читателей"),
        _table(["Состояние заявок периода", "Число"],
               [[L.name(L.REGISTRATION_STATES, k), v] for k, v in reg["by_state"].items()]),
        "<h2>Заказы фрагментов</h2>",
        stacked_bars([(dept(d), v) for d, v in orders["by_department"].items()],
                     [(s, L.name(L.ORDER_STATES, s)) for s in states],
                     "Заказы по отделам и состояниям", L.STATUS_COLOURS),
        _table(["Отдел"] + [L.name(L.ORDER_STATES, s) for s in states],
               [[dept(d)] + [v.get(s, 0) for s in states]
                for d, v in orders["by_department"].items()]),
        _table(["Срок выполнения, часы", "Выполнено", "Медиана", "90-й процентиль"],
               [["все отделы"] + _hours(orders["delivery_hours"])]
               + [[dept(d)] + _hours(s)
                  for d, s in orders["delivery_hours_by_department"].items()]),
        "<h2>Вопросы читателей</h2>",
        bars([(topic(k), v) for k, v in q["by_topic"].items()],
             "Вопросы по темам"),
        bars([(dept(k, "(без отдела)"), v) for k, v in q["by_department"].items()],
             "Вопросы по отделам"),
        bars([(L.name(L.ANSWERERS, k), v) for k, v in q["answered_by"].items()],
             "Кто ответил"),
        _table(["Срок ответа, часы", "Отвечено", "Медиана", "90-й процентиль"],
               [["все вопросы"] + _hours(q["answer_hours"])]),
        "<h2>Информационные потребности</h2>",
        bars([(L.name(L.NEED_KINDS, k), v) for k, v in needs["by_kind"].items()],
             "Потребности по видам"),
        _table(["Вид", "Что", "Сколько раз"],
               [[L.name(L.NEED_KINDS, n["kind"]), n["what"], n["count"]] for n in needs["top"]],
               numeric_from=2),
        "<h2>Рассылки</h2>",
        stacked_bars(list(mail["by_mailing"].items()),
                     [(s, L.name(L.MAILING_STATUSES, s))
                      for s in ("sent", "bounced", "failed", "queued", "planned", "skipped")],
                     "Рассылки: письма по результату", L.STATUS_COLOURS),
        _table(["Показатель", "Значение"], [
            ["Выпусков", mail["issues"]], ["Отправлено", mail["sent"]],
            ["Вернулось (недоставлено)", mail["bounced"]], ["Не ушло", mail["failed"]],
            ["Отписались", mail["unsubscribed"]]]),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"ru\"><head><meta charset=\"utf-8\">"
            f"<title>Отчёт {escape(p['from'])} — {escape(p['to'])}</title>"
            f"<style>{CSS}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")

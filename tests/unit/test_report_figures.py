"""The statistics report's figures equal counts made independently, with plain SQL, from a
database the workflows filled (see test_report_world); the command prints the same figures."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from mailproc.cli import main
from mailproc.reports import period
from mailproc.reports.figures import report_figures
from mailproc.reports.html import render_html
from mailproc.reports.labels import names_from_rules
from mailproc.reports.stats import nearest_rank, summary
from mailproc.reports.text import render_text
from tests.unit.test_report_world import NOV, world  # noqa: F401 - the fixture

YAKUTSK = ZoneInfo("Asia/Yakutsk")
IN_NOV = "{col} >= :a AND {col} < :b"


@pytest.fixture(scope="module")
def fig(world):
    with world.db.session() as s:
        return report_figures(s, period.month("2026-11", YAKUTSK),
                              names_from_rules(world.settings))


def sql(world, query: str, **params):
    with world.db.session() as s:
        return s.execute(text(query), {"a": NOV[0], "b": NOV[1], **params}).all()


def one(world, query: str) -> int:
    return sql(world, query)[0][0]


def count(world, table: str, col: str) -> int:
    return one(world, f"SELECT count(*) FROM {table} WHERE {IN_NOV.format(col=col)}")


def grouped(world, table: str, key: str, col: str) -> dict:
    return dict(sql(world, f"SELECT coalesce({key}, ''), count(*) FROM {table} "
                           f"WHERE {IN_NOV.format(col=col)} GROUP BY 1"))


def median_p90(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    rank = -(-9 * len(ordered) // 10)  # ceil(0.9 n), written differently on purpose
    return round(statistics.median(ordered), 1), round(ordered[rank - 1], 1)


def test_registrations_equal_sql(world, fig):
    r = fig["registrations"]
    assert r["received"] == count(world, "registration_cases", "created_at") == 7
    assert r["complete"] == count(world, "registration_cases", "completed_at")
    assert r["handed"] == count(world, "registration_cases", "handed_at")
    assert r["cards_issued"] == count(world, "registration_cases", "card_issued_at")
    assert r["by_state"] == grouped(world, "registration_cases", "state", "created_at")
    # the October case whose card came in October counts nowhere in November
    assert r["cards_issued"] == 1


def test_orders_equal_sql(world, fig):
    o = fig["orders"]
    assert o["received"] == count(world, "orders", "created_at") == 12
    expected: dict = defaultdict(dict)
    for dept, state, n in sql(world, "SELECT department, state, count(*) FROM orders WHERE "
                                     + IN_NOV.format(col="created_at") + " GROUP BY 1, 2"):
        expected[dept][state] = n
    assert o["by_department"] == dict(expected)
    assert len(o["by_department"]) == 3
    assert o["delivered"] == count(world, "orders", "delivered_at") == 8  # 7 + one from October
    hours = [h for (h,) in sql(world, "SELECT (julianday(delivered_at) - julianday(created_at)) "
                                      "* 24 FROM orders WHERE "
                                      + IN_NOV.format(col="delivered_at"))]
    median, p90 = median_p90(hours)
    assert (o["delivery_hours"]["median"], o["delivery_hours"]["p90"]) == (median, p90)
    assert o["pages_delivered"] == one(world, "SELECT sum(pages_delivered) FROM orders WHERE "
                                       + IN_NOV.format(col="delivered_at"))


def test_questions_equal_sql(world, fig):
    q = fig["questions"]
    assert q["received"] == count(world, "question_cases", "created_at") == 10
    assert q["by_topic"] == grouped(world, "question_cases", "topic", "created_at")
    assert q["by_department"] == grouped(world, "question_cases", "department", "created_at")
    assert q["answered"] == count(world, "question_cases", "answered_at")
    by = dict(sql(world, "SELECT substr(answered_by, 1, instr(answered_by, ':') - 1), count(*) "
                         "FROM question_cases WHERE " + IN_NOV.format(col="answered_at")
                         + " GROUP BY 1"))
    assert {k: v for k, v in q["answered_by"].items() if v} == by
    assert by.get("ready") and by.get("librarian") == 1
    hours = [h for (h,) in sql(world, "SELECT (julianday(answered_at) - julianday(created_at)) "
                                      "* 24 FROM question_cases WHERE "
                                      + IN_NOV.format(col="answered_at"))]
    assert (q["answer_hours"]["median"], q["answer_hours"]["p90"]) == median_p90(hours)


def test_needs_and_mailings_equal_sql(world, fig):
    assert fig["needs"]["total"] == count(world, "information_needs", "created_at") > 0
    assert fig["needs"]["by_kind"] == grouped(world, "information_needs", "kind", "created_at")
    statuses = dict(sql(world, "SELECT d.status, count(*) FROM mailing_deliveries d JOIN "
                               "mailing_issues i ON i.id = d.issue_id WHERE "
                               + IN_NOV.format(col="i.created_at") + " GROUP BY 1"))
    m = fig["mailings"]
    assert (m["sent"], m["bounced"], m["failed"]) == (
        statuses["sent"], statuses["bounced"], statuses["failed"]) == (5, 1, 1)
    assert m["issues"] == count(world, "mailing_issues", "created_at") == 2
    assert m["unsubscribed"] == count(world, "contacts", "unsubscribed_at") == 1
    assert fig["messages"]["by_category"] == grouped(world, "messages", "category", "received_at")


def test_a_range_of_days_counts_only_those_days(world):
    with world.db.session() as s:
        fig = report_figures(s, period.days("2026-11-02", "2026-11-04", YAKUTSK))
    got = one(world, "SELECT count(*) FROM orders WHERE created_at >= '2026-11-01 15:00:00' "
                     "AND created_at < '2026-11-04 15:00:00'")
    assert fig["orders"]["received"] == got == 3


def test_command_prints_the_same_figures_as_json_text_and_html(world, fig, tmp_path, capsys):
    config = tmp_path / "mailproc.toml"
    config.write_text(f'[database]\nurl = "{world.settings.database.url}"\n'
                      f'[paths]\nrules = "{world.settings.paths.rules}"\n', encoding="utf-8")
    page = tmp_path / "report.html"
    assert main(["--config", str(config), "report", "--month", "2026-11", "--json",
                 "--html", str(page)]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(fig))
    html = page.read_text(encoding="utf-8")
    assert html.count("<svg") >= 6 and "Заказы по отделам и состояниям" in html
    assert fig["names"]["departments"]["storage"] in html  # names from departments.yaml
    assert fig["names"]["topics"]["temporary-access"] in html  # titles from answers.yaml
    assert main(["--config", str(config), "report", "--from", "2026-11-01", "--to",
                 "2026-11-30"]) == 0
    out = capsys.readouterr().out
    assert out == render_text(fig)
    assert f"Заказы: получено 12, выполнено {fig['orders']['delivered']}" in out
    assert main(["--config", str(config), "report", "--month", "2026-13"]) == 2


def test_html_escapes_what_librarians_typed():
    fig = {"period": {"from": "2026-11-01", "to": "2026-11-30", "timezone": "Asia/Yakutsk"},
           "messages": {"received": 1, "by_category": {"<b>x</b>": 1}},
           "registrations": {"received": 0, "complete": 0, "handed": 0, "cards_issued": 0,
                             "by_state": {}},
           "orders": {"received": 0, "by_state": {}, "by_department": {}, "delivered": 0,
                      "pages_delivered": 0, "delivery_hours": summary([]),
                      "delivery_hours_by_department": {}},
           "questions": {"received": 0, "by_topic": {}, "by_department": {}, "by_state": {},
                         "answered": 0, "answered_by": {}, "answer_hours": summary([])},
           "needs": {"total": 0, "by_kind": {}, "top": []},
           "mailings": {"issues": 0, "sent": 0, "bounced": 0, "failed": 0, "by_mailing": {},
                        "unsubscribed": 0}}
    html = render_html(fig)
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert "нет данных за период" in html


def test_periods_and_percentiles():
    feb = period.month("2026-02", YAKUTSK)
    assert (feb.first.isoformat(), feb.last.isoformat()) == ("2026-02-01", "2026-02-28")
    assert feb.start == datetime(2026, 1, 31, 15, 0, tzinfo=timezone.utc)
    assert period.month("2026-12", YAKUTSK).end == datetime(2026, 12, 31, 15, 0,
                                                            tzinfo=timezone.utc)
    with pytest.raises(ValueError):
        period.days("2026-11-05", "2026-11-01", YAKUTSK)
    assert nearest_rank(list(range(1, 11)), 90) == 9
    assert nearest_rank([5.0], 90) == 5.0
    assert summary([1, 2, 3, 100]) == {"count": 4, "median": 2.5, "p90": 100}

"""The plan-schedule: loading with line-numbered errors, windows, grace, groups."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from mailproc.config import load_settings
from mailproc.errors import LoadError
from mailproc.outreach.groups import GroupSpec, members
from mailproc.outreach.models import Contact, Organisation
from mailproc.outreach.plan import MailingSpec, Window, load_plan, parse_days
from mailproc.outreach.schedule import due_occurrences, next_issues, window_opening

TZ = ZoneInfo("Asia/Yakutsk")
UTC = timezone.utc


def local(*args) -> datetime:
    return datetime(*args, tzinfo=TZ)


def cron(expr: str, grace: float = 7200, window: Window | None = None) -> MailingSpec:
    return MailingSpec(name="m", template="mailing/el_services", groups=["g"], cron=expr,
                       grace=grace, window=window or Window())


def test_window_moves_night_and_weekend_to_the_next_opening():
    w = Window()  # 09:00-18:00, mon-fri
    assert window_opening(local(2026, 12, 1, 10, 0), w, TZ) == local(2026, 12, 1, 10, 0)
    assert window_opening(local(2026, 12, 1, 7, 30), w, TZ) == local(2026, 12, 1, 9, 0)
    assert window_opening(local(2026, 12, 1, 19, 0), w, TZ) == local(2026, 12, 2, 9, 0)
    # Saturday 5 December -> Monday 7 December
    assert window_opening(local(2026, 12, 5, 10, 0), w, TZ) == local(2026, 12, 7, 9, 0)


def test_due_within_grace_and_missed_beyond_it():
    spec = cron("0 10 * * *", grace=3600)
    fired = local(2026, 12, 1, 10, 0)
    [occ] = due_occurrences(spec, TZ, fired - timedelta(days=1), fired + timedelta(minutes=30))
    assert (occ.state, occ.scheduled_at) == ("due", fired)
    [occ] = due_occurrences(spec, TZ, fired - timedelta(days=1), fired + timedelta(hours=3))
    assert occ.state == "missed" and "опоздание 180 мин" in occ.note


def test_a_down_daemon_sends_only_the_newest_issue():
    spec = cron("*/10 * * * *", grace=7200)
    start = local(2026, 12, 1, 10, 0)
    found = due_occurrences(spec, TZ, start, start + timedelta(minutes=35))
    assert [o.state for o in found] == ["missed", "missed", "due"]
    assert "следующий выпуск" in found[0].note


def test_fire_time_outside_the_window_waits_for_it():
    spec = cron("0 7 * * *")  # 07:00, the window opens at 09:00
    day = local(2026, 12, 1, 0, 0)
    assert due_occurrences(spec, TZ, day, local(2026, 12, 1, 8, 0)) == []
    [occ] = due_occurrences(spec, TZ, day, local(2026, 12, 1, 9, 5))
    assert occ.state == "due" and occ.opens_at == local(2026, 12, 1, 9, 0)


def test_one_off_mailing_found_once_and_missed_when_long_past():
    spec = MailingSpec(name="once", template="t", groups=["g"], at=local(2026, 12, 15, 11, 0))
    [occ] = due_occurrences(spec, TZ, None, local(2026, 12, 15, 11, 1))
    assert occ.state == "due"
    assert due_occurrences(spec, TZ, occ.scheduled_at, local(2026, 12, 15, 12, 0)) == []
    [late] = due_occurrences(spec, TZ, None, local(2026, 12, 16, 11, 0))
    assert late.state == "missed"
    assert next_issues(spec, TZ, local(2026, 12, 16, 0, 0)) == []


def test_next_issues_apply_the_window():
    spec = cron("0 10 1 * *")  # 1 August 2027 is a Sunday
    got = next_issues(spec, TZ, local(2027, 7, 15, 0, 0).astimezone(UTC), count=1)
    assert got == [local(2027, 8, 2, 9, 0)]


def test_days_parsing():
    assert parse_days("пн-пт") == frozenset(range(5))
    assert parse_days("mon,wed,fri") == frozenset({0, 2, 4})
    assert parse_days("ежедневно") == frozenset(range(7))
    with pytest.raises(ValueError):
        parse_days("понедельник")


def test_shipped_plan_loads():
    plan = load_plan("rules", load_settings(environ={}))
    assert plan.groups["учителя-школ"].level == 2
    assert plan.mailings["сервисы-эб-учителям"].cron == "0 10 1 * *"


def test_plan_errors_name_file_line_and_fix(tmp_path):
    (tmp_path / "mailings.yaml").write_text(
        "groups:\n"
        "  - name: g\n"
        "    level: 5\n"
        "    where: {colour: red}\n"
        "mailings:\n"
        "  - name: m\n"
        "    template: mailing/el_services\n"
        "    groups: [g]\n"
        "    cron: \"0 25 * * *\"\n"
        "  - name: n\n"
        "    groups: [g]\n"
        "    at: завтра\n"
        "    window: 9-18\n", encoding="utf-8")
    with pytest.raises(LoadError) as err:
        load_plan(tmp_path, load_settings(environ={}))
    text = "\n".join(err.value.problems)
    assert f"{tmp_path}/mailings.yaml:2: уровень группы «g» должен быть 1, 2 или 3" in text
    assert "поле «colour» нельзя проверять" in text
    assert f"{tmp_path}/mailings.yaml:6: рассылка «m»: расписание «0 25 * * *» не понято" in text
    assert f"{tmp_path}/mailings.yaml:10: рассылка «n»: не указан шаблон" in text
    assert "время «завтра» не понято" in text
    assert "окно отправки пишется как «09:00-18:00»" in text


def _contact(i, **kw) -> Contact:
    org = kw.pop("org", None)
    c = Contact(id=i, email=f"c{i}@x.example", interests=kw.pop("interests", []), **kw)
    c.organisation = Organisation(name=org) if org else None
    return c


def test_group_members_by_filter_explicit_and_excluded():
    contacts = [
        _contact(1, segment="школы", position="Учитель математики"),
        _contact(2, segment="школы", position="библиотекарь", role="responsible"),
        _contact(3, segment="СПО", position="учитель"),
        _contact(4, segment="школы", position="завуч"),
        _contact(5, segment="школы", position="учитель истории"),
    ]
    teachers = GroupSpec(name="t", level=2, segment="школы", where={"position": ["учитель"]})
    got = members(teachers, contacts, explicit={4}, excluded={5})
    assert [c.id for c in got] == [1, 4]
    responsible = GroupSpec(name="r", level=1, where={"role": ["responsible", "head"]})
    assert [c.id for c in members(responsible, contacts, set(), set())] == [2]
    only_explicit = GroupSpec(name="e")
    assert [c.id for c in members(only_explicit, contacts, {3}, set())] == [3]


def test_group_by_interests_and_organisation():
    contacts = [_contact(1, interests=["Краеведение"], org="СОШ № 5"),
                _contact(2, interests=["IT"], org="СОШ № 5")]
    spec = GroupSpec(name="k", level=3, interests=["краеведение"])
    assert [c.id for c in members(spec, contacts, set(), set())] == [1]
    spec = GroupSpec(name="o", where={"organisation": ["сош № 5"]})
    assert [c.id for c in members(spec, contacts, set(), set())] == [1, 2]

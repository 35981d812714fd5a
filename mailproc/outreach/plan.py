"""The plan-schedule ``rules/mailings.yaml`` (and optionally ``rules/groups.yaml``).

Librarians edit these files, so every problem is reported at once as
``file:line: what is wrong; what to write`` in Russian, and nothing half-loaded is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from apscheduler.triggers.cron import CronTrigger

from mailproc.config import parse_duration
from mailproc.errors import LoadError
from mailproc.outreach.groups import FILTER_FIELDS, GroupSpec

DAY_NAMES = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6,
             "пн": 0, "вт": 1, "ср": 2, "чт": 3, "пт": 4, "сб": 5, "вс": 6}
_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class Window:
    """When mail may go: hours of the day on some days of the week, in the library's zone."""

    start: time = time(9, 0)
    end: time = time(18, 0)
    days: frozenset[int] = frozenset(range(5))


@dataclass
class MailingSpec:
    name: str
    template: str
    groups: list[str]
    title: str = ""
    cron: str = ""  # "0 10 * * mon" (minute hour day month weekday)
    at: datetime | None = None  # a single issue
    window: Window = field(default_factory=Window)
    grace: float = 7200.0
    context: dict = field(default_factory=dict)
    origin: str = ""

    def trigger(self, tz: ZoneInfo):
        """The APScheduler trigger that says when issues fall due."""
        if self.cron:
            return CronTrigger.from_crontab(self.cron, timezone=tz)
        from apscheduler.triggers.date import DateTrigger

        return DateTrigger(run_date=self.at, timezone=tz)


@dataclass
class Plan:
    mailings: dict[str, MailingSpec] = field(default_factory=dict)
    groups: dict[str, GroupSpec] = field(default_factory=dict)


def parse_window(text: str) -> tuple[time, time]:
    m = _WINDOW.match(str(text))
    if not m:
        raise ValueError("окно отправки пишется как «09:00-18:00»")
    h1, m1, h2, m2 = (int(x) for x in m.groups())
    if not (h1 < 24 and h2 <= 24 and m1 < 60 and m2 < 60):
        raise ValueError("окно отправки пишется как «09:00-18:00»")
    start, end = time(h1, m1), time(23, 59, 59) if h2 == 24 else time(h2, m2)
    if end <= start:
        raise ValueError("конец окна отправки должен быть позже начала")
    return start, end


def parse_days(value) -> frozenset[int]:
    """"mon-fri", "пн-пт", "mon,wed,fri", ["пн", "ср"], "every day" / "ежедневно"."""
    text = ",".join(value) if isinstance(value, list) else str(value)
    text = text.strip().lower()
    if text in ("every day", "daily", "ежедневно", "каждый день", "все"):
        return frozenset(range(7))
    if text in ("будни", "рабочие дни", "weekdays"):
        return frozenset(range(5))
    days: set[int] = set()
    for part in re.split(r"[,\s]+", text):
        if not part:
            continue
        first, dash, last = part.partition("-")
        if first not in DAY_NAMES or (dash and last not in DAY_NAMES):
            raise ValueError("дни пишутся как «пн-пт», «пн,ср,пт», «будни» или «ежедневно»")
        a, b = DAY_NAMES[first], DAY_NAMES[last] if dash else DAY_NAMES[first]
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    if not days:
        raise ValueError("не указано ни одного дня отправки")
    return frozenset(days)


# -- YAML with line numbers --------------------------------------------------------------------


class _Map(dict):
    line = 0


def _load_yaml(path: Path) -> object:
    """YAML whose mappings remember their line, so errors can point at it."""
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise LoadError([f"{where}: файл не читается как YAML ({getattr(exc, 'problem', exc)});"
                         f" проверьте отступы и двоеточия"]) from None

    def build(n):
        if isinstance(n, yaml.MappingNode):
            out = _Map()
            out.line = n.start_mark.line + 1
            for k, v in n.value:
                out[str(build(k))] = build(v)
            return out
        if isinstance(n, yaml.SequenceNode):
            return [build(v) for v in n.value]
        return n.value if n.tag == "tag:yaml.org,2002:str" else scalars.construct_object(n)

    scalars = yaml.SafeLoader("")

    return build(node) if node is not None else None


def load_plan(rules_dir: str | Path, settings) -> Plan:
    """Read ``mailings.yaml`` and ``groups.yaml`` under the rules folder; absent files = empty."""
    problems: list[str] = []
    plan = Plan()
    default_window = Window(*parse_window(settings.outreach.window),
                            parse_days(settings.outreach.days))
    for fname in ("groups.yaml", "mailings.yaml") if str(rules_dir) else ():  # "": no rules
        path = Path(rules_dir) / fname
        if not path.is_file():
            continue
        data = _load_yaml(path)
        if data is None:
            continue
        if not isinstance(data, dict):
            problems.append(f"{path}:1: ожидались разделы «groups:» и «mailings:»")
            continue
        for key in data:
            if key not in ("groups", "mailings"):
                problems.append(f"{path}:{data.line}: неизвестный раздел «{key}»; разделы: "
                                f"groups, mailings")
        for item in _items(data.get("groups"), path, data.line, problems):
            _keep(plan.groups, _group(item, path, problems), "группа", problems)
        for item in _items(data.get("mailings"), path, data.line, problems):
            _keep(plan.mailings, _mailing(item, path, settings, default_window, problems),
                  "рассылка", problems)
    if problems:
        raise LoadError(problems)
    return plan


def _keep(table: dict, spec, what: str, problems: list[str]) -> None:
    if spec is None:
        return
    if spec.name in table:
        problems.append(f"{spec.origin}: {what} «{spec.name}» уже описана в "
                        f"{table[spec.name].origin}; дайте другое имя")
    table[spec.name] = spec


def _items(value, path: Path, line: int, problems: list[str]) -> list[_Map]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, _Map) for v in value):
        problems.append(f"{path}:{line}: ожидался список, каждый элемент начинается с «- name:»")
        return []
    return value


def _check_keys(item: _Map, allowed: tuple[str, ...], path: Path, problems: list[str]) -> None:
    for key in item:
        if key not in allowed:
            problems.append(f"{path}:{item.line}: неизвестный ключ «{key}»; возможные: "
                            f"{', '.join(allowed)}")


def _str_list(value) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _group(item: _Map, path: Path, problems: list[str]) -> GroupSpec | None:
    where = f"{path}:{item.line}"
    _check_keys(item, ("name", "title", "level", "segment", "interests", "where"), path,
                problems)
    name = str(item.get("name") or "").strip()
    if not name:
        problems.append(f"{where}: у группы нет имени; напишите «name: учителя-школ»")
        return None
    level = item.get("level", 2)
    if level not in (1, 2, 3):
        problems.append(f"{where}: уровень группы «{name}» должен быть 1, 2 или 3")
        level = 2
    filters = item.get("where") or {}
    if not isinstance(filters, dict):
        problems.append(f"{where}: «where» группы «{name}» пишется как поле: значение")
        filters = {}
    for key in filters:
        if key not in FILTER_FIELDS:
            problems.append(f"{where}: группа «{name}»: поле «{key}» нельзя проверять; "
                            f"возможные: {', '.join(FILTER_FIELDS)}")
    return GroupSpec(name=name, level=level, segment=str(item.get("segment") or ""),
                     interests=_str_list(item.get("interests")),
                     where={k: _str_list(v) for k, v in filters.items() if k in FILTER_FIELDS},
                     title=str(item.get("title") or ""), origin=where)


def _mailing(item: _Map, path: Path, settings, default_window: Window,
             problems: list[str]) -> MailingSpec | None:
    where = f"{path}:{item.line}"
    _check_keys(item, ("name", "title", "template", "groups", "cron", "at", "window", "days",
                       "grace", "context"), path, problems)
    name = str(item.get("name") or "").strip()
    if not name:
        problems.append(f"{where}: у рассылки нет имени; напишите «name: новости-эб»")
        return None
    template = str(item.get("template") or "").strip()
    if not template:
        problems.append(f"{where}: рассылка «{name}»: не указан шаблон; напишите «template: "
                        f"mailing/news»")
    groups = _str_list(item.get("groups"))
    if not groups:
        problems.append(f"{where}: рассылка «{name}»: не указаны группы; напишите «groups: "
                        f"[учителя-школ]»")
    spec = MailingSpec(name=name, template=template, groups=groups,
                       title=str(item.get("title") or ""), origin=where,
                       grace=settings.outreach.grace, window=default_window,
                       context=dict(item.get("context") or {}))
    cron, at = item.get("cron"), item.get("at")
    if bool(cron) == bool(at):
        problems.append(f"{where}: рассылка «{name}»: укажите ровно одно из «cron: \"0 10 * * "
                        f"mon\"» (повторять) или «at: \"2026-12-01 10:00\"» (один раз)")
    elif cron:
        try:
            CronTrigger.from_crontab(str(cron), timezone=settings.tz)
            spec.cron = str(cron)
        except ValueError as exc:
            problems.append(f"{where}: рассылка «{name}»: расписание «{cron}» не понято ({exc});"
                            f" пять полей: минута час день месяц день-недели, например "
                            f"«0 10 * * mon»")
    else:
        try:
            value = at if isinstance(at, datetime) else datetime.fromisoformat(str(at).strip())
            spec.at = value if value.tzinfo else value.replace(tzinfo=settings.tz)
        except ValueError:
            problems.append(f"{where}: рассылка «{name}»: время «{at}» не понято; пишите "
                            f"«2026-12-01 10:00»")
    try:
        start, end = default_window.start, default_window.end
        if item.get("window"):
            start, end = parse_window(item["window"])
        days = parse_days(item["days"]) if item.get("days") else default_window.days
        spec.window = Window(start, end, days)
    except ValueError as exc:
        problems.append(f"{where}: рассылка «{name}»: {exc}")
    if item.get("grace") is not None:
        try:
            spec.grace = parse_duration(item["grace"])
        except ValueError:
            problems.append(f"{where}: рассылка «{name}»: «grace» пишется как 30m, 2h или 1d")
    return spec

"""The departments directory and the named lists rules refer to.

``rules/departments.yaml`` says who holds which fund and where to write (instruction section 5);
``rules/lists.yaml`` holds named lists of addresses and keywords. Both are librarians' files, so
problems are reported in Russian with file and line, like rule files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mailproc.errors import LoadError
from mailproc.sorting.text import fold


@dataclass(frozen=True)
class Person:
    name: str
    address: str


@dataclass(frozen=True)
class Department:
    key: str
    name: str
    addresses: tuple[str, ...] = ()
    funds: tuple[str, ...] = ()
    persons: tuple[Person, ...] = ()
    deadline_days: int = 2

    @property
    def address(self) -> str:
        """Where mail to the department goes: its first address, else its first person's."""
        if self.addresses:
            return self.addresses[0]
        return self.persons[0].address if self.persons else ""

    def all_addresses(self) -> set[str]:
        return {a.lower() for a in self.addresses} | {p.address.lower() for p in self.persons}


@dataclass
class Directory:
    departments: dict[str, Department] = field(default_factory=dict)
    lod: str = ""  # the ЛОД duty address (digitisation on duty)
    cko: Person | None = None  # the ЦКО responsible for registrations
    lists: dict[str, list[str]] = field(default_factory=dict)
    _by_address: dict[str, Department] = field(default_factory=dict, repr=False)
    _by_fund: dict[str, Department] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for dept in self.departments.values():
            for addr in dept.all_addresses():
                self._by_address.setdefault(addr, dept)
            for code in dept.funds:
                self._by_fund.setdefault(_fund_key(code), dept)

    def keys(self) -> list[str]:
        return list(self.departments)

    def department(self, key: str) -> Department | None:
        return self.departments.get(key)

    def by_address(self, addr: str) -> Department | None:
        return self._by_address.get((addr or "").lower())

    def by_fund(self, code: str) -> Department | None:
        return self._by_fund.get(_fund_key(code))

    def staff_addresses(self) -> set[str]:
        found = set(self._by_address)
        if self.lod:
            found.add(self.lod.lower())
        if self.cko:
            found.add(self.cko.address.lower())
        return found


def _fund_key(code: str) -> str:
    return " ".join(fold(code).replace("ё", "е").split())



def _person(raw: Any) -> Person:
    if not isinstance(raw, dict) or not raw.get("address"):
        raise ValueError("ответственный: нужны name и address")
    return Person(str(raw.get("name", "")), str(raw["address"]).strip().lower())


def load_directory(path: str | Path, lists_path: str | Path | None = None) -> Directory:
    """Read departments.yaml (and lists.yaml beside it); LoadError lists every problem."""
    path = Path(path)
    lists_path = Path(lists_path) if lists_path else path.with_name("lists.yaml")
    problems: list[str] = []
    data = _read(path, problems) if path.exists() else {}
    departments: dict[str, Department] = {}
    for key, raw in (data.get("departments") or {}).items():
        try:
            if not isinstance(raw, dict) or not raw.get("name"):
                raise ValueError("нужно поле name (название отдела по-русски)")
            departments[str(key)] = Department(
                key=str(key), name=str(raw["name"]),
                addresses=tuple(str(a).strip().lower() for a in raw.get("addresses") or ()),
                funds=tuple(str(f) for f in raw.get("funds") or ()),
                persons=tuple(_person(p) for p in raw.get("persons") or ()),
                deadline_days=int(raw.get("deadline_days", data.get("deadline_days", 2))),
            )
        except (ValueError, TypeError) as exc:
            problems.append(f"{_at(path, 'departments', key)}: отдел «{key}»: {exc}")
    cko = None
    if data.get("cko"):
        try:
            cko = _person(data["cko"])
        except ValueError as exc:
            problems.append(f"{_at(path, 'cko')}: cko: {exc}")
    lists: dict[str, list[str]] = {}
    if lists_path.exists():
        for name, items in (_read(lists_path, problems) or {}).items():
            if not isinstance(items, list) or not all(isinstance(i, (str, int)) for i in items):
                problems.append(f"{_at(lists_path, name)}: список «{name}»: напишите элементы списком, "
                                f"каждый с новой строки после «- »")
                continue
            lists[str(name)] = [str(i) for i in items]
    if problems:
        raise LoadError(problems)
    return Directory(departments=departments, lod=str(data.get("lod", "")).strip().lower(),
                     cko=cko, lists=lists)


def _at(path: Path, *keys: str) -> str:
    """``file:line:column`` of the value under ``keys`` (mapping keys, outermost first)."""
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
        for key in keys:
            node = next(v for k, v in node.value if str(k.value) == str(key))
        mark = node.start_mark
        return f"{path}:{mark.line + 1}:{mark.column + 1}"
    except (StopIteration, AttributeError, TypeError, yaml.YAMLError):
        return str(path)


def _read(path: Path, problems: list[str]) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problems.append(f"{where}: ошибка разметки YAML ({getattr(exc, 'problem', exc)}); "
                        f"проверьте отступы и двоеточия")
        return {}
    if not isinstance(data, dict):
        problems.append(f"{path}:1:1: файл должен быть словарём «ключ: значение»")
        return {}
    return data

"""Parameter types of conditions and actions: check what a rule file wrote, compile it once.

A converter turns the YAML value into what the condition or action needs (a compiled regex, a
set of addresses, a Department) and raises ArgError with a Russian message for the librarian:
what is wrong and what to write instead. Converting at load time keeps deciding cheap.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from mailproc.config import parse_size
from mailproc.keywords import TAGS, canonical
from mailproc.sorting.text import KeywordMatcher, fold


class ArgError(ValueError):
    """A wrong argument: ``what`` is wrong, ``hint`` says what to write instead (Russian)."""

    def __init__(self, what: str, hint: str = ""):
        super().__init__(what)
        self.what = what
        self.hint = hint


@dataclass
class Env:
    """What converters check names against."""

    directory: Any = None  # mailproc.sorting.directory.Directory
    templates_dir: Path | None = None


def closest(word: str, names) -> str | None:
    match = difflib.get_close_matches(str(word), list(names), n=1, cutoff=0.5)
    return match[0] if match else None


def _maybe(word: str, names) -> str:
    c = closest(word, names)
    return f"может быть, «{c}»?" if c else ""


def _str(value: Any, env: Env) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        raise ArgError("ожидался текст", "напишите текст, например: «заявление»")
    text = str(value)
    if not text.strip():
        raise ArgError("пустое значение", "напишите непустой текст")
    return text


def _int(value: Any, env: Env) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgError(f"ожидалось целое число, а написано «{value}»", "напишите число, например 2")
    return value


def _bool(value: Any, env: Env) -> bool:
    if not isinstance(value, bool):
        raise ArgError(f"ожидалось да или нет, а написано «{value}»", "напишите true или false")
    return value


def _size(value: Any, env: Env) -> int:
    try:
        return parse_size(value)
    except ValueError:
        raise ArgError(f"непонятный размер «{value}»", "напишите, например, 500KB или 5MB") \
            from None


def _regex(value: Any, env: Env) -> re.Pattern:
    text = _str(value, env)
    try:
        return re.compile(fold(text), re.I)
    except re.error as exc:
        raise ArgError(f"ошибка в регулярном выражении «{text}»: {exc.msg}"
                       + (f" (позиция {exc.pos})" if exc.pos is not None else ""),
                       "проверьте скобки и экранируйте спецсимволы обратной косой чертой, "
                       "например \\. или \\(") from None


def _strs(value: Any, env: Env) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    return tuple(_str(v, env) for v in items)


def _named(value: Any, env: Env, kind: str) -> list[str]:
    """A list written in place, or the name of a list in rules/lists.yaml."""
    if isinstance(value, list):
        return list(_strs(value, env))
    name = _str(value, env)
    lists = getattr(env.directory, "lists", {}) if env.directory is not None else {}
    if name not in lists:
        hint = _maybe(name, lists) or (f"добавьте список «{name}» в rules/lists.yaml "
                                       f"или перечислите {kind} в квадратных скобках")
        raise ArgError(f"нет списка «{name}» в rules/lists.yaml", hint)
    return list(lists[name])


def _keywords(value: Any, env: Env) -> KeywordMatcher:
    return KeywordMatcher(_named(value, env, "слова"))


@dataclass(frozen=True)
class AddressSet:
    exact: frozenset[str]
    globs: tuple[str, ...]

    def __contains__(self, addr: str) -> bool:
        addr = addr.lower()
        return addr in self.exact or any(fnmatch.fnmatchcase(addr, g) for g in self.globs)


def _addresses(value: Any, env: Env) -> AddressSet:
    items = [a.strip().lower() for a in _named(value, env, "адреса")]
    globby = tuple(a for a in items if any(c in a for c in "*?["))
    return AddressSet(frozenset(a for a in items if a not in globby), globby)


def _globs(value: Any, env: Env) -> tuple[str, ...]:
    return tuple(fold(p) for p in _named(value, env, "шаблоны"))


def _glob(value: Any, env: Env) -> str:
    return fold(_str(value, env))


def _department(value: Any, env: Env):
    key = _str(value, env)
    directory = env.directory
    if directory is None:
        return key
    dept = directory.department(key)
    if dept is None:
        raise ArgError(f"неизвестный отдел «{key}»",
                       _maybe(key, directory.keys()) or
                       "ключи отделов перечислены в rules/departments.yaml")
    return dept


def _template(value: Any, env: Env) -> str:
    name = _str(value, env).strip("/")
    if env.templates_dir is None:
        return name
    root = Path(env.templates_dir)
    if not template_exists(root, name):
        known = sorted(template_names(root))
        raise ArgError(f"нет шаблона «{name}» в папке {root}",
                       _maybe(name, known) or "создайте файл шаблона или исправьте имя")
    return name


def template_names(root: Path) -> set[str]:
    names = set()
    if root.is_dir():
        for path in root.rglob("*"):
            if path.is_file() and not path.name.startswith((".", "_")) \
                    and path.name.lower() != "readme.md":
                rel = path.relative_to(root).as_posix()
                names.add(rel.split(".", 1)[0] if "." in path.name else rel)
    return names


def template_exists(root: Path, name: str) -> bool:
    return name in template_names(root)


_FOLDER_BAD = re.compile(r"[\x00-\x1f\x7f*%\"\\]")


def _folder(value: Any, env: Env) -> str:
    name = _str(value, env)
    if name != name.strip() or _FOLDER_BAD.search(name) or name.startswith("/") \
            or name.endswith("/") or "//" in name:
        raise ArgError(f"недопустимое имя папки «{name}»",
                       "имя папки без пробелов по краям, без символов * % \" \\ и без / в начале "
                       "и в конце, например «Вопросы читателей»")
    return name


_KEYWORD_OK = re.compile(r"^\$?[A-Za-z0-9_.-]+$")


def _keyword(value: Any, env: Env) -> str:
    """An IMAP keyword (RFC 3501 atom); mailproc's own may be written by their Russian label
    or former "$" name (mailproc.keywords.canonical)."""
    word = canonical(_str(value, env))
    if not _KEYWORD_OK.match(word):
        raise ArgError(f"недопустимое ключевое слово «{word}»",
                       "ключевое слово IMAP пишется латиницей без пробелов, например question, "
                       "или это метка mailproc по-русски: " + ", ".join(t.label for t in TAGS))
    return word


FAMILIES = ("image", "pdf", "office", "archive", "text", "other")


def _families(value: Any, env: Env) -> frozenset[str]:
    items = _strs(value, env)
    for item in items:
        if item not in FAMILIES:
            raise ArgError(f"неизвестный вид вложения «{item}»",
                           _maybe(item, FAMILIES) or "виды: " + ", ".join(FAMILIES))
    return frozenset(items)


WEEKDAYS = {"пн": 0, "вт": 1, "ср": 2, "чт": 3, "пт": 4, "сб": 5, "вс": 6}


def _weekdays(value: Any, env: Env) -> frozenset[int]:
    out = set()
    for item in _strs(value, env):
        key = fold(item)[:2]
        if key not in WEEKDAYS:
            raise ArgError(f"неизвестный день недели «{item}»", "пишите пн, вт, ср, чт, пт, сб, вс")
        out.add(WEEKDAYS[key])
    return frozenset(out)


_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _time(value: Any, env: Env) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        value = f"{value // 60}:{value % 60:02d}"  # YAML 1.1 reads 9:30 as sexagesimal 570
    m = _TIME.match(str(value).strip())
    if not m:
        raise ArgError(f"непонятное время «{value}»", "напишите время в кавычках: \"09:00\"")
    return int(m.group(1)) * 60 + int(m.group(2))


TYPES: dict[str, tuple[Callable[[Any, Env], Any], str]] = {
    "str": (_str, "текст"),
    "int": (_int, "целое число"),
    "bool": (_bool, "true или false"),
    "size": (_size, "размер, например 5MB"),
    "regex": (_regex, "регулярное выражение"),
    "strs": (_strs, "текст или список"),
    "keywords": (_keywords, "список слов или имя списка из lists.yaml"),
    "addresses": (_addresses, "список адресов или имя списка из lists.yaml"),
    "glob": (_glob, "шаблон имени, например *.pdf"),
    "globs": (_globs, "шаблоны имён списком или имя списка из lists.yaml"),
    "department": (_department, "ключ отдела из departments.yaml"),
    "template": (_template, "имя шаблона, например reader/question_received"),
    "folder": (_folder, "имя папки"),
    "keyword": (_keyword, "ключевое слово IMAP, например question"),
    "families": (_families, "вид вложения: " + ", ".join(FAMILIES)),
    "weekdays": (_weekdays, "дни недели: пн, вт, ..."),
    "time": (_time, "время \"ЧЧ:ММ\""),
}


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    optional: bool

    def convert(self, value: Any, env: Env) -> Any:
        return TYPES[self.type][0](value, env)

    def show(self) -> str:
        return TYPES[self.type][1] + (" (необязательно)" if self.optional else "")


def parse_params(spec: dict[str, str]) -> dict[str, Param]:
    out = {}
    for name, kind in spec.items():
        optional = kind.endswith("?")
        kind = kind.rstrip("?")
        if kind not in TYPES:
            raise ValueError(f"parameter {name}: unknown type {kind!r}")
        out[name] = Param(name, kind, optional)
    return out

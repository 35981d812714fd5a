"""Which column is which: Cyrillic headers of registries and staff lists -> our field names.

Order of authority: the ``--map`` flags, then ``outreach.column_map`` in the settings, then the
built-in aliases, then a guess from the words in the header ("E-mail руководителя" is
``head_email``). Columns nobody recognises are reported, never silently used.
"""

from __future__ import annotations

from mailproc.errors import ConfigError
from mailproc.outreach.normalise import header_key

CONTACT_FIELDS = ("name", "position", "organisation", "email", "phone", "segment", "interests",
                  "consent", "consent_date", "groups")
PERSON_PARTS = ("name", "position", "phone", "email")
ORG_FIELDS = ("organisation", "segment", "contract",
              *(f"head_{p}" for p in PERSON_PARTS), *(f"resp_{p}" for p in PERSON_PARTS))
FIELDS = tuple(dict.fromkeys((*CONTACT_FIELDS, *ORG_FIELDS)))

ALIASES = {
    "name": ["фио", "ф и о", "имя", "контактное лицо", "сотрудник", "фамилия имя отчество",
             "name", "full name"],
    "position": ["должность", "position"],
    "organisation": ["организация", "учреждение", "наименование организации",
                     "наименование учреждения", "наименование", "название организации",
                     "название", "место работы", "organisation", "organization"],
    "email": ["e mail", "email", "e-mail", "эл почта", "электронная почта", "почта",
              "адрес электронной почты", "электронный адрес", "mail"],
    "phone": ["телефон", "тел", "контактный телефон", "мобильный телефон", "phone"],
    "segment": ["сегмент", "сфера деятельности", "сфера", "направление", "тип учреждения",
                "segment"],
    "interests": ["интересы", "информационные интересы", "отрасль знания", "отрасли знания",
                  "interests"],
    "consent": ["согласие", "согласие на рассылку", "согласие на рассылки", "consent"],
    "consent_date": ["дата согласия", "consent date"],
    "groups": ["группа", "группы", "groups"],
    "contract": ["номер договора", "договор", "договор no", "no договора", "договор №",
                 "contract"],
}
_ALIAS_INDEX = {header_key(a): f for f, names in ALIASES.items() for a in names}

_ROW_NUMBER = {"п п", "n", "no", "номер", "номер п п", "no п п", "n п п"}
_PERSON_WORDS = {"head": ("руковод", "директор", "заведующ"),
                 "resp": ("ответствен", "контактн")}
_PART_WORDS = (("email", ("mail", "e", "почт")), ("phone", ("телеф", "тел", "моб")),
               ("position", ("должн",)), ("name", ("фио", "имя", "")))


def parse_map(text: str | list[str]) -> dict[str, str]:
    """'ФИО=name; Почта=email' (or a list of 'H=field') -> {header_key: field}."""
    items = text if isinstance(text, list) else text.split(";")
    out: dict[str, str] = {}
    for item in items:
        if not item.strip():
            continue
        header, eq, field = item.rpartition("=")
        field = field.strip()
        if not eq or not header.strip():
            raise ConfigError(f"сопоставление столбцов «{item.strip()}»: пишите "
                              f"«Заголовок=поле», например «ФИО=name»")
        if field not in FIELDS and field != "-":
            raise ConfigError(f"сопоставление столбцов «{item.strip()}»: поле «{field}» "
                              f"неизвестно; возможные поля: {', '.join(FIELDS)}, "
                              f"или «-», чтобы пропустить столбец")
        out[header_key(header)] = field
    return out


def guess_field(header) -> str | None:
    key = header_key(header)
    if not key:
        return None
    if key in _ALIAS_INDEX:
        return _ALIAS_INDEX[key]
    if key in _ROW_NUMBER:
        return "-"  # a running number: neither data nor worth a warning
    tokens = key.split()
    for who, words in _PERSON_WORDS.items():
        if any(t.startswith(w) for t in tokens for w in words):
            for part, part_words in _PART_WORDS:
                if any(t.startswith(w) or (w == "mail" and w in t)
                       for t in tokens for w in part_words):
                    return f"{who}_{part}"
    for field, names in ALIASES.items():  # "E-mail (рабочий)" and the like
        if any(len(header_key(n)) > 3 and key.startswith(header_key(n)) for n in names):
            return field
    return None


def map_headers(headers: list, explicit: dict[str, str]) -> tuple[dict[int, str], list[str]]:
    """({column index: field}, [unrecognised header]); the first column wins a field."""
    mapping: dict[int, str] = {}
    unknown: list[str] = []
    taken: set[str] = set()
    for i, header in enumerate(headers):
        key = header_key(header)
        field = explicit.get(key) if key in explicit else guess_field(header)
        if field == "-":
            continue
        if field is None or field in taken:
            if key:
                unknown.append(str(header).strip())
            continue
        mapping[i] = field
        taken.add(field)
    return mapping, unknown


def looks_like_header(row: list, explicit: dict[str, str]) -> bool:
    mapping, _ = map_headers(row, explicit)
    fields = set(mapping.values())
    return len(fields) >= 2 and bool(fields & {"email", "head_email", "resp_email", "name",
                                               "organisation"})

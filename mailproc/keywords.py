"""mailproc's own IMAP keywords (the labels it sets on filed mail): the one table naming them.

An IMAP keyword is an atom (RFC 3501 9, ``flag-keyword = atom``): ASCII, no spaces, none of
``( ) { % * " \\ ]``. Russian names cannot be keywords, so mailproc sets short English ones and
the mail clients show them under Russian names: docs/thunderbird-tags.js gives Thunderbird a tag
(name and colour) for each keyword of this table, and docs/guide.ru.md says what Outlook and
webmail show.

The names carry no "$": "$" names are meant for keywords whose meaning all clients share,
registered with IANA (RFC 5788: $Forwarded, $MDNSent, $Junk ...), and Thunderbird shows a keyword
as a tag only when a tag is defined for it. Earlier releases set ``$Registration``, ``$Order``
...; messages filed then keep them (nothing rewrites old mail), and rule files that still say ``add-keyword:
$Order`` set ``order`` now (``canonical``).

A rule may also name a keyword by its Russian label (``add-keyword: Заказ``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tag:
    keyword: str  # on the wire; lower case, as Thunderbird keeps its tag keys
    label: str  # what the librarians see in Thunderbird
    colour: str  # Thunderbird's tag colour, #RRGGBB
    legacy: str  # the "$" keyword earlier releases set


REGISTRATION = Tag("registration", "Регистрация", "#2E7D32", "$Registration")
ORDER = Tag("order", "Заказ", "#1565C0", "$Order")
QUESTION = Tag("question", "Вопрос", "#EF6C00", "$Question")
DEPARTMENT = Tag("department", "Ответ отдела", "#6A1B9A", "$Department")
AUTOMATIC = Tag("automatic", "Автоматическое", "#757575", "$Automatic")
BOUNCE = Tag("bounce", "Недоставленное", "#C62828", "$Bounce")

#: every keyword mailproc itself or its shipped rules set
TAGS: tuple[Tag, ...] = (REGISTRATION, ORDER, QUESTION, DEPARTMENT, AUTOMATIC, BOUNCE)

_BY_NAME = {name.casefold(): tag.keyword for tag in TAGS
            for name in (tag.keyword, tag.label, tag.legacy)}


def canonical(word: str) -> str:
    """The keyword to set for ``word`` as a rule writes it: mailproc's own by its name, its
    Russian label or its former "$" name; any other word unchanged."""
    return _BY_NAME.get(word.strip().casefold(), word)


_SNIPPET_HEAD = """\
// Теги Thunderbird для меток, которые ставит mailproc (docs/guide.ru.md, раздел 1).
// Каждая метка mailproc (ключевое слово IMAP латиницей) показывается тегом с русским
// названием и цветом. Как установить: положите этот файл в папку профиля Thunderbird под
// именем user.js (или допишите строки в конец имеющегося user.js) и перезапустите
// Thunderbird; либо задайте те же параметры в редакторе настроек (Настройки — Основные —
// Редактор настроек). Названия и цвета потом меняют в Thunderbird (Настройки — Основные —
// Теги), удалив перед этим user.js: иначе он вернёт их при каждом запуске.
// Файл создан из mailproc/keywords.py (thunderbird_prefs).
"""


def thunderbird_prefs() -> str:
    """docs/thunderbird-tags.js: a user.js with a Thunderbird tag (``mailnews.tags.<key>.tag``
    and ``.color``) for every keyword of ``TAGS``."""
    lines = [_SNIPPET_HEAD]
    for tag in TAGS:
        lines.append(f'user_pref("mailnews.tags.{tag.keyword}.tag", "{tag.label}");\n'
                     f'user_pref("mailnews.tags.{tag.keyword}.color", "{tag.colour}");\n')
    return "\n".join(lines)

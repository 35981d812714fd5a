"""Russian names for the keys the figures use (states, kinds, answerers)."""

from __future__ import annotations

from mailproc.orders.states import TITLES as ORDER_STATES

REGISTRATION_STATES = {
    "incomplete": "не хватает документов", "complete": "документы собраны",
    "handed": "передано в ЦКО", "card_issued": "билет выдан", "rejected": "отклонено",
    "withdrawn": "отозвано",
}
QUESTION_STATES = {"new": "ждёт ответа", "drafted": "ответ в черновиках",
                   "routed": "передан в отдел", "answered": "отвечен"}
ANSWERERS = {"ready": "готовым ответом", "department": "отделом", "librarian": "библиотекарем"}
NEED_KINDS = {"digitise": "оцифровать издание", "section": "раздел электронной библиотеки",
              "subscription": "подписной ресурс"}
MAILING_STATUSES = {"sent": "отправлено", "bounced": "вернулось", "failed": "не ушло",
                    "queued": "в очереди", "planned": "запланировано", "skipped": "пропущено"}

#: fixed colours where a colour means something: done green, trouble red/orange, grey for ends
STATUS_COLOURS = {"delivered": "#3a9a5b", "sent": "#3a9a5b", "cancelled": "#7f8c8d",
                  "cannot_fulfil": "#c0392b", "failed": "#c0392b", "overdue": "#c0392b",
                  "bounced": "#e07b39", "requested": "#2f6ea5", "skipped": "#7f8c8d"}


def name(table: dict[str, str], key: str) -> str:
    return table.get(key, key or "(не указано)")


def department_names(settings) -> dict[str, str]:
    """Department key -> Russian name from rules/departments.yaml; {} when it cannot be read
    (a report must not fail because a librarian is midway through editing that file)."""
    from pathlib import Path

    from mailproc.errors import LoadError
    from mailproc.sorting.directory import load_directory

    try:
        directory = load_directory(Path(settings.paths.rules) / "departments.yaml")
    except (LoadError, OSError):
        return {}
    return {key: d.name for key, d in directory.departments.items()}


def topic_names(settings) -> dict[str, str]:
    """Ready-answer key -> its title from rules/answers.yaml; {} when it cannot be read."""
    from mailproc.errors import LoadError
    from mailproc.questions.service import answer_book

    try:
        book = answer_book(settings)
    except (LoadError, OSError):
        return {}
    return {t.key: t.title for t in (*book.answers, *book.routes) if t.title}


def names_from_rules(settings) -> dict[str, dict[str, str]]:
    """What the report shows instead of keys: department and topic names."""
    return {"departments": department_names(settings), "topics": topic_names(settings)}


__all__ = ["ORDER_STATES", "REGISTRATION_STATES", "QUESTION_STATES", "ANSWERERS", "NEED_KINDS",
           "MAILING_STATUSES", "STATUS_COLOURS", "name", "department_names", "topic_names",
           "names_from_rules"]

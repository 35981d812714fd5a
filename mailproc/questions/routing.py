"""Which department a question goes to, when it is due, and how ready answers go out.
Pure functions: no database, no mail."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from mailproc.questions.book import AnswerBook, Topic
from mailproc.questions.matcher import Verdict


def department_for(book: AnswerBook, verdict: Verdict) -> str:
    """The department key a routed verdict names, "" otherwise."""
    if verdict.outcome != "route":
        return ""
    route = book.route(verdict.key)
    return route.department if route else ""


def parse_modes(text: str) -> dict[str, str]:
    """"temporary-access=send, litres=draft" -> {"temporary-access": "send", ...}"""
    out = {}
    for item in (text or "").replace(";", ",").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip() and value.strip().lower() in ("send", "draft"):
            out[key.strip()] = value.strip().lower()
    return out


def mode_for(settings, topic: Topic) -> str:
    """send or draft: the per-answer override, else the default mode, else the answer's own."""
    q = settings.questions
    return parse_modes(q.answer_modes).get(topic.key) or q.default_mode or topic.mode


def due_at(routed_at: datetime, deadline_days: int, tz: ZoneInfo,
           override_seconds: float = 0.0) -> datetime:
    """When a department's answer is due: ``deadline_days`` working days (Monday to Friday in
    the library's time zone) after routing, or a fixed duration when one is configured."""
    if override_seconds:
        return routed_at + timedelta(seconds=override_seconds)
    local = routed_at.astimezone(tz)
    left = max(0, deadline_days)
    while left:
        local += timedelta(days=1)
        if local.weekday() < 5:
            left -= 1
    return local.astimezone(routed_at.tzinfo)

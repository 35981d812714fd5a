"""Logging: text on a terminal, JSON lines elsewhere (journald, files).

Log lines carry ids (message row ids, case ids, tokens), never names, addresses, phones or
card numbers; ``redact`` is the last line of defence for free text that must be logged.

Repeated identical warnings (an outage retried every second: "Sent copy failed", "database
failing") are rate-limited by ``RepeatFilter``: the first occurrence is logged, the same line
again within ``REPEAT_WINDOW`` seconds only counted, and a summary "(repeated N times in the
last 60 s)" logged when the next one comes after the window, or by ``flush_repeats`` (the
daemon calls it every second) once the window has passed.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from datetime import datetime, timezone

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_PHONE = re.compile(r"(?<!\d)(\+7|8)?[\s(-]*\d{3}[\s)-]*\d{3}[\s-]*\d{2}[\s-]*\d{2}(?!\d)")


def redact(text: str) -> str:
    """Mask e-mail addresses and phone numbers in free text."""
    return _PHONE.sub("[phone]", _EMAIL.sub("[address]", text))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


#: seconds in which an identical warning is counted instead of logged again
REPEAT_WINDOW = 60.0
#: distinct lines tracked at most (the oldest are forgotten)
REPEAT_KEYS = 1000


class RepeatFilter(logging.Filter):
    """Lets the first of identical WARNING-or-worse lines through, counts the rest for
    ``window`` seconds, then logs one summary with the count (see the module docstring)."""

    def __init__(self, window: float = REPEAT_WINDOW, clock=time.monotonic):
        super().__init__()
        self.window = window
        self.clock = clock
        self._seen: dict[tuple, list] = {}  # key -> [window start, suppressed count]
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or getattr(record, "repeat_summary", False):
            return True
        key = (record.name, record.levelno, record.getMessage())
        now = self.clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen[0] < self.window:
                seen[1] += 1
                return False
            if seen is not None and seen[1]:
                record.msg, record.args = "%s (repeated %d times in the last %d s)", (
                    key[2], seen[1] + 1, round(now - seen[0]))
            self._seen[key] = [now, 0]
            if len(self._seen) > REPEAT_KEYS:
                self._seen.pop(next(iter(self._seen)))
        return True

    def flush(self) -> None:
        """A summary for every line whose window has passed with repeats counted."""
        now = self.clock()
        with self._lock:
            due = [(k, v) for k, v in self._seen.items() if now - v[0] >= self.window]
            for k, _v in due:
                del self._seen[k]
        for (name, level, text), (start, count) in due:
            if count:
                logging.getLogger(name).log(level, "%s (repeated %d times in the last %d s)",
                                            text, count, round(now - start),
                                            extra={"repeat_summary": True})


def flush_repeats() -> None:
    """Summaries of repeated lines whose window has passed (every handler's filter)."""
    for handler in logging.getLogger().handlers:
        for f in handler.filters:
            if isinstance(f, RepeatFilter):
                f.flush()


def setup_logging(log_settings, stream=None) -> None:
    stream = stream or sys.stderr
    fmt = log_settings.format
    if fmt == "auto":
        fmt = "text" if stream.isatty() else "json"
    handler = logging.StreamHandler(stream)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(log_settings.level.upper())

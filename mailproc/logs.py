"""Logging: text on a terminal, JSON lines elsewhere (journald, files).

Log lines carry ids (message row ids, case ids, tokens), never names, addresses, phones or
card numbers; ``redact`` is the last line of defence for free text that must be logged.

Repeated identical warnings (an outage retried every second: "Sent copy failed", "database
failing") are rate-limited by ``RepeatFilter``: the first occurrence is logged, the same line
again within ``REPEAT_WINDOW`` seconds only counted, and a summary "(repeated N times in the
last 60 s)" logged when the next one comes after the window, or by ``flush_repeats`` (the
daemon calls it every second) once the window has passed.

Under systemd (stderr connected to the journal: ``JOURNAL_STREAM`` names it, see
systemd.exec(5), or ``log.journal = "yes"``) every line starts with its syslog priority in the
sd-daemon(3) form ``<3>`` (error), ``<4>`` (warning), ``<6>`` (info), ``<7>`` (debug):
journald strips the prefix and records the priority, so ``journalctl -p warning`` filters.
No binding to libsystemd is needed (the python3-systemd JournalHandler would do the same with
a hard dependency).

The ids a line is about (``message_pk``: the message row; ``uid``: the IMAP UID; ``order`` and
``case``: the case tokens librarians see; ``outbox``: the outbox row) are separate fields of a
JSON line, from ``extra=about(...)`` at the call or from ``log_ids(...)`` around the work (the
intake names the UID of the message it is processing), so ``jq 'select(.order == "2026-00004")'``
finds every line of one order.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_PHONE = re.compile(r"(?<!\d)(\+7|8)?[\s(-]*\d{3}[\s)-]*\d{3}[\s-]*\d{2}[\s-]*\d{2}(?!\d)")


def redact(text: str) -> str:
    """Mask e-mail addresses and phone numbers in free text."""
    return _PHONE.sub("[phone]", _EMAIL.sub("[address]", text))


#: the ids a line may carry as fields of their own (see the module docstring)
ID_FIELDS = ("message_pk", "uid", "order", "case", "outbox")

_CONTEXT: contextvars.ContextVar[dict] = contextvars.ContextVar("mailproc_log_ids", default={})


def about(**given) -> dict:
    """``extra=`` for a log call: the ids given, the empty ones left out."""
    unknown = set(given) - set(ID_FIELDS)
    if unknown:
        raise ValueError(f"not a log id field: {', '.join(sorted(unknown))}")
    return {k: v for k, v in given.items() if v is not None and v != ""}


@contextlib.contextmanager
def log_ids(**given) -> Iterator[None]:
    """Every line logged inside (this thread or task) carries these ids too."""
    token = _CONTEXT.set({**_CONTEXT.get(), **about(**given)})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def record_ids(record: logging.LogRecord) -> dict:
    """The ids of a line: those around it (``log_ids``), then its own (``extra``)."""
    found = dict(_CONTEXT.get())
    for name in ID_FIELDS:
        value = getattr(record, name, None)
        if value is not None and value != "":
            found[name] = value
    return found


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **record_ids(record),
        }
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Time, level, logger, text; then the ids of the work around the line (``log_ids``)
    that its text does not name already, as ``[uid=17]``."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # before a traceback
        line = super().formatMessage(record)
        around = [f"{k}={v}" for k, v in _CONTEXT.get().items() if str(v) not in record.message]
        return f"{line} [{' '.join(around)}]" if around else line


def syslog_priority(levelno: int) -> int:
    """The syslog priority (RFC 5424 6.2.1, sd-daemon(3) SD_ERR ...) of a logging level."""
    if levelno >= logging.CRITICAL:
        return 2
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    if levelno >= logging.INFO:
        return 6
    return 7


class JournalPrefix(logging.Formatter):
    """Wraps a formatter: ``<N>`` before every line it writes (a traceback in a text line
    spans several, and journald takes each line as an entry of its own)."""

    def __init__(self, inner: logging.Formatter):
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in self.inner.format(record).split("\n"))


def journal_stream(stream) -> bool:
    """Is ``stream`` the journal? systemd sets JOURNAL_STREAM to ``DEVICE:INODE`` of the
    stream it connected (systemd.exec(5)); a child whose stderr was redirected inherits the
    variable, so the stream's own device and inode must match."""
    value = os.environ.get("JOURNAL_STREAM", "")
    try:
        dev, ino = (int(x) for x in value.split(":"))
        st = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError, TypeError):
        return False
    return (st.st_dev, st.st_ino) == (dev, ino)


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
        formatter: logging.Formatter = JsonFormatter()
    else:
        formatter = TextFormatter()
    journal = getattr(log_settings, "journal", "auto")
    if journal == "yes" or (journal == "auto" and journal_stream(stream)):
        formatter = JournalPrefix(formatter)
    handler.setFormatter(formatter)
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(log_settings.level.upper())

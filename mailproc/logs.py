"""Logging: text on a terminal, JSON lines elsewhere (journald, files).

Log lines carry ids (message row ids, case ids, tokens), never names, addresses, phones or
card numbers; ``redact`` is the last line of defence for free text that must be logged.
"""

from __future__ import annotations

import json
import logging
import re
import sys
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
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(log_settings.level.upper())

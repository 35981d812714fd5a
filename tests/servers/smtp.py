"""A recording SMTP server for tests (aiosmtpd) on a free loopback port.

Public API (other helpers use it):

- ``SmtpServer()`` / ``.start()`` / ``.stop()``; ``host``, ``port``, ``url``
  (``smtp://127.0.0.1:PORT``); a context manager.
- ``.messages``: every message accepted, in order, as ``Received(mail_from, rcpt_tos, raw)``
  with ``.message`` (an ``email.message.EmailMessage``); ``.clear()``;
  ``.wait_for(n, timeout)`` until ``n`` messages arrived.
- Refusals on demand:
  ``.refuse_all("421 4.3.2 Service not available", seconds=5)`` answers MAIL FROM with that
  reply for a time window (``seconds=None``: until ``.accept_all()``);
  ``.refuse_rcpt("bad@x", "550 5.1.1 No such user", times=None)`` refuses one recipient
  (``times=N``: only the next N times, e.g. a 451 greylisting that then passes);
  ``.refuse_data("451 4.3.0 Try later", times=1)`` answers the end of DATA.
- the pytest fixture ``smtp_server`` (function scope) yields a started server.

Nothing here mocks SMTP: the client under test talks real SMTP over TCP.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    at: float = field(default_factory=time.time)

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)


class _Handler:
    def __init__(self, server: "SmtpServer"):
        self.server = server

    async def handle_MAIL(self, srv, session, envelope, address, mail_options):
        reply = self.server._outage_reply()
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, srv, session, envelope, address, rcpt_options):
        reply = self.server._take(self.server._rcpt_rules, address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, srv, session, envelope):
        reply = self.server._take(self.server._data_rules, "*")
        if reply:
            return reply
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        with self.server._lock:
            self.server.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                                 raw))
            self.server._cond.notify_all()
        return "250 2.0.0 Message accepted for delivery"


class SmtpServer:
    def __init__(self, host: str = "127.0.0.1", port: int | None = None):
        self.host = host
        self.port = port or free_port()
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._outage: tuple[str, float | None] | None = None
        self._rcpt_rules: dict[str, list] = {}
        self._data_rules: dict[str, list] = {}
        self.refused = 0  # answers given by refusal rules
        self.controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def start(self) -> "SmtpServer":
        self.controller = Controller(_Handler(self), hostname=self.host, port=self.port,
                                     data_size_limit=200 * 1024 * 1024, enable_SMTPUTF8=True,
                                     ready_timeout=10)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- refusals ---------------------------------------------------------------------------

    def refuse_all(self, reply: str = "421 4.3.2 Service not available, try later",
                   seconds: float | None = None) -> None:
        with self._lock:
            self._outage = (reply, time.monotonic() + seconds if seconds is not None else None)

    def accept_all(self) -> None:
        with self._lock:
            self._outage = None

    def refuse_rcpt(self, address: str, reply: str = "550 5.1.1 No such user",
                    times: int | None = None) -> None:
        with self._lock:
            self._rcpt_rules[address.lower()] = [reply, times]

    def refuse_data(self, reply: str = "451 4.3.0 Try again later", times: int | None = 1) -> None:
        with self._lock:
            self._data_rules["*"] = [reply, times]

    def _outage_reply(self) -> str | None:
        with self._lock:
            if self._outage is None:
                return None
            reply, until = self._outage
            if until is not None and time.monotonic() >= until:
                self._outage = None
                return None
            self.refused += 1
            return reply

    def _take(self, rules: dict[str, list], key: str) -> str | None:
        with self._lock:
            rule = rules.get(key)
            if rule is None:
                return None
            reply, times = rule
            if times is not None:
                if times <= 0:
                    del rules[key]
                    return None
                rule[1] = times - 1
            self.refused += 1
            return reply

    # -- what arrived -----------------------------------------------------------------------

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    def wait_for(self, n: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return list(self.messages)


@pytest.fixture
def smtp_server():
    with SmtpServer() as server:
        yield server


def outbound_settings(data_dir, smtp_url: str, **sections):
    """Settings for a mailproc that sends to ``smtp_url`` with its data (database, blobs,
    Maildir for Sent copies) under ``data_dir`` and the shipped templates; ``sections``
    override more, e.g. ``outbox={"retry_backoff": 0.2}``."""
    from pathlib import Path

    from mailproc.config import load_settings

    root = Path(__file__).resolve().parents[2]
    overrides = {
        "paths": {"data": str(data_dir), "templates": str(root / "templates")},
        "smtp": {"url": smtp_url},
        "mailbox": {"url": f"maildir:{data_dir}/Maildir"},
        "database": {"url": f"sqlite:///{data_dir}/mailproc.sqlite3"},
    }
    for section, values in sections.items():
        overrides.setdefault(section, {}).update(values)
    return load_settings(environ={},
                         overrides=overrides)

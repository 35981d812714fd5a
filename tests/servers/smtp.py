"""A recording SMTP server for tests (aiosmtpd) on a free loopback port.

Public API (other helpers use it):

- ``SmtpServer()`` / ``.start()`` / ``.stop()``; ``host``, ``port``, ``url``
  (``smtp://127.0.0.1:PORT``, ``smtps://`` with ``tls="implicit"``); a context manager.
- ``SmtpServer(pipelining=True)`` advertises PIPELINING in its EHLO reply (RFC 2920; aiosmtpd
  reads pipelined commands correctly but does not say so); ``tls="starttls"`` offers STARTTLS,
  ``tls="implicit"`` speaks TLS from the first byte (a self-signed certificate: clients must
  not verify it).
- ``.messages``: every message accepted, in order, as ``Received(mail_from, rcpt_tos, raw)``
  with ``.message`` (an ``email.message.EmailMessage``), ``.tls`` (it came over TLS) and
  ``.pipelined`` (when MAIL FROM arrived, more commands were already behind it: the client
  did not wait for the reply); ``.clear()``; ``.wait_for(n, timeout)`` until ``n`` messages
  arrived; ``.quits``: the ``peer`` of every connection that ended with QUIT (any other was
  cut: the cluster drill tells a kill between "." and the 250 from a repeat by that).
- Refusals on demand:
  ``.refuse_all("421 4.3.2 Service not available", seconds=5)`` answers MAIL FROM with that
  reply for a time window (``seconds=None``: until ``.accept_all()``);
  ``.refuse_rcpt("bad@x", "550 5.1.1 No such user", times=None)`` refuses one recipient
  (``times=N``: only the next N times, e.g. a 451 greylisting that then passes);
  ``.refuse_data("451 4.3.0 Try later", times=1)`` answers the end of DATA;
  ``.drop_at("RCPT" | "DATA", times=1, after=0)`` closes the connection without a reply
  when a RCPT arrives, or when a message's data ended (it is not delivered), ``after``
  seconds of silence (longer than the client's timeout: a server that stopped answering).
- ``SmtpServer(data_despite_refusals=True)`` answers DATA with 354 even when every RCPT was
  refused (RFC 2920 3.1 tells clients to expect it), then refuses the empty message with 554;
  ``.empty_data`` holds the data of each such transaction (a compliant client sends only the
  lone ".", so ``b""``).
- the pytest fixture ``smtp_server`` (function scope) yields a started server.

Nothing here mocks SMTP: the client under test talks real SMTP over TCP.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import ssl
import tempfile
import threading
import time
from pathlib import Path
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
    tls: bool = False
    pipelined: bool = False
    peer: tuple = ()  # the client's (address, port): one per connection

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)


class _Handler:
    def __init__(self, server: "SmtpServer"):
        self.server = server

    async def handle_EHLO(self, srv, session, envelope, hostname, responses):
        session.host_name = hostname  # what aiosmtpd does itself when no hook is set
        if self.server.pipelining:
            responses.insert(-1, "250-PIPELINING")  # before the last line, "250 HELP"
        return responses

    async def handle_QUIT(self, srv, session, envelope):
        with self.server._lock:
            self.server.quits.add(tuple(session.peer))  # this connection ended cleanly
        return "221 Bye"

    async def handle_MAIL(self, srv, session, envelope, address, mail_options):
        reply = self.server._outage_reply()
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        # the client's next commands already waiting unread: it did not wait for this reply
        envelope.pipelined = bool(srv._reader._buffer)
        return "250 OK"

    async def handle_RCPT(self, srv, session, envelope, address, rcpt_options):
        if await self._drop(srv, "RCPT"):
            return "250 OK"  # never written: the connection is closed
        reply = self.server._take(self.server._rcpt_rules, address.lower())
        if reply:
            if self.server.data_despite_refusals:  # listed so that DATA gets a 354
                envelope.rcpt_tos.append(address)
                envelope.refused = getattr(envelope, "refused", set()) | {address}
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def _drop(self, srv, command: str) -> bool:
        rule = self.server._take(self.server._drop_rules, command)
        if rule is None:
            return False
        await asyncio.sleep(rule)  # the client waits for a reply meanwhile
        srv.transport.close()
        return True

    async def handle_DATA(self, srv, session, envelope):
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        refused = getattr(envelope, "refused", set())
        rcpt_tos = [r for r in envelope.rcpt_tos if r not in refused]
        if not rcpt_tos:
            self.server.empty_data.append(raw)
            return "554 5.5.1 Error: no valid recipients"
        if await self._drop(srv, "DATA"):
            return "250 OK"  # never written: the connection is closed
        reply = self.server._take(self.server._data_rules, "*")
        if reply:
            return reply
        with self.server._lock:
            self.server.messages.append(Received(
                envelope.mail_from, rcpt_tos, raw,
                tls=srv.transport.get_extra_info("ssl_object") is not None,
                pipelined=getattr(envelope, "pipelined", False), peer=tuple(session.peer)))
            self.server._cond.notify_all()
        return "250 2.0.0 Message accepted for delivery"


def _server_tls_context() -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for 127.0.0.1."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    with tempfile.TemporaryDirectory() as tmp:
        pem = Path(tmp) / "server.pem"
        pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pem)
    return context


class SmtpServer:
    def __init__(self, host: str = "127.0.0.1", port: int | None = None, *,
                 pipelining: bool = False, tls: str | None = None,
                 data_despite_refusals: bool = False):
        if tls not in (None, "starttls", "implicit"):
            raise ValueError(f"tls={tls!r}: None, 'starttls' or 'implicit'")
        self.host = host
        self.port = port or free_port()
        self.pipelining, self.tls = pipelining, tls
        self.data_despite_refusals = data_despite_refusals
        self.messages: list[Received] = []
        #: the peers (connections) that sent QUIT; any other connection was cut
        self.quits: set[tuple] = set()
        self.empty_data: list[bytes] = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._outage: tuple[str, float | None] | None = None
        self._rcpt_rules: dict[str, list] = {}
        self._data_rules: dict[str, list] = {}
        self._drop_rules: dict[str, list] = {}
        self.refused = 0  # answers given by refusal rules
        self.controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"{'smtps' if self.tls == 'implicit' else 'smtp'}://{self.host}:{self.port}"

    def start(self) -> "SmtpServer":
        tls = {}
        if self.tls == "starttls":
            tls = {"tls_context": _server_tls_context()}
        elif self.tls == "implicit":
            tls = {"ssl_context": _server_tls_context()}
        self.controller = Controller(_Handler(self), hostname=self.host, port=self.port,
                                     data_size_limit=200 * 1024 * 1024, enable_SMTPUTF8=True,
                                     ready_timeout=10, **tls)
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

    def drop_at(self, command: str, times: int | None = 1, after: float = 0.0) -> None:
        if command not in ("RCPT", "DATA"):
            raise ValueError(f"drop_at({command!r}): 'RCPT' or 'DATA'")
        with self._lock:
            self._drop_rules[command] = [after, times]

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
            self.empty_data.clear()
            self.quits.clear()

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

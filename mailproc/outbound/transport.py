"""Where messages go: an SMTP server (aiosmtplib) or a local folder of .eml files.

Only this module and ``pipelining`` speak SMTP. aiosmtplib connects, negotiates TLS, says EHLO
and logs in; when the server offers PIPELINING (RFC 2920) the mail transactions then go through
``pipelining.PipelinedSession`` on the same connection (one round trip for the envelope, see
there), otherwise through aiosmtplib, one command at a time.

Every failure becomes one of the two exception families the sender acts on (RFC 5321 4.2.1):
4xx replies, timeouts and lost connections are ``TemporaryDeliveryError`` (retry later), 5xx
are ``PermanentDeliveryError`` (stop). A recipient refused by RCPT is not an exception: it is
reported per recipient in the result, because the others may still be accepted in the same
transaction. A 421 (the server is closing, RFC 5321 3.8) anywhere is temporary for the whole
message, and the connection is dropped.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aiosmtplib
from aiosmtplib.email import quote_address

from mailproc.config import redact
from mailproc.errors import ConfigError, PermanentDeliveryError, TemporaryDeliveryError
from mailproc.outbound.pipelining import ACCEPTED, PipelinedSession, ReplyError


@dataclass
class SendResult:
    accepted: list[str] = field(default_factory=list)
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)  # address: (code, text)
    answer: str = ""  # the server's reply to DATA


class SmtpConnection:
    """One reusable SMTP session; reconnects on demand after the server closed it."""

    def __init__(self, host: str, port: int, *, use_tls: bool, username: str = "",
                 password: str = "", timeout: float = 60.0, tls_verify: bool = True):
        self.host, self.port = host, port
        self.use_tls, self.username, self.password = use_tls, username, password
        self.timeout, self.tls_verify = timeout, tls_verify
        self.smtp: aiosmtplib.SMTP | None = None
        self.piped: PipelinedSession | None = None  # set when the server offers PIPELINING

    @property
    def pipelining(self) -> bool:
        return self.piped is not None

    async def _connect(self) -> aiosmtplib.SMTP:
        if self.smtp is not None and self.smtp.is_connected and (
                self.piped is None or self.piped.usable):
            return self.smtp
        self.close()
        smtp = aiosmtplib.SMTP(hostname=self.host, port=self.port, timeout=self.timeout,
                               use_tls=self.use_tls, start_tls=None if not self.use_tls else False,
                               validate_certs=self.tls_verify)
        await smtp.connect()
        try:
            if smtp.is_ehlo_or_helo_needed:
                # after STARTTLS, and on implicit TLS, aiosmtplib leaves EHLO to its own
                # mail()/rcpt(); our commands need it said first (RFC 3207 4.2: the answer
                # before TLS no longer counts), and its answer says whether PIPELINING is there
                try:
                    await smtp.ehlo()
                except aiosmtplib.SMTPHeloError:
                    await smtp.helo()
            if self.username:
                await smtp.login(self.username, self.password)
        except BaseException:
            smtp.close()
            raise
        if smtp.supports_extension("pipelining"):
            self.piped = PipelinedSession(smtp.transport, self.timeout)
        self.smtp = smtp
        return smtp

    async def send(self, sender: str, recipients: list[str], raw: bytes) -> SendResult:
        """One SMTP transaction: MAIL, RCPT for each recipient, DATA when any was accepted."""
        mail_from, rcpt_to = _path(sender), [_path(r) for r in recipients]
        result = SendResult()
        try:
            smtp = await self._connect()
            if self.piped is not None:
                replies, final = await self.piped.transaction(mail_from, rcpt_to, raw)
                for rcpt, reply in zip(recipients, replies):
                    if reply.code in ACCEPTED:
                        result.accepted.append(rcpt)
                    else:
                        result.refused[rcpt] = (reply.code, reply.text)
                if final is not None:
                    result.answer = str(final)
                return result
            await _command(smtp, b"MAIL", b"FROM:" + mail_from, (250,))
            for rcpt, path in zip(recipients, rcpt_to):
                try:
                    await _command(smtp, b"RCPT", b"TO:" + path, ACCEPTED)
                    result.accepted.append(rcpt)
                except aiosmtplib.SMTPResponseException as exc:
                    if exc.code == 421:
                        raise
                    result.refused[rcpt] = (exc.code, exc.message)
            if not result.accepted:
                await smtp.rset()
                return result
            response = await smtp.data(raw)
            result.answer = f"{response.code} {response.message}"
            return result
        except (aiosmtplib.SMTPResponseException, ReplyError) as exc:
            if exc.code == 421:
                self.close()
            else:
                await self._reset()
            text = f"{exc.code} {exc.message}"
            if 500 <= exc.code < 600:
                raise PermanentDeliveryError(text) from None
            raise TemporaryDeliveryError(text) from None
        except (aiosmtplib.SMTPException, asyncio.TimeoutError, OSError) as exc:
            self.close()
            raise TemporaryDeliveryError(f"{type(exc).__name__}: {exc}") from None
        except asyncio.CancelledError:
            self.close()  # cancelled mid-command: the session's state is unknown
            raise

    async def _reset(self) -> None:
        """Leave the session clean for the next message (RSET), or drop it."""
        try:
            if self.piped is not None:
                await self.piped.rset()
            elif self.smtp is not None and self.smtp.is_connected:
                await self.smtp.rset()
        except (aiosmtplib.SMTPException, ReplyError, asyncio.TimeoutError, OSError):
            self.close()

    def close(self) -> None:
        if self.piped is not None:
            self.piped.close()
            self.piped = None
        if self.smtp is not None:
            self.smtp.close()
            self.smtp = None

    async def quit(self) -> None:
        if self.piped is not None:
            await self.piped.quit()
        elif self.smtp is not None and self.smtp.is_connected:
            try:
                await self.smtp.quit()
            except (aiosmtplib.SMTPException, asyncio.TimeoutError, OSError):
                pass
        self.close()


#: an addr-spec that needs no quoting and no SMTPUTF8 (RFC 5321 4.1.2 Mailbox, dot-atoms only)
_PLAIN = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+")
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")


def _path(address: str) -> bytes:
    """``<address>`` for MAIL FROM and RCPT TO (RFC 5321 4.1.2). The outbox holds addresses
    already parsed and checked, so the common plain one is written as it is: parsing it again
    with ``email.utils`` (what aiosmtplib's ``mail``/``rcpt`` do) cost more per message than
    the rest of the SMTP conversation. Anything else goes through aiosmtplib's quoting, as
    before; one that still is not plain ASCII, or holds a control character (a command
    injection), cannot be sent without SMTPUTF8, which we do not use: a permanent failure."""
    if _PLAIN.fullmatch(address):
        return b"<" + address.encode() + b">"
    try:
        path = quote_address(address).encode("ascii")
    except UnicodeEncodeError:
        path = None
    if path is None or _CONTROL.search(path):
        raise PermanentDeliveryError(
            "адрес нельзя передать по SMTP: в нём символы не из ASCII или управляющие")
    return path


async def _command(smtp: aiosmtplib.SMTP, verb: bytes, arg: bytes, ok: tuple[int, ...]) -> None:
    """MAIL or RCPT on aiosmtplib (servers without PIPELINING): a reply not in ``ok``
    raises, as aiosmtplib's own ``mail``/``rcpt`` would."""
    response = await smtp.execute_command(verb, arg)
    if response.code not in ok:
        raise aiosmtplib.SMTPResponseException(response.code, response.message)


class FileConnection:
    """``file:PATH``: each message becomes PATH/<id>.eml, written atomically (temporary
    name, then rename), so a reader of the folder never sees half a message."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    async def send_file(self, row_id: int, recipients: list[str], raw: bytes) -> SendResult:
        from mailproc.private import private_dir, write_private

        private_dir(self.folder, narrow=False)
        final = write_private(self.folder / f"{row_id}.eml", raw)  # it may carry documents
        return SendResult(accepted=list(recipients), answer=f"written {final.name}")

    def close(self) -> None:
        pass

    async def quit(self) -> None:
        pass


def connection_factory(settings):
    """A callable making one connection as ``smtp.url`` says."""
    url = settings.smtp.url
    if url.startswith("file:"):
        folder = url[len("file:"):]
        return lambda: FileConnection(folder)
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError(f"smtp.url: cannot use {redact(url)!r}; write smtp://host:port, "
                          f"smtps://host:port or file:PATH")
    use_tls = parts.scheme == "smtps"
    port = parts.port or (465 if use_tls else 25)
    s = settings.smtp
    return lambda: SmtpConnection(parts.hostname, port, use_tls=use_tls, username=s.username,
                                  password=str(s.password), timeout=s.timeout,
                                  tls_verify=s.tls_verify)

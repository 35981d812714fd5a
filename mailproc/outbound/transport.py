"""Where messages go: an SMTP server (aiosmtplib) or a local folder of .eml files.

Only this module speaks SMTP. It turns every failure into the two exception families the
sender acts on (RFC 5321 4.2.1): 4xx replies, timeouts and lost connections are
``TemporaryDeliveryError`` (retry later), 5xx are ``PermanentDeliveryError`` (stop). A
recipient refused by RCPT is not an exception: it is reported per recipient in the result,
because the others may still be accepted in the same transaction.
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aiosmtplib

from mailproc.errors import ConfigError, PermanentDeliveryError, TemporaryDeliveryError


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

    async def _connect(self) -> aiosmtplib.SMTP:
        if self.smtp is not None and self.smtp.is_connected:
            return self.smtp
        smtp = aiosmtplib.SMTP(hostname=self.host, port=self.port, timeout=self.timeout,
                               use_tls=self.use_tls, start_tls=None if not self.use_tls else False,
                               validate_certs=self.tls_verify)
        await smtp.connect()
        if self.username:
            await smtp.login(self.username, self.password)
        self.smtp = smtp
        return smtp

    async def send(self, sender: str, recipients: list[str], raw: bytes) -> SendResult:
        """One SMTP transaction: MAIL, RCPT for each recipient, DATA when any was accepted."""
        result = SendResult()
        try:
            smtp = await self._connect()
            await _mail(smtp, sender)
            for rcpt in recipients:
                try:
                    await _rcpt(smtp, rcpt)
                    result.accepted.append(rcpt)
                except aiosmtplib.SMTPRecipientRefused as exc:
                    result.refused[rcpt] = (exc.code, exc.message)
                    if exc.code == 421:
                        raise TemporaryDeliveryError(f"{exc.code} {exc.message}") from None
            if not result.accepted:
                await smtp.rset()
                return result
            response = await smtp.data(raw)
            result.answer = f"{response.code} {response.message}"
            return result
        except (TemporaryDeliveryError, PermanentDeliveryError):
            await self._reset()
            raise
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset()
            text = f"{exc.code} {exc.message}"
            if 500 <= exc.code < 600:
                raise PermanentDeliveryError(text) from None
            raise TemporaryDeliveryError(text) from None
        except (aiosmtplib.SMTPException, asyncio.TimeoutError, OSError) as exc:
            self.close()
            raise TemporaryDeliveryError(f"{type(exc).__name__}: {exc}") from None

    async def _reset(self) -> None:
        """Leave the session clean for the next message (RSET), or drop it."""
        if self.smtp is not None and self.smtp.is_connected:
            try:
                await self.smtp.rset()
            except (aiosmtplib.SMTPException, asyncio.TimeoutError, OSError):
                self.close()

    def close(self) -> None:
        if self.smtp is not None:
            self.smtp.close()
            self.smtp = None

    async def quit(self) -> None:
        if self.smtp is not None and self.smtp.is_connected:
            try:
                await self.smtp.quit()
            except (aiosmtplib.SMTPException, asyncio.TimeoutError, OSError):
                pass
        self.close()


#: an addr-spec that needs no quoting and no SMTPUTF8 (RFC 5321 4.1.2 Mailbox, dot-atoms only)
_PLAIN = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+")


async def _mail(smtp: aiosmtplib.SMTP, sender: str) -> None:
    """MAIL FROM:<sender>. The outbox holds addresses already parsed and checked, so the
    common plain one is written as it is (``execute_command``): aiosmtplib's ``mail`` parses
    it again with ``email.utils``, which cost more per message than the rest of the SMTP
    conversation. Anything else (quoting, non-ASCII) goes through ``mail``."""
    if not _PLAIN.fullmatch(sender):
        await smtp.mail(sender)
        return
    response = await smtp.execute_command(b"MAIL", b"FROM:<" + sender.encode() + b">")
    if response.code != 250:
        raise aiosmtplib.SMTPSenderRefused(response.code, response.message, sender)


async def _rcpt(smtp: aiosmtplib.SMTP, recipient: str) -> None:
    """RCPT TO:<recipient>, as ``_mail``; 250 and 251 accept it (RFC 5321 4.2.2)."""
    if not _PLAIN.fullmatch(recipient):
        await smtp.rcpt(recipient)
        return
    response = await smtp.execute_command(b"RCPT", b"TO:<" + recipient.encode() + b">")
    if response.code not in (250, 251):
        raise aiosmtplib.SMTPRecipientRefused(response.code, response.message, recipient)


class FileConnection:
    """``file:PATH``: each message becomes PATH/<id>.eml, written atomically (temporary
    name, then rename), so a reader of the folder never sees half a message."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    async def send_file(self, row_id: int, recipients: list[str], raw: bytes) -> SendResult:
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.folder / f"{row_id}.eml"
        tmp = self.folder / f".{row_id}.{os.getpid()}.tmp"
        tmp.write_bytes(raw)
        os.replace(tmp, final)
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
        raise ConfigError(f"smtp.url: cannot use {url!r}; write smtp://host:port, "
                          f"smtps://host:port or file:PATH")
    use_tls = parts.scheme == "smtps"
    port = parts.port or (465 if use_tls else 25)
    s = settings.smtp
    return lambda: SmtpConnection(parts.hostname, port, use_tls=use_tls, username=s.username,
                                  password=str(s.password), timeout=s.timeout,
                                  tls_verify=s.tls_verify)

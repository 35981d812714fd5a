"""Mail transactions with command pipelining (RFC 2920) on a session aiosmtplib opened.

Why: aiosmtplib sends one command and waits for its reply, with a lock, a future and a timer
per command. Against a loopback server that machinery, not the network, was most of the cost
of a message; on a real link every reply is also a round trip. A server that advertises
PIPELINING lets the client write MAIL FROM, every RCPT TO and DATA at once and read their
replies in order afterwards: one round trip, then the message, then its final reply.

How: aiosmtplib still connects, negotiates implicit TLS or STARTTLS, says EHLO and logs in,
which it does well. Then ``PipelinedSession`` takes the connection over with
``transport.set_protocol``: the bytes that arrive go to ``ReplyReader`` instead of
aiosmtplib's protocol, which is not used again (aiosmtplib's own reader cannot take several
replies arriving together). ``set_protocol`` behaves the same on a plain TCP transport and on
the TLS transports asyncio makes for implicit TLS and for STARTTLS (``loop.start_tls``): the
TLS layer hands the decrypted bytes to whichever protocol is set; the tests run both against
aiosmtpd. A client of our own on asyncio streams was the alternative; it would have had to
redo TLS, STARTTLS, EHLO and AUTH, so it was not chosen.

Nothing here decides about retries: a reply that ends the transaction is raised as
``ReplyError`` (its code tells 4xx from 5xx), a lost connection as ``ConnectionResetError``,
a reply that does not come within the timeout as ``TimeoutError``; ``transport`` maps them.
"""

from __future__ import annotations

import asyncio
import collections
import re
from typing import NamedTuple

#: RCPT replies that accept the recipient (RFC 5321 4.2.2; 251: "will forward")
ACCEPTED = (250, 251)
#: bytes of an unfinished reply we hold at most (aiosmtplib allows 32 KiB for a whole reply)
MAX_REPLY = 64 * 1024
_LINE_END = re.compile(rb"\r\n|\n|\r(?!\n)")


class Reply(NamedTuple):
    code: int
    text: str  # the lines' texts joined with "\n", as aiosmtplib gives them

    def __str__(self) -> str:
        return f"{self.code} {self.text}"


class ReplyError(Exception):
    """A reply that ends the transaction: MAIL refused, DATA refused, the message refused,
    or a 421 anywhere. ``code`` and ``message`` as in aiosmtplib's exceptions."""

    def __init__(self, reply: Reply):
        super().__init__(str(reply))
        self.code, self.message = reply


def parse_replies(buffer: bytearray, lines: list[bytes]) -> list[Reply]:
    """The complete replies at the start of ``buffer``, which are removed from it.

    A reply is one or more lines "CODE-text" ending with a line "CODE text" (RFC 5321 4.2.1);
    ``lines`` keeps the texts of a reply whose last line has not come yet between calls. A
    bare LF ends a line too, as in aiosmtplib. ``ValueError`` for a line without a code."""
    replies = []
    start = 0
    while (end := buffer.find(b"\n", start)) >= 0:
        line = bytes(buffer[start:end])
        start = end + 1
        code = line[:3]
        if len(code) != 3 or not code.isdigit() or line[3:4] not in (b"", b" ", b"-", b"\r"):
            raise ValueError(f"not an SMTP reply line: {line[:60]!r}")
        lines.append(line[4:].strip(b" \t\r"))
        if line[3:4] != b"-":
            replies.append(Reply(int(code), b"\n".join(lines).decode("utf-8", "surrogateescape")))
            lines.clear()
    del buffer[:start]
    return replies


def envelope(mail_from: bytes, rcpt_to: list[bytes]) -> bytes:
    """MAIL FROM, each RCPT TO and DATA as one group: DATA may only end a group, because
    what follows depends on its answer (RFC 2920 3.1)."""
    return b"".join([b"MAIL FROM:", mail_from, b"\r\n",
                     *[b"RCPT TO:" + path + b"\r\n" for path in rcpt_to], b"DATA\r\n"])


def data_bytes(raw: bytes) -> bytes:
    """``raw`` as the DATA that carries it, end-of-data line included (RFC 5321 4.5.2).

    Every line ends in CRLF: a bare CR or LF (build_message makes none; the three counts cost
    far less than a regular expression over the message) becomes CRLF, the way aiosmtplib
    normalises. A line starting with "." gets a second "." (dot-stuffing), which the server
    removes again."""
    crlf = raw.count(b"\r\n")
    if raw.count(b"\n") != crlf or raw.count(b"\r") != crlf:
        raw = _LINE_END.sub(b"\r\n", raw)
    if not raw.endswith(b"\r\n"):
        raw += b"\r\n"
    if raw.startswith(b"."):
        raw = b"." + raw
    return raw.replace(b"\r\n.", b"\r\n..") + b".\r\n"


class ReplyReader(asyncio.Protocol):
    """Collects the server's replies, in order, as they arrive."""

    def __init__(self, transport: asyncio.Transport):
        self.transport = transport
        self.replies: collections.deque[Reply] = collections.deque()
        self.lost: str | None = None  # why no more replies will come
        self._buffer = bytearray()
        self._lines: list[bytes] = []
        self._waiter: asyncio.Future | None = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            self.replies.extend(parse_replies(self._buffer, self._lines))
        except ValueError as exc:
            self._give_up(str(exc))
        else:
            if len(self._buffer) + sum(map(len, self._lines)) > MAX_REPLY:
                self._give_up("an SMTP reply longer than 64 KiB")
        self._wake()

    def eof_received(self) -> bool:
        self._give_up("the SMTP server closed the connection")
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost is None:
            self.lost = f"connection lost: {exc}" if exc else "connection lost"
        self._wake()

    def _give_up(self, why: str) -> None:
        if self.lost is None:
            self.lost = why
        self.transport.close()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def next(self, timeout: float) -> Reply:
        """The next reply; ``TimeoutError`` when none comes within ``timeout`` seconds,
        ``ConnectionResetError`` when the connection ended before it."""
        while not self.replies:
            if self.lost is not None:
                raise ConnectionResetError(self.lost)
            loop = asyncio.get_running_loop()
            self._waiter = waiter = loop.create_future()
            timer = loop.call_later(timeout, _expire, waiter, timeout)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        return self.replies.popleft()


def _expire(waiter: asyncio.Future, timeout: float) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError(f"no SMTP reply within {timeout:g} s"))


class PipelinedSession:
    """The mail transactions of one connection, after aiosmtplib's EHLO (and AUTH)."""

    def __init__(self, transport: asyncio.Transport, timeout: float):
        self.transport, self.timeout = transport, timeout
        self.reader = ReplyReader(transport)
        transport.set_protocol(self.reader)

    @property
    def usable(self) -> bool:
        """Open, and nothing arrived unasked (say a 421 on idle timeout): a reply waiting
        here would be taken for the answer to our next MAIL."""
        return (self.reader.lost is None and not self.reader.replies
                and not self.transport.is_closing())

    def _write(self, data: bytes) -> None:
        if self.reader.lost is not None or self.transport.is_closing():
            raise ConnectionResetError(self.reader.lost or "connection closed")
        self.transport.write(data)

    async def _reply(self) -> Reply:
        reply = await self.reader.next(self.timeout)
        if reply.code == 421:  # the server is closing the connection (RFC 5321 3.8)
            self.close()
            raise ReplyError(reply)
        return reply

    async def transaction(self, mail_from: bytes, rcpt_to: list[bytes],
                          raw: bytes) -> tuple[list[Reply], Reply | None]:
        """One message: the replies to the RCPTs, in order, and the final reply (None when
        no recipient was accepted: then no message was sent and the session was reset).

        Every reply of the group is read, in order, since later ones answer later commands
        (RFC 2920 3.1). ``ReplyError`` when MAIL or DATA was refused or the message was not
        taken with 250."""
        self._write(envelope(mail_from, rcpt_to))
        mail = await self._reply()
        rcpts = [await self._reply() for _ in rcpt_to]
        data = await self._reply()
        anyone = any(r.code in ACCEPTED for r in rcpts)
        if data.code == 354:
            if mail.code == 250 and anyone:
                self._write(data_bytes(raw))
                final = await self._reply()
                if final.code != 250:
                    raise ReplyError(final)
                return rcpts, final
            # RFC 2920 3.1: a server may accept DATA though every RCPT failed, and the
            # client then sends a lone "." (an empty message the server will not deliver)
            self._write(b".\r\n")
            await self._reply()
        if mail.code != 250:
            raise ReplyError(mail)
        if anyone:
            raise ReplyError(data)
        await self.rset()  # every recipient refused: their replies are the result
        return rcpts, None

    async def rset(self) -> None:
        """RSET: the next transaction starts clean (RFC 5321 4.1.1.5)."""
        self._write(b"RSET\r\n")
        reply = await self._reply()
        if reply.code != 250:
            raise ReplyError(reply)

    async def quit(self) -> None:
        """QUIT, its reply awaited but not required, then close."""
        try:
            self._write(b"QUIT\r\n")
            await self.reader.next(self.timeout)
        except OSError:  # lost, or TimeoutError: closing anyway
            pass
        finally:
            self.close()

    def close(self) -> None:
        self.transport.close()

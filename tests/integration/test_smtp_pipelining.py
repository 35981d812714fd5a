"""SMTP sending with and without command pipelining (RFC 2920), against aiosmtpd on loopback.

Every test runs twice: against a server that advertises PIPELINING (``SmtpConnection`` then
runs the transactions itself, ``mailproc.outbound.pipelining``) and one that does not
(aiosmtplib, one command at a time). What is asserted is what the server received: the
bytes, the envelope, whether the client waited for the MAIL reply, which connection.
"""

from __future__ import annotations

import asyncio

import pytest

from mailproc.errors import PermanentDeliveryError, TemporaryDeliveryError
from mailproc.outbound.transport import SmtpConnection
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.integration

SENDER = "personbibl@nlrs.ru"
#: lines starting with "." and "..", a line of one ".", and one at the very end: the
#: transparency procedure (RFC 5321 4.5.2) must carry each through unchanged
RAW = (b"From: personbibl@nlrs.ru\r\nTo: anna@example.org\r\nSubject: dots\r\n"
       b"Message-ID: <dots@nlrs.ru>\r\n\r\n"
       b".first line starts with a dot\r\n..two dots\r\n.\r\nmiddle\r\n...\r\n"
       b"\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\r\n.\r\n")


def _message(n: int) -> bytes:
    return (f"From: {SENDER}\r\nTo: r@example.org\r\nSubject: n{n}\r\n\r\nbody {n}\r\n"
            f".dot {n}\r\n").encode()


@pytest.fixture(params=[True, False], ids=["pipelined", "stepwise"])
def piped(request) -> bool:
    return request.param


def _server(piped: bool, **kw) -> SmtpServer:
    return SmtpServer(pipelining=piped, **kw)


def _conn(server: SmtpServer, timeout: float = 10.0) -> SmtpConnection:
    return SmtpConnection(server.host, server.port, use_tls=server.tls == "implicit",
                          timeout=timeout, tls_verify=False)


async def _attempt(conn: SmtpConnection, recipients: list[str], raw: bytes):
    """The result, or the delivery error raised."""
    try:
        return await conn.send(SENDER, recipients, raw)
    except (TemporaryDeliveryError, PermanentDeliveryError) as exc:
        return exc


def _run(server: SmtpServer, *sends: tuple[list[str], bytes], timeout: float = 10.0):
    """``sends`` one after another on one ``SmtpConnection``; results (or errors) in order,
    and whether the connection used pipelining."""
    async def go():
        conn = _conn(server, timeout)
        out = [await _attempt(conn, rcpts, raw) for rcpts, raw in sends]
        used = conn.pipelining
        await conn.quit()
        return out, used
    return asyncio.run(go())


@pytest.mark.parametrize("tls", [None, "starttls", "implicit"])
def test_bytes_arrive_exactly_as_built(piped, tls):
    with _server(piped, tls=tls) as server:
        (result, again), used = _run(server, (["anna@example.org"], RAW),
                                     (["boris@example.org"], _message(2)))
    assert used is piped
    assert result.accepted == ["anna@example.org"] and result.refused == {}
    assert result.answer.startswith("250 2.0.0")
    first, second = server.messages
    assert first.raw == RAW and second.raw == _message(2)
    assert (first.mail_from, first.rcpt_tos) == (SENDER, ["anna@example.org"])
    assert first.pipelined is piped and first.tls is (tls is not None)
    assert first.peer == second.peer  # the same connection, taken over once


def test_bare_line_feeds_are_sent_as_crlf(piped):
    with _server(piped) as server:
        _run(server, (["anna@example.org"], b"Subject: lf\n\n.a\nb\rc"))
    assert server.messages[0].raw == b"Subject: lf\r\n\r\n.a\r\nb\r\nc\r\n"


def test_one_of_two_refused_the_other_gets_the_message(piped):
    with _server(piped) as server:
        server.refuse_rcpt("gone@example.org", "550 5.1.1 No such user here")
        (result,), _ = _run(server, (["gone@example.org", "ok@example.org"], RAW))
    assert result.accepted == ["ok@example.org"]
    assert result.refused == {"gone@example.org": (550, "5.1.1 No such user here")}
    (got,) = server.messages
    assert got.rcpt_tos == ["ok@example.org"] and got.raw == RAW


@pytest.mark.parametrize("data_despite_refusals", [False, True],
                         ids=["DATA-refused", "DATA-354"])
def test_all_refused_sends_no_message_and_stays_in_step(piped, data_despite_refusals):
    """aiosmtpd refuses DATA with 503 when no RCPT passed; the other server says 354 anyway
    (RFC 2920 3.1), and then the pipelining client must send a lone "." and nothing else.
    The next message on the same connection shows nothing of the first was left over."""
    with _server(piped, data_despite_refusals=data_despite_refusals) as server:
        server.refuse_rcpt("a@example.org", "550 5.1.1 No such user")
        server.refuse_rcpt("b@example.org", "553 5.1.3 Bad address")
        (result, nxt), _ = _run(server, (["a@example.org", "b@example.org"], RAW),
                                (["ok@example.org"], _message(2)))
    assert result.accepted == [] and result.answer == ""
    assert result.refused == {"a@example.org": (550, "5.1.1 No such user"),
                              "b@example.org": (553, "5.1.3 Bad address")}
    assert nxt.accepted == ["ok@example.org"]
    (got,) = server.messages
    assert got.rcpt_tos == ["ok@example.org"] and got.raw == _message(2)
    # the stepwise client never says DATA without a recipient; the pipelining one had to
    assert server.empty_data == ([b""] if piped and data_despite_refusals else [])


@pytest.mark.parametrize("where", ["RCPT", "DATA"])
def test_421_defers_and_the_next_attempt_reconnects(piped, where):
    with _server(piped) as server:
        if where == "RCPT":
            server.refuse_rcpt("anna@example.org", "421 4.3.2 Shutting down", times=1)
        else:
            server.refuse_data("421 4.3.2 Shutting down", times=1)
        (err, again), _ = _run(server, (["anna@example.org"], RAW),
                               (["anna@example.org"], RAW))
    assert isinstance(err, TemporaryDeliveryError)
    assert str(err) == "421 4.3.2 Shutting down"  # the sender stops claiming on "421"
    assert again.accepted == ["anna@example.org"]
    (got,) = server.messages
    assert got.raw == RAW


def test_421_on_mail_defers(piped):
    with _server(piped) as server:
        server.refuse_all("421 4.3.2 Service not available", seconds=None)
        (err,), _ = _run(server, (["anna@example.org"], RAW))
    assert isinstance(err, TemporaryDeliveryError) and str(err).startswith("421 4.3.2")
    assert server.messages == []


def test_554_on_data_fails_and_the_session_goes_on(piped):
    with _server(piped) as server:
        server.refuse_data("554 5.7.1 Message rejected as spam", times=1)
        (err, again), _ = _run(server, (["anna@example.org"], RAW),
                               (["boris@example.org"], _message(2)))
    assert isinstance(err, PermanentDeliveryError)
    assert str(err) == "554 5.7.1 Message rejected as spam"
    assert again.accepted == ["boris@example.org"]
    (got,) = server.messages
    assert got.raw == _message(2) and got.rcpt_tos == ["boris@example.org"]


def test_451_on_data_defers(piped):
    with _server(piped) as server:
        server.refuse_data("451 4.3.0 Try again later", times=1)
        (err,), _ = _run(server, (["anna@example.org"], RAW))
    assert isinstance(err, TemporaryDeliveryError) and str(err) == "451 4.3.0 Try again later"
    assert server.messages == []


def test_several_messages_on_one_connection(piped):
    n = 30
    with _server(piped) as server:
        results, used = _run(server, *[([f"r{i}@example.org", f"s{i}@example.org"],
                                         _message(i)) for i in range(n)])
    assert used is piped
    assert [r.accepted for r in results] == [[f"r{i}@example.org", f"s{i}@example.org"]
                                             for i in range(n)]
    assert [m.raw for m in server.messages] == [_message(i) for i in range(n)]
    assert len({m.peer for m in server.messages}) == 1
    assert all(m.pipelined is piped for m in server.messages)


@pytest.mark.parametrize("where", ["RCPT", "DATA"])
def test_connection_dropped_mid_transaction_defers_then_reconnects(piped, where):
    async def go(server):
        conn = _conn(server)
        ok = await _attempt(conn, ["first@example.org"], _message(1))
        server.drop_at(where, times=1)
        err = await _attempt(conn, ["anna@example.org"], RAW)
        again = await _attempt(conn, ["anna@example.org"], RAW)
        await conn.quit()
        return ok, err, again

    with _server(piped) as server:
        ok, err, again = asyncio.run(go(server))
    assert ok.accepted == ["first@example.org"]
    assert isinstance(err, TemporaryDeliveryError)
    assert again.accepted == ["anna@example.org"]
    first, got = server.messages  # the dropped attempt delivered nothing
    assert got.raw == RAW and first.peer != got.peer  # a new connection


def test_a_server_that_stops_answering_times_out(piped):
    with _server(piped) as server:
        server.drop_at("DATA", times=1, after=3.0)
        (err, again), _ = _run(server, (["anna@example.org"], RAW),
                               (["anna@example.org"], _message(2)), timeout=0.5)
    assert isinstance(err, TemporaryDeliveryError) and "TimeoutError" in str(err)
    assert again.accepted == ["anna@example.org"]
    assert [m.raw for m in server.messages] == [_message(2)]


def test_many_recipients_in_one_group(piped):
    rcpts = [f"reader{i}@example.org" for i in range(120)]
    with _server(piped) as server:
        server.refuse_rcpt("reader7@example.org", "550 5.1.1 No such user")
        (result,), _ = _run(server, (rcpts, RAW))
    assert result.accepted == [r for r in rcpts if r != "reader7@example.org"]
    assert list(result.refused) == ["reader7@example.org"]
    assert server.messages[0].rcpt_tos == result.accepted


def test_address_that_smtp_cannot_carry_fails_before_any_command(piped):
    """Non-ASCII needs SMTPUTF8, which mailproc does not use: a permanent failure (it used to
    escape as a UnicodeEncodeError), and the session goes on."""
    with _server(piped) as server:
        (err, again), _ = _run(server, (["ok@example.org", "анна@example.org"], RAW),
                               (["ok@example.org"], _message(2)))
    assert isinstance(err, PermanentDeliveryError)
    assert [m.raw for m in server.messages] == [_message(2)]


def test_sender_records_refusals_and_sends_again_after_a_drop(tmp_path, piped):
    """Through the outbox: the bytes arrive as built; a recipient refused is recorded on its
    row; a message whose connection dropped during its data is sent again, and once."""
    import time

    from mailproc.app import App
    from mailproc.outbound.models import OutboxMessage
    from mailproc.outbound.outbox import enqueue
    from mailproc.outbound.sender import Sender, deliver_due
    from tests.servers.smtp import outbound_settings

    with _server(piped) as server:
        app = App(outbound_settings(tmp_path / "d", server.url, smtp={"connections": 1},
                                    outbox={"retry_backoff": 0.05, "retry_backoff_max": 0.2}))
        ids = []
        for to in (["ok@example.org", "gone@example.org"], "anna@example.org"):
            with app.db.transaction() as s:
                ids.append(enqueue(s, app.settings, to=to, template="librarians/notice",
                                   context={"title": "Т", "lines": ["a"], "what_to_do": "b"},
                                   kind="notice").id)
        server.refuse_rcpt("gone@example.org", "550 5.1.1 No such user here")
        server.drop_at("DATA", times=1)  # the first message's data: the connection is gone
        deliver_due(app)
        assert [m.rcpt_tos for m in server.messages] == [["anna@example.org"]]
        time.sleep(0.3)
        deliver_due(app)
        assert [m.rcpt_tos for m in server.messages] == [["anna@example.org"],
                                                         ["ok@example.org"]]
    sender = Sender(app.settings, app.db)
    with app.db.session() as s:
        first, second = (s.get(OutboxMessage, i) for i in ids)
        assert first.state == "sent" and second.state == "sent"
        assert first.recipients["gone@example.org"]["state"] == "failed"
        assert "550 5.1.1" in first.recipients["gone@example.org"]["answer"]
        assert first.attempts == 2
        assert [m.raw for m in server.messages] == [sender.raw_of(second), sender.raw_of(first)]
    assert all(m.pipelined is piped for m in server.messages)

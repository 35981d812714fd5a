"""The pure parts of the pipelining client: reading replies (RFC 5321 4.2), the envelope group
(RFC 2920 3.1) and the DATA bytes (RFC 5321 4.5.2). The conversation itself is tested against
a real server in tests/integration/test_smtp_pipelining.py."""

from __future__ import annotations

import pytest

from mailproc.outbound.pipelining import Reply, data_bytes, envelope, parse_replies


def _feed(*chunks: bytes) -> tuple[list[Reply], bytearray, list[bytes]]:
    buffer, lines, out = bytearray(), [], []
    for chunk in chunks:
        buffer += chunk
        out += parse_replies(buffer, lines)
    return out, buffer, lines


def test_pipelined_replies_in_one_chunk_come_out_in_order():
    replies, rest, _ = _feed(b"250 2.1.0 Ok\r\n550 5.1.1 <x@y>: no such user\r\n"
                             b"250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n")
    assert replies == [Reply(250, "2.1.0 Ok"), Reply(550, "5.1.1 <x@y>: no such user"),
                       Reply(250, "2.1.5 Ok"), Reply(354, "End data with <CR><LF>.<CR><LF>")]
    assert rest == b""


def test_multiline_reply_split_anywhere_waits_for_its_last_line():
    replies, rest, lines = _feed(b"250-mail.example Hello\r\n250-PIPEL", b"INING\r\n250-SIZE")
    assert replies == [] and lines == [b"mail.example Hello", b"PIPELINING"]
    assert rest == b"250-SIZE"
    replies, _, _ = _feed(b"250-mail.example Hello\r\n250-PIPEL", b"INING\r\n250-SIZE",
                          b" 1000\r\n250 HELP\r\n221 Bye\r\n")
    assert replies == [Reply(250, "mail.example Hello\nPIPELINING\nSIZE 1000\nHELP"),
                       Reply(221, "Bye")]


def test_bare_lf_and_code_only_lines():
    assert _feed(b"250 Ok\n354\r\n")[0] == [Reply(250, "Ok"), Reply(354, "")]


@pytest.mark.parametrize("line", [b"hello\r\n", b"25 ok\r\n", b"250x\r\n"])
def test_a_line_that_is_no_reply_is_an_error(line):
    with pytest.raises(ValueError):
        _feed(line)


def test_envelope_is_one_group_ending_with_data():
    assert envelope(b"<a@x>", [b"<b@y>", b"<c@z>"]) == \
        b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nRCPT TO:<c@z>\r\nDATA\r\n"


@pytest.mark.parametrize("raw, wire", [
    (b"A: 1\r\n\r\nbody\r\n", b"A: 1\r\n\r\nbody\r\n.\r\n"),
    (b".lead\r\n..two\r\n.\r\nx.y\r\n", b"..lead\r\n...two\r\n..\r\nx.y\r\n.\r\n"),
    (b"no end", b"no end\r\n.\r\n"),
    (b"bare\nlf\rcr\r\n.dot\n", b"bare\r\nlf\r\ncr\r\n..dot\r\n.\r\n"),
    (b"last\r\n.", b"last\r\n..\r\n.\r\n"),
])
def test_data_bytes_dot_stuffed_crlf_and_terminated(raw, wire):
    assert data_bytes(raw) == wire

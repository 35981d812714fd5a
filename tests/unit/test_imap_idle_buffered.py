"""A change notice that arrives in the same segment as the server's "+ idling".

Reading the continuation line pulls the notice into imaplib's buffered reader, where
imapclient's idle_check (which polls the socket) does not look: without care the daemon
learns of that message only when the IDLE round ends (30 s later), or at the next safety
pass. Seen against Dovecot in the latency benchmark. The peer here is a scripted loopback
socket, not an IMAP server: only a script can put both lines in one segment every time.
"""

from __future__ import annotations

import socket
import threading

import pytest

from mailproc.mailbox.imap import ImapSource


def _scripted_server(sock: socket.socket, notices: list[bytes]) -> None:
    conn, _ = sock.accept()
    conn.sendall(b"* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n")
    reader = conn.makefile("rb")
    idle_tag = None
    while line := reader.readline():
        if idle_tag is not None:  # "DONE" ends the IDLE
            conn.sendall(idle_tag + b" OK Idle completed\r\n")
            idle_tag = None
            continue
        tag, _, rest = line.strip().partition(b" ")
        command = rest.split(b" ")[0].upper()
        if command == b"CAPABILITY":
            conn.sendall(b"* CAPABILITY IMAP4rev1 IDLE\r\n" + tag + b" OK done\r\n")
        elif command in (b"SELECT", b"EXAMINE"):
            conn.sendall(b"* FLAGS (\\Seen)\r\n* 4 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n"
                         b"* OK [PERMANENTFLAGS (\\Seen \\*)] ok\r\n"
                         + tag + b" OK [READ-WRITE] selected\r\n")
        elif command == b"IDLE":
            idle_tag = tag
            conn.sendall(b"+ idling\r\n" + b"".join(notices))  # one segment
            notices.clear()
        elif command == b"LOGOUT":
            conn.sendall(b"* BYE\r\n" + tag + b" OK bye\r\n")
            break
        else:
            conn.sendall(tag + b" OK done\r\n")
    conn.close()


@pytest.mark.timeout(20)  # without the fix wait() blocks for the whole round (3,600 s here)
def test_a_notice_behind_the_idle_continuation_ends_the_wait():
    listener = socket.create_server(("127.0.0.1", 0))
    notices = [b"* 5 EXISTS\r\n"]
    server = threading.Thread(target=_scripted_server, args=(listener, notices), daemon=True)
    server.start()
    source = ImapSource("127.0.0.1", listener.getsockname()[1], "u", "p", security="none",
                        idle_renew=3600, timeout=5)
    source.open()
    try:
        assert source.wait(3600) is True
        # and a round with nothing to report still waits its time, then says so
        assert source.wait(0.2) is False
    finally:
        source.close()
        listener.close()

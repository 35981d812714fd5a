"""The outbound drills accept a second copy at the SMTP server only when it is shown to be the
RFC 1047 window: first copy the last message of a connection cut (no QUIT) by a kill within
50 ms of the server taking its final "."."""

from tests.drills.outbound_common import window_gaps
from tests.servers.smtp import Received


def mail(mid: str, port: int, at: float) -> Received:
    return Received("a@b", ["c@d"], f"Message-ID: {mid}\r\n\r\nx\r\n".encode(), at=at,
                    peer=("127.0.0.1", port))


def gaps(messages, quits=(), kills=()):
    return window_gaps(messages, set(quits), list(kills))


def test_a_copy_cut_by_a_kill_right_after_its_dot_is_the_window():
    msgs = [mail("<a@x>", 1, 10.0), mail("<r@x>", 1, 10.5), mail("<r@x>", 2, 12.0)]
    assert gaps(msgs, kills=[10.502]) == [10.502 - 10.5]
    # the dot written just before the kill and read by the server just after it
    assert gaps(msgs, kills=[10.49]) == [10.49 - 10.5]


def test_any_other_repeat_is_not_explained():
    msgs = [mail("<r@x>", 1, 10.5), mail("<r@x>", 2, 12.0)]
    assert gaps(msgs, kills=[11.0]) == []  # no kill near: the sender had time to record it
    assert gaps(msgs, quits=[("127.0.0.1", 1)], kills=[10.5]) == []  # ended with QUIT
    later = [mail("<r@x>", 1, 10.5), mail("<b@x>", 1, 10.6), mail("<r@x>", 2, 12.0)]
    assert gaps(later, kills=[10.5]) == []  # the connection went on: it was not cut there
    assert gaps(msgs) == []  # no kill at all

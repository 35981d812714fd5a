"""``mailproc run`` as a real subprocess against a real Dovecot: IDLE wake-up, server restart,
connection cut during IDLE, a librarian working at the same time, SIGTERM, broken mail,
review list/retry, messages list and status."""

from __future__ import annotations

import json
import random
import signal
import threading

import pytest

from tests.servers.mailproc import message_ids_by_folder, sample_letter, wait_for

pytestmark = pytest.mark.integration

PEOPLE = "Обработанные"
REVIEW = "На разбор"


def letter(i: int) -> bytes:
    return sample_letter(i, "d")


@pytest.fixture
def daemon(mailproc_setup):
    """Start ``mailproc run``; wait until it is connected; SIGTERM it at the end."""
    procs = []

    def start():
        proc = mailproc_setup.spawn("run")
        procs.append(proc)
        wait_for(lambda: mailproc_setup.daemon_state().get("mailbox") == "connected"
                 or proc.poll() is not None, timeout=60)
        assert proc.poll() is None, (mailproc_setup.root / "daemon.log").read_text()
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def processed(setup, server, n: int, folder: str = PEOPLE) -> bool:
    rows = setup.sql("SELECT count(*) FROM messages WHERE state = 'done'")
    return bool(rows) and rows[0][0] >= n and server.count(folder) >= n


def test_idle_wakes_the_daemon_and_sigterm_exits_cleanly(mailproc_setup, dovecot, daemon):
    proc = daemon()
    for i in range(3):
        dovecot.deliver(letter(i))
        wait_for(lambda i=i: processed(mailproc_setup, dovecot, i + 1), timeout=30)
    assert dovecot.count("INBOX") == 0
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=5) == 0
    assert mailproc_setup.daemon_state()["mailbox"] == "stopped"


def test_server_restarted_mid_run(mailproc_setup, dovecot, daemon):
    daemon()
    dovecot.deliver(letter(1))
    wait_for(lambda: processed(mailproc_setup, dovecot, 1))
    dovecot.restart()
    dovecot.deliver(letter(2))
    wait_for(lambda: processed(mailproc_setup, dovecot, 2), timeout=90)
    log = (mailproc_setup.root / "daemon.log").read_text()
    # one warning per outage, not one per try
    assert log.count("unreachable") <= 2


def test_connection_cut_during_idle(mailproc_setup, dovecot, daemon):
    daemon()
    dovecot.deliver(letter(1))
    wait_for(lambda: processed(mailproc_setup, dovecot, 1))
    dovecot.kick()  # every connection, IDLE included, is closed by the server
    dovecot.deliver(letter(2))
    wait_for(lambda: processed(mailproc_setup, dovecot, 2), timeout=90)
    dovecot.deliver(letter(3))
    wait_for(lambda: processed(mailproc_setup, dovecot, 3), timeout=90)


def test_librarian_marks_and_moves_at_the_same_time(mailproc_setup, dovecot, daemon):
    n = 60
    dovecot.deliver_many(letter(i) for i in range(n))
    rng = random.Random(3)
    moved_by_librarian = []

    def librarian():
        c = dovecot.client()
        c.select_folder("INBOX")
        if not c.folder_exists("Личное"):
            c.create_folder("Личное")
        for _ in range(15):
            uids = c.search("ALL")
            if not uids:
                break
            pick = rng.sample(uids, min(3, len(uids)))
            c.add_flags(pick, [b"\\Seen", b"\\Flagged", b"$Important"])
            c.move(pick[:1], "Личное")
            moved_by_librarian.append(pick[0])
        c.logout()

    t = threading.Thread(target=librarian)
    t.start()
    daemon()
    t.join()
    wait_for(lambda: dovecot.count("INBOX") == 0, timeout=60)
    folders = message_ids_by_folder(dovecot)
    everywhere = [m for ids in folders.values() for m in ids]
    assert sorted(everywhere) == sorted(f"<d{i}@example.org>" for i in range(n))  # none lost
    assert len(set(everywhere)) == n  # none in two folders
    rows = mailproc_setup.sql("SELECT message_id, state, folder_uid FROM messages")
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids))  # none recorded twice
    # what mailproc filed is recorded as done; what the librarian took first is not ours
    assert set(folders[PEOPLE]) <= {r[0] for r in rows if r[1] == "done"}
    assert len(folders[PEOPLE]) + len(folders["Личное"]) == n


def test_malformed_mail_never_stops_the_daemon(mailproc_setup, dovecot, daemon):
    broken = []
    for i in range(200):
        kind = i % 5
        if kind == 0:
            raw = b"\x00\xff\xfe garbage without headers %d" % i
        elif kind == 1:
            raw = (b"From: <<<@@@>>>\r\nSubject: =?utf-8?B?!!!notbase64?=\r\n"
                   b"Content-Type: multipart/mixed; boundary=\"never\"\r\n\r\n--never\r\n"
                   b"Content-Type: text/plain; charset=x-unknown-%d\r\n\r\n\xd0\xd1\r\n" % i)
        elif kind == 2:
            raw = (b"Subject: bad b64 %d\r\nContent-Transfer-Encoding: base64\r\n"
                   b"Content-Type: application/pdf; name=\"a.pdf\"\r\n\r\n%%%%%%not-base64\r\n" % i)
        elif kind == 3:
            raw = b"Subject: " + b"x" * 5000 + b" %d\r\nDate: 99 Foo 20x\r\n\r\nbody" % i
        else:
            raw = (b"Content-Type: message/rfc822\r\nMessage-ID: <<broken %d\r\n\r\n"
                   b"Content-Type: multipart/alternative\r\n\r\n" % i)
        broken.append(raw)
    dovecot.deliver_many(broken)
    proc = daemon()
    wait_for(lambda: dovecot.count("INBOX") == 0, timeout=120)
    assert proc.poll() is None  # still running
    dovecot.deliver(letter(1000))  # and still working
    wait_for(lambda: mailproc_setup.sql(
        "SELECT count(*) FROM messages WHERE message_id = '<d1000@example.org>' "
        "AND state = 'done'")[0][0] == 1, timeout=30)
    states = dict(mailproc_setup.sql("SELECT state, count(*) FROM messages GROUP BY state"))
    assert sum(states.values()) == 201
    assert set(states) <= {"done", "review"}
    no_reason = mailproc_setup.sql(
        "SELECT count(*) FROM messages WHERE state = 'review' AND reason = ''")[0][0]
    assert no_reason == 0


def test_review_list_and_retry_from_imap(mailproc_setup, dovecot):
    big = letter(1) + b"y" * 3000 + b"\r\n"
    dovecot.deliver(big)
    mailproc_setup.config.write_text(mailproc_setup.config.read_text().replace(
        "[mailbox]\n", "[mailbox]\nmax_message_size = \"2KB\"\n"))
    r = mailproc_setup.command("run", "--once")
    assert r.returncode == 0, r.stderr
    r = mailproc_setup.command("review", "list", "--json")
    assert r.returncode == 0, r.stderr
    (item,) = json.loads(r.stdout)
    assert "too large" in item["reason"]
    assert [raw for _u, _f, raw in dovecot.messages(REVIEW)] == [big]
    # raise the limit; the retry takes the bytes from the review folder (no spool copy)
    mailproc_setup.config.write_text(mailproc_setup.config.read_text().replace(
        'max_message_size = "2KB"\n', ""))
    r = mailproc_setup.command("review", "retry", str(item["id"]))
    assert r.returncode == 0, r.stderr
    assert "processed" in r.stdout
    assert dovecot.count(REVIEW) == 0 and dovecot.count(PEOPLE) == 1
    r = mailproc_setup.command("review", "list", "--json")
    assert json.loads(r.stdout) == []


def test_messages_list_and_status_json(mailproc_setup, dovecot):
    for i in range(2):
        dovecot.deliver(letter(i))
    assert mailproc_setup.command("run", "--once").returncode == 0
    r = mailproc_setup.command("messages", "list", "--json")
    assert r.returncode == 0, r.stderr
    items = json.loads(r.stdout)
    assert len(items) == 2
    for item in items:
        assert {"id", "message_id", "from", "subject", "category", "rule", "folder", "state",
                "received_at"} <= set(item)
        assert item["folder"] == PEOPLE and item["state"] == "done"
    r = mailproc_setup.command("status", "--json")
    assert r.returncode == 0, r.stderr
    status = json.loads(r.stdout)
    assert status["messages_by_state"] == {"done": 2}
    assert status["review"] == 0
    assert "connection" in status


def test_sigterm_while_busy_finishes_and_files_what_was_decided(mailproc_setup, dovecot, daemon):
    n = 300
    dovecot.deliver_many(letter(i) for i in range(n))
    proc = daemon()
    wait_for(lambda: mailproc_setup.sql("SELECT count(*) FROM messages")[0][0] >= 20,
             interval=0.01)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=5) == 0
    states = dict(mailproc_setup.sql("SELECT state, count(*) FROM messages GROUP BY state"))
    assert set(states) == {"done"}  # nothing left half-filed
    assert dovecot.count(PEOPLE) == states["done"]
    assert dovecot.count("INBOX") == n - states["done"]

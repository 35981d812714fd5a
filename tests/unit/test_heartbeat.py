"""No silent stall: heartbeats, the supervisor that restarts a stopped loop, the watchdog
that is not petted while a loop is stalled (through mailproc.sdnotify on a real datagram
socket), the state file written on a full disk, and repeated log lines counted."""

from __future__ import annotations

import asyncio
import io
import logging
import socket
import time

import pytest

from mailproc.heartbeat import Loops, stalls_between
from mailproc.sdnotify import notify
from mailproc.supervisor import heartbeat, supervise


def test_a_failing_loop_is_stalled_after_stall_after_and_recorded_once(caplog):
    loops = Loops(stall_after=10)
    beat = loops.beat("intake default", 60)
    now = time.time()
    beat.progress("idle")
    beat.failing("storage: disk full")
    assert loops.check(now + 5) == []
    with caplog.at_level(logging.ERROR, logger="mailproc.heartbeat"):
        assert loops.check(now + 11) == ["intake default"]
        assert loops.check(now + 12) == ["intake default"]
    assert [r.getMessage() for r in caplog.records].__len__() == 1
    assert "disk full" in caplog.records[0].getMessage()
    snap = loops.snapshot(now + 12)
    assert snap["stalled"] == ["intake default"]
    assert snap["loops"]["intake default"]["state"] == "failing"
    assert snap["stalls"][0]["to"] is None
    beat.progress()
    assert loops.check() == []
    record = loops.snapshot()["stalls"][0]
    assert record["to"] is not None and record["error"] == "storage: disk full"
    assert stalls_between(loops.history, "2000-01-01T00:00:00+00:00",
                          "2100-01-01T00:00:00+00:00") == [record]
    assert stalls_between(loops.history, "2100-01-01T00:00:00+00:00",
                          "2100-01-02T00:00:00+00:00") == []


def test_a_busy_loop_is_alive_but_a_silent_one_is_hung():
    loops = Loops(stall_after=10)
    beat = loops.beat("sender", 60)
    now = time.time()
    beat.progress("working")
    assert loops.check(now + 65) == []
    assert loops.check(now + 71) == ["sender"]  # nothing at all for period + stall_after
    beat.alive()  # a message done inside a long pass
    assert loops.check(time.time() + 65) == []
    beat.failing("database: OperationalError")
    beat.alive()  # signs of life do not make a failing loop healthy
    assert loops.check(time.time() + 11) == ["sender"]


def _supervised(beat, start) -> list[str]:
    """Run ``start`` under ``supervise`` (limit 3, fast backoff); the names it gave up on.
    ``start`` gets the stop event."""
    async def scenario():
        stopping = asyncio.Event()
        given_up: list[str] = []
        await asyncio.wait_for(supervise(beat, lambda: start(stopping), stopping, 3,
                                         given_up.append, first_delay=0.01), 5)
        return given_up

    return asyncio.run(scenario())


def test_a_loop_that_raises_is_restarted_and_logged_once(caplog):
    beat = Loops(stall_after=10).beat("intake default", 60)
    calls = []

    async def start(stopping):
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise KeyError("boom")
        beat.progress("idle")
        stopping.set()

    with caplog.at_level(logging.DEBUG, logger="mailproc.supervisor"):
        assert _supervised(beat, start) == []
    assert len(calls) == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["intake default stopped (internal: KeyError); restarting in 0 s"]
    assert beat.state == "idle"


def test_a_loop_that_cannot_be_restarted_gives_up():
    beat = Loops(stall_after=10).beat("sender", 60)
    calls = []

    async def start(stopping):
        calls.append(1)
        raise OSError(28, "No space left on device", "/data/x")

    assert _supervised(beat, start) == ["sender"]
    assert len(calls) == 3
    assert beat.state == "stopped" and "disk full" in beat.error


def _datagrams(sock: socket.socket) -> list[str]:
    got = []
    while True:
        try:
            got.append(sock.recv(4096).decode())
        except BlockingIOError:
            return got


def test_watchdog_is_not_petted_while_a_loop_is_stalled(tmp_path, monkeypatch):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    loops = Loops(stall_after=0.3)
    intake = loops.beat("intake default", 60)
    loops.beat("sender", 60).progress("idle")
    intake.progress("idle")

    async def scenario():
        task = asyncio.create_task(heartbeat(loops, lambda: None, notify, tick=0.05))
        try:
            await asyncio.sleep(0.2)
            healthy = _datagrams(sock)
            intake.failing("storage: disk full")
            await asyncio.sleep(0.2)  # failing, not yet stalled: still petted
            _datagrams(sock)
            await asyncio.sleep(0.3)
            _datagrams(sock)  # the tick that noticed may have raced the check
            await asyncio.sleep(0.4)
            stalled = _datagrams(sock)
            intake.progress("working")
            await asyncio.sleep(0.2)
            again = _datagrams(sock)
        finally:
            task.cancel()
        return healthy, stalled, again

    try:
        healthy, stalled, again = asyncio.run(scenario())
    finally:
        sock.close()
    assert "WATCHDOG=1" in healthy
    assert stalled == []
    assert "WATCHDOG=1" in again


def test_a_failing_job_is_stalled_but_only_a_hung_job_withholds_the_watchdog():
    """A job that fails is retried at its next firing and a restart would cure nothing (a
    missing key): it shows as stalled but keeps the watchdog petted, so systemd does not cut
    every mailbox's intake short. An intake failing as long, or a job that hangs, withholds it."""
    loops = Loops(stall_after=10)
    job = loops.beat("job retention", 86400, restart_helps=False)
    intake = loops.beat("intake default", 60)
    now = time.time()
    job.failing("job failed (see the log)")
    intake.progress("idle")
    assert loops.check(now + 11) == ["job retention"]
    assert loops.withholding(now + 11) == []
    intake.failing("database: OperationalError (disk full)")
    assert loops.withholding(now + 22) == ["intake default"]
    intake.progress("idle")
    job.progress("idle")  # fired, and then hangs in its next firing: no mark for a day
    assert sorted(loops.withholding(now + 86400 + 11)) == ["intake default", "job retention"]


def test_state_file_is_written_in_place_on_a_full_disk(tmp_path):
    """The state file's blocks are allocated at start; later writes need no space."""
    from mailproc.runstate import RunState, read

    state = RunState()
    state.loops = Loops(stall_after=1)
    state.loops.beat("intake default", 60).failing("storage: disk full")
    state.open(tmp_path)
    inode = (tmp_path / "run/daemon.json").stat().st_ino
    state.update(tmp_path, "default", mailbox="connected")
    data = read(tmp_path / "run/daemon.json")
    assert data["mailbox"] == "connected"
    assert data["loops"]["intake default"]["error"] == "storage: disk full"
    assert (tmp_path / "run/daemon.json").stat().st_ino == inode  # never replaced


def test_repeated_warnings_are_counted_not_repeated():
    from mailproc.logs import RepeatFilter

    clock = [0.0]
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RepeatFilter(window=60, clock=lambda: clock[0]))
    logger = logging.getLogger("mailproc.test.repeat")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        for second in range(130):
            clock[0] = float(second)
            logger.warning("outbox %d: Sent copy failed (%s); will retry", 7, "SourceUnavailable")
            logger.info("pass %d", 1)  # info lines are never held back
        filt = handler.filters[0]
        clock[0] = 200.0
        filt.flush()
    finally:
        logger.removeHandler(handler)
    lines = [line for line in out.getvalue().splitlines() if "Sent copy" in line]
    assert lines == [
        "outbox 7: Sent copy failed (SourceUnavailable); will retry",
        "outbox 7: Sent copy failed (SourceUnavailable); will retry "
        "(repeated 60 times in the last 60 s)",
        "outbox 7: Sent copy failed (SourceUnavailable); will retry "
        "(repeated 60 times in the last 60 s)",
        "outbox 7: Sent copy failed (SourceUnavailable); will retry "
        "(repeated 9 times in the last 80 s)",
    ]
    assert out.getvalue().count("pass 1") == 130


@pytest.mark.parametrize("exc, kind", [
    (OSError(28, "No space left on device", "/x"), "storage: disk full"),
    (OSError(30, "Read-only file system", "/x"), "storage: read-only file system"),
])
def test_fault_reasons_name_the_disk(exc, kind):
    from mailproc.faults import reason

    assert reason(exc) == kind


def test_database_errors_are_not_mailbox_errors():
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from mailproc.errors import SourceUnavailable
    from mailproc.faults import kind, reason

    full = OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full"))
    assert kind(full) == "database"
    assert reason(full) == "database: OperationalError (disk full)"
    assert kind(SourceUnavailable("reset")) == "mailbox"

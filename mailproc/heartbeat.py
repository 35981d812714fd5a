"""Heartbeats of the daemon's loops: is every loop making progress?

Every loop that can stop keeps a ``Beat``: each mailbox's intake, the sender, each scheduled
job. A loop marks ``progress()`` when it has done its work (a message processed, a pass
finished, a job fired) and also when it is idle by choice (an empty mailbox in IDLE, a
mailbox another instance reads, nothing due in the outbox): those are progress too. It marks
``failing(why)`` when a round did not do its work (the mailbox or the database unreachable,
the disk full); the loop then retries on its own, and ``progress_at`` stays where it was.

A loop is *stalled* when it has been failing (or waiting for a server, or restarting) with
no progress for ``daemon.stall_after``, or has not marked anything at all for its own period
(the longest a healthy loop goes between two marks: a minute for intake and the sender, a
job's interval) plus ``daemon.stall_after``: a loop that hangs. The daemon pets the systemd
watchdog only while no loop *withholds* it (mailproc.supervisor): a stalled intake or sender,
which a fresh process may cure (a lost connection, a wedged thread), or a job that hangs. A
scheduled job that fails and returns does not: its next firing retries it, and a restart would
cure nothing (a missing key, a broken template) while it cut every mailbox's intake short
every ``WatchdogSec``. ``mailproc status`` shows every loop's state and last progress,
and each stall is kept in a short history (begin, end, the loop, its last error) that the
digest reports (mailproc.reports.digest). The history lives in the state file
(mailproc.runstate), which survives a restart and can be written on a full disk.

Everything here is in memory and thread-safe; marking costs a lock and a clock read, so
loops may mark after every message.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

log = logging.getLogger("mailproc.heartbeat")

#: states in which a loop is not doing its work
TROUBLE = ("waiting", "failing", "restarting")
#: stalls kept in the history (the digest reports those since the previous digest)
HISTORY = 50


@dataclass
class Beat:
    """One loop's heartbeat. ``state``: starting, working, idle, waiting (for a server that
    does not answer), failing (a round failed), restarting (the loop stopped on an error and
    is started again), stopped."""

    name: str
    period: float
    state: str = "starting"
    since: float = field(default_factory=time.time)
    progress_at: float = field(default_factory=time.time)
    alive_at: float = 0.0  # last sign of life inside a long round (not progress)
    trouble_since: float = 0.0  # when the current spell of trouble began (0: none)
    error: str = ""
    stall: dict | None = None  # the open stall record, while stalled
    restart_helps: bool = True  # False: a failing spell does not withhold the watchdog
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def progress(self, state: str = "working") -> None:
        """The loop did its work, or is idle by choice (``state="idle"``)."""
        now = time.time()
        with self._lock:
            if state != self.state:
                self.state, self.since = state, now
            self.progress_at = now
            self.trouble_since = 0.0
            self.error = ""

    def alive(self) -> None:
        """A sign of life inside a long round (a message done in a pass that has not
        committed all its work yet): keeps a healthy loop from looking hung, but is not
        progress, so a failing loop stays failing."""
        self.alive_at = time.time()

    def failing(self, why: str, state: str = "failing") -> None:
        """A round did not do its work (``why``: what failed, no personal data)."""
        with self._lock:
            if state != self.state:
                self.state, self.since = state, time.time()
            self.trouble_since = self.trouble_since or self.since
            self.error = why

    def stalled(self, now: float, stall_after: float) -> bool:
        """Failing (or waiting, or restarting) with no progress for ``stall_after``, or no
        mark at all for the loop's period plus ``stall_after`` (a hung loop)."""
        with self._lock:
            if self.state == "stopped":
                return False
            if self.state in TROUBLE:
                return now - self.trouble_since > stall_after
            return now - max(self.progress_at, self.alive_at) > self.period + stall_after

    def withholds(self, now: float, stall_after: float) -> bool:
        """Stalled in a way a restart may cure: any stall of a loop whose ``restart_helps``,
        else only a hang (no mark at all for its period plus ``stall_after``)."""
        if not self.stalled(now, stall_after):
            return False
        with self._lock:
            return self.restart_helps or self.state not in TROUBLE

    def snapshot(self, now: float, stall_after: float) -> dict:
        stalled = self.stalled(now, stall_after)
        with self._lock:
            return {"state": self.state, "since": _iso(self.since),
                    "last_progress_at": _iso(self.progress_at), "error": self.error,
                    "stalled": stalled}


class Loops:
    """Every loop's Beat, the stall check and the stall history."""

    def __init__(self, stall_after: float, history: list[dict] | None = None):
        self.stall_after = stall_after
        self.beats: dict[str, Beat] = {}
        self.history: list[dict] = list(history or [])[-HISTORY:]
        self._lock = threading.Lock()

    def beat(self, name: str, period: float, restart_helps: bool = True) -> Beat:
        with self._lock:
            beat = self.beats.get(name)
            if beat is None:
                beat = self.beats[name] = Beat(name, period, restart_helps=restart_helps)
            return beat

    def withholding(self, now: float | None = None) -> list[str]:
        """The names of the loops that withhold the watchdog (see Beat.withholds)."""
        now = time.time() if now is None else now
        return [b.name for b in list(self.beats.values()) if b.withholds(now, self.stall_after)]

    def check(self, now: float | None = None) -> list[str]:
        """The names of the stalled loops; opens and closes their history records and logs
        each stall once when it begins and once when it ends."""
        now = time.time() if now is None else now
        stalled = []
        for beat in list(self.beats.values()):
            if beat.stalled(now, self.stall_after):
                stalled.append(beat.name)
                if beat.stall is None:
                    beat.stall = {"loop": beat.name, "from": _iso(beat.trouble_since
                                                                  or beat.progress_at),
                                  "to": None, "error": beat.error}
                    with self._lock:
                        self.history = (self.history + [beat.stall])[-HISTORY:]
                    log.error("%s stalled since %s (%s)", beat.name,
                              beat.stall["from"], beat.error or beat.state)
                elif beat.error:
                    beat.stall["error"] = beat.error
            elif beat.stall is not None:
                beat.stall["to"] = _iso(now)
                log.warning("%s progressing again (stalled since %s)", beat.name,
                            beat.stall["from"])
                beat.stall = None
        return stalled

    def snapshot(self, now: float | None = None) -> dict:
        """What the state file keeps: every loop, the stalled ones, the stall history."""
        now = time.time() if now is None else now
        loops = {name: beat.snapshot(now, self.stall_after)
                 for name, beat in sorted(self.beats.items())}
        with self._lock:
            history = [dict(h) for h in self.history]
        return {"loops": loops, "stalled": sorted(n for n, b in loops.items() if b["stalled"]),
                "stalls": history}


def stalls_between(stalls: list[dict], start: str, end: str) -> list[dict]:
    """The stall records that overlap ``[start, end)`` (ISO 8601 UTC strings); an open one
    (``to`` is None) is still going on."""
    return [s for s in stalls if s["from"] < end and (s["to"] is None or s["to"] >= start)]


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(ts))

"""Keeping the daemon's loops running, and telling systemd only the truth.

``supervise`` runs one loop (an asyncio coroutine) and starts it again when it stops on an
exception, or returns while the daemon is not stopping: one warning line per stop (the
traceback at debug level), then a backoff of 1 s doubling to a minute. A loop that stops
``limit`` times in a row without progress between (its Beat, mailproc.heartbeat) cannot be
kept running here: ``give_up`` is called, and the daemon exits with code 70 so that systemd
starts a fresh process.

``heartbeat`` is the daemon's timer: every second it checks the loops for stalls (logging
each stall once), writes the state file (mailproc.runstate, at most every few seconds) and
sends systemd ``WATCHDOG=1`` (sd_notify(3)) only while no loop is stalled. A stalled loop
therefore lets ``WatchdogSec=`` run out, and systemd restarts the service; so does an event
loop that hangs, since this timer runs on it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from mailproc.faults import reason

log = logging.getLogger("mailproc.supervisor")

FIRST_DELAY = 1.0
MAX_DELAY = 60.0


async def supervise(beat, start: Callable[[], Awaitable[None]], stopping: asyncio.Event,
                    limit: int, give_up: Callable[[str], None],
                    first_delay: float = FIRST_DELAY) -> None:
    """Run ``start()`` until ``stopping``; restart it with backoff when it stops."""
    stops = 0
    delay = first_delay
    while not stopping.is_set():
        marked = beat.progress_at
        try:
            await start()
            if stopping.is_set():
                return
            why = "returned"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - this is where a loop's surprise ends up
            if stopping.is_set():
                return
            why = reason(exc)
            log.debug("%s traceback", beat.name, exc_info=True)
        if beat.progress_at > marked:  # it ran a while: a new spell of trouble
            stops, delay = 0, first_delay
        stops += 1
        if stops >= limit:
            log.error("%s stopped %d times in a row without progress (%s); exiting so that "
                      "systemd restarts the service", beat.name, stops, why)
            beat.failing(f"stopped: {why}", "stopped")
            give_up(beat.name)
            return
        beat.failing(f"stopped: {why}", "restarting")
        log.warning("%s stopped (%s); restarting in %.0f s", beat.name, why, delay)
        try:
            await asyncio.wait_for(stopping.wait(), timeout=delay)
        except asyncio.TimeoutError:
            pass
        delay = min(delay * 2, MAX_DELAY)


async def heartbeat(loops, flush: Callable[[], None], notify: Callable[[str], bool] | None,
                    tick: float = 1.0) -> None:
    """Check the loops, write the state, pet the watchdog while none withholds it."""
    from mailproc.logs import flush_repeats

    withheld = False
    while True:
        loops.check()  # logs and records every stall, the jobs' too
        stalled = loops.withholding()
        flush()
        flush_repeats()
        if notify is not None:
            if not stalled:
                notify("WATCHDOG=1")
                if withheld:
                    log.info("watchdog petted again")
                withheld = False
            elif not withheld:
                log.error("watchdog not petted while stalled: %s", ", ".join(stalled))
                withheld = True
        await asyncio.sleep(tick)

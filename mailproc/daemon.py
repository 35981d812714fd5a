"""The daemon: intake loop woken by the mailbox, until SIGTERM or SIGINT.

First cut: one thread, IDLE-or-poll wait between passes. The asyncio version with a separate
IDLE connection, the outbox sender and the scheduler replaces it.
"""

from __future__ import annotations

import logging
import signal
import threading

log = logging.getLogger("mailproc.daemon")


def run_daemon(app) -> int:
    stop = threading.Event()

    def on_signal(signum, _frame):
        log.info("signal %s: finishing the current message and stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with app.source() as source:
        intake = app.intake(source)
        while not stop.is_set():
            intake.run_once()
            source.wait(min(app.settings.mailbox.poll_interval, 1.0))
    return 0

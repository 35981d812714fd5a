"""systemd's notify protocol (sd_notify(3)), spoken directly on $NOTIFY_SOCKET.

With ``Type=notify`` systemd waits for ``READY=1`` before it counts the service as started; we
send it once the mailbox is connected, so "started" means "reading mail". With ``WatchdogSec=``
systemd restarts the service when ``WATCHDOG=1`` stops arriving; we send it from the event loop
and only while none of the daemon's loops is stalled (mailproc.supervisor.heartbeat), so a hung
event loop or a stalled intake, sender or job is restarted, not left silent. A datagram to a
Unix socket needs no library.
"""

from __future__ import annotations

import os
import socket


def notify(state: str) -> bool:
    """Send ``state`` (e.g. "READY=1") to systemd; False when not run under systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
        return True
    except OSError:
        return False


def watchdog_interval() -> float | None:
    """Half the watchdog timeout systemd set (WATCHDOG_USEC), or None when there is none."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 1_000_000 / 2
    except ValueError:
        return None

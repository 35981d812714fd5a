"""``python -m tests.drills.crashing_mailproc ARGS``: the real ``mailproc`` command with one
more rule action, ``crash-process``, that kills the process with SIGKILL, as the kernel's OOM
killer or systemd's ``MemoryMax`` would. Test-only: it makes a message that surely kills
mailproc in the middle of its processing (tests.drills.poison_drill)."""

from __future__ import annotations

import os
import signal
import sys

from mailproc.sorting.registry import action


@action("crash-process", "Учебное действие: процесс mailproc погибает (SIGKILL), как при "
        "нехватке памяти")
def crash_process(ctx) -> dict:
    os.kill(os.getpid(), signal.SIGKILL)
    return {}  # not reached


if __name__ == "__main__":
    from mailproc.cli import main

    sys.exit(main())

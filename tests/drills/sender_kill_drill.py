"""Drill: SIGKILL the sender at random moments while it sends; nothing may be lost, and every
message sent twice must be the window documented in mailproc.outbound.sender: the copy sent
again was the last message of a connection the kill cut, within 50 ms of the server taking
its final "." (so at most one per connection per kill; about one per kill in practice).

    .venv/bin/python -m tests.drills.sender_kill_drill [--messages 1000] [--kills 10]

The SMTP server (aiosmtpd, recording every message) runs in this process; the sender runs in a
child process (``deliver_due`` in a loop) that is killed with SIGKILL at a random moment while
it sends (after a random number of further arrivals, plus 0-20 ms), then
restarted, ``--kills`` times; a last child runs to the end. Prints the tally as JSON and exits 1
when a message was lost or a duplicate is not explained by a kill in that window.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def child(data_dir: str, smtp_url: str) -> int:
    """The sender under test: deliver until nothing is left to send."""
    from sqlalchemy import func, select

    from mailproc.app import App
    from mailproc.outbound.models import OutboxMessage
    from mailproc.outbound.sender import deliver_due
    from tests.servers.smtp import outbound_settings

    app = App(outbound_settings(data_dir, smtp_url, outbox={"batch": 50}))
    print("ready", flush=True)
    while True:
        deliver_due(app)
        with app.db.session() as s:
            left = s.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.state.in_(("queued", "sending"))))
        if not left:
            return 0
        time.sleep(0.05)


def run_drill(messages: int = 1000, kills: int = 10, workdir: str | None = None,
              seed: int | None = None, pipelining: bool = False) -> dict:
    from mailproc.app import App
    from tests.drills.outbound_common import fill_outbox, tally, window_gaps
    from tests.servers.smtp import SmtpServer, outbound_settings

    rng = random.Random(seed)
    work = Path(workdir or tempfile.mkdtemp(prefix="kill-drill-"))
    data = work / "data"
    with SmtpServer(pipelining=pipelining) as server:
        app = App(outbound_settings(data, server.url))
        fill_outbox(app, messages)
        cmd = [sys.executable, "-m", "tests.drills.sender_kill_drill", "--child", str(data),
               server.url]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        done_kills = 0
        kill_points = []
        kill_times: list[float] = []
        for _ in range(kills):
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
            proc.stdout.readline()  # "ready": imports done, the sender starts now
            before = len(server.messages)
            # a random moment while it sends: once a random number of further messages
            # arrived (spread so the kills cover the whole run), then a random 0-20 ms more so
            # the kill does not coincide with an arrival
            left = max(1, messages - len(server.messages))
            target = before + rng.randint(1, max(1, 2 * left // (kills - done_kills + 1)))
            while len(server.messages) < target and proc.poll() is None:
                server.wait_for(target, timeout=0.01)
            time.sleep(rng.uniform(0, 0.02))
            if proc.poll() is not None:
                break  # it finished everything before we could kill it
            kill_times.append(time.time())
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            done_kills += 1
            kill_points.append(len(server.messages) - before)
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
        proc.wait(timeout=600)
        time.sleep(0.2)
        result = tally(app, server.messages)
        gaps = window_gaps(server.messages, server.quits, kill_times)
    result.update(kills=done_kills, sent_between_kills=kill_points, in_window=len(gaps),
                  window_ms=[round(g * 1000, 1) for g in gaps])
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--messages", type=int, default=1000)
    p.add_argument("--kills", type=int, default=10)
    p.add_argument("--seed", type=int)
    p.add_argument("--pipelining", action="store_true",
                   help="the server advertises PIPELINING (RFC 2920), so the sender pipelines")
    p.add_argument("--child", nargs=2, metavar=("DATA", "SMTP_URL"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(*args.child)
    result = run_drill(args.messages, args.kills, seed=args.seed,
                       pipelining=args.pipelining)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    ok = result["lost"] == 0 and result["duplicates"] == result["in_window"] \
        and result["strangers"] == 0
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

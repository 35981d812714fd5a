"""Drill: the SMTP server refuses everything with 421 for a while in the middle of sending;
after it recovers every message must arrive exactly once.

    .venv/bin/python -m tests.drills.smtp_outage_drill [--messages 500] [--outage 60]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path


def run_outage(messages: int = 500, outage: float = 60.0, workdir: str | None = None,
               backoff: float = 2.0, pipelining: bool = False) -> dict:
    from sqlalchemy import func, select

    from mailproc.app import App
    from mailproc.outbound.models import OutboxMessage
    from mailproc.outbound.sender import deliver_due
    from tests.drills.outbound_common import fill_outbox, tally
    from tests.servers.smtp import SmtpServer, outbound_settings

    work = Path(workdir or tempfile.mkdtemp(prefix="outage-drill-"))
    with SmtpServer(pipelining=pipelining) as server:
        app = App(outbound_settings(work / "data", server.url,
                                    outbox={"retry_backoff": backoff,
                                            "retry_backoff_max": backoff * 4, "batch": 50}))
        fill_outbox(app, messages)

        def outage_in_the_middle():
            server.wait_for(messages // 5, timeout=120)
            server.refuse_all("421 4.3.2 Service shutting down, try later", seconds=outage)

        trigger = threading.Thread(target=outage_in_the_middle, daemon=True)
        trigger.start()
        started = time.monotonic()
        passes = 0
        while True:
            deliver_due(app)
            passes += 1
            with app.db.session() as s:
                left = s.scalar(select(func.count()).select_from(OutboxMessage).where(
                    OutboxMessage.state.in_(("queued", "sending"))))
            if not left:
                break
            if time.monotonic() - started > outage + 600:
                break
            time.sleep(0.1)
        result = tally(app, server.messages)
        result.update(refused_answers=server.refused, passes=passes,
                      seconds=round(time.monotonic() - started, 1))
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--messages", type=int, default=500)
    p.add_argument("--outage", type=float, default=60.0)
    p.add_argument("--pipelining", action="store_true",
                   help="the server advertises PIPELINING (RFC 2920)")
    args = p.parse_args(argv)
    result = run_outage(args.messages, args.outage, pipelining=args.pipelining)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    ok = result["lost"] == 0 and result["duplicates"] == 0 and result["refused_answers"] > 0
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

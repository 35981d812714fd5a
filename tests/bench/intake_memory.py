"""Memory: peak RSS of ``mailproc run --once`` processing one 40 MB message (target under
300 MB), against the peak RSS of the same command on an empty mailbox (the baseline); and the
RSS of a running daemon after N1 vs N2 ordinary messages (target: within 20%).

With ``--shipped-rules`` the same two figures with the shipped rules at work (issue 18): the
40 MB message is a reader's registration letter the rules take into the vault, hand to ЦКО
and send (file: outbox), and the daemon reads the seeded realistic mailbox (every kind of
mail, registrations with photos and scans among them).

    .venv/bin/python -m tests.bench.intake_memory [--first 1000] [--second 10000]
    .venv/bin/python -m tests.bench.intake_memory --shipped-rules [--first 100 --second 1000]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from tests.servers.dovecot import DovecotServer
from tests.servers.mailproc import MailprocSetup, wait_for


def _letter(sender: str, subject: str, message_id: str, text: str) -> EmailMessage:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = "personbibl@nlrs.example"
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    msg.set_content(text)
    return msg


def big_message(mb: int = 40, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    msg = _letter("reader@example.org", "Большой скан", "<big@example.org>",
                  "Во вложении скан книги.")
    part = mb * 1024 * 1024 * 3 // 4 // 2
    for k in range(2):
        msg.add_attachment(b"%PDF-1.4\n" + rng.randbytes(part), maintype="application",
                           subtype="pdf", filename=f"scan{k}.pdf")
    return msg.as_bytes()


def registration_message(mb: int = 40, seed: int = 1) -> bytes:
    """A reader's registration letter of about ``mb`` MB: the form as a 12 Mpx phone photo,
    the application and the consent as PDF scans filling the rest. The shipped rules check
    and seal all three into the vault; the set is complete, so the case is handed to ЦКО at
    once (vault -> sealed outbox blobs) and sent by the same run."""
    import io

    from PIL import Image

    rng = random.Random(seed)
    msg = _letter("Иван Петров <reader@example.org>", "Регистрация",
                  "<registration-big@example.org>",
                  "Здравствуйте! Высылаю документы для регистрации: анкету, заявление и согласие.")
    photo = io.BytesIO()
    Image.effect_noise((3000, 4000), 60).convert("RGB").save(photo, "JPEG", quality=85)
    msg.add_attachment(photo.getvalue(), maintype="image", subtype="jpeg",
                       filename="анкета.jpg")
    rest = (mb * 1024 * 1024 * 3 // 4 - len(photo.getvalue())) // 2
    for name in ("заявление.pdf", "согласие.pdf"):
        msg.add_attachment(b"%PDF-1.4\n1 0 obj << /Type /Page >> endobj\n" + rng.randbytes(rest)
                           + b"\n%%EOF\n", maintype="application", subtype="pdf",
                           filename=name)
    return msg.as_bytes()


def small_message(i: int) -> bytes:
    return (f"From: reader{i}@example.org\r\nTo: personbibl@nlrs.example\r\n"
            f"Subject: обычное письмо {i}\r\nMessage-ID: <mem-{i}@example.org>\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n" + "Текст письма.\r\n" * 20
            ).encode()


def peak_rss_mb(setup: MailprocSetup, *args: str) -> float:
    """Peak RSS (VmHWM, read from /proc while it runs) of one ``mailproc`` run. Not wait4's
    ru_maxrss: that counts the pages of this (big) process the child had before exec."""
    proc = subprocess.Popen([sys.executable, "-m", "mailproc", *args], env=setup.run_env(),
                            cwd=setup.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, _status_mb(proc.pid, "VmHWM:"))
        time.sleep(0.005)
    if proc.returncode != 0:
        raise RuntimeError(f"mailproc {' '.join(args)} exited {proc.returncode}")
    return peak


def _status_mb(pid: int, key: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def rss_mb(pid: int) -> float:
    return _status_mb(pid, "VmRSS:")


def big_message_rss(mb: int = 40, shipped: bool = False) -> dict:
    """Peak RSS of ``run --once`` on one big message; ``shipped``: the registration letter
    with the shipped rules (vault key set), whose case must end handed to ЦКО."""
    from tests.bench.rows import shipped_rules

    with DovecotServer() as server:
        setup = MailprocSetup(Path(tempfile.mkdtemp(prefix="mailproc-bench-")), server)
        if shipped:
            shipped_rules(setup)
        baseline = peak_rss_mb(setup, "run", "--once")
        raw = registration_message(mb) if shipped else big_message(mb)
        server.deliver_many([raw])
        peak = peak_rss_mb(setup, "run", "--once")
        done = setup.sql("SELECT state FROM messages")
        cases = setup.sql("SELECT state FROM registration_cases") if shipped else []
    return {"size_mb": len(raw) / 1024 / 1024, "baseline_mb": baseline, "peak_mb": peak,
            "states": [s for (s,) in done], "cases": [s for (s,) in cases]}


def growth_rss(first: int = 1000, second: int = 10000, shipped: bool = False) -> dict:
    """Daemon RSS after ``first`` vs ``second`` messages: small text ones, or (``shipped``)
    the seeded realistic mailbox with the shipped rules at work."""
    from tests.bench.mailbox_gen import mailbox
    from tests.bench.rows import shipped_rules

    def messages(start: int, stop: int):
        if shipped:
            return mailbox(stop - start, seed=1, start=start)
        return (small_message(i) for i in range(start, stop))

    with DovecotServer() as server:
        setup = MailprocSetup(Path(tempfile.mkdtemp(prefix="mailproc-bench-")), server)
        if shipped:
            shipped_rules(setup)
        proc = setup.spawn("run")
        try:
            wait_for(lambda: setup.daemon_state().get("mailbox") == "connected", timeout=60)

            def done(n: int) -> bool:  # the shipped rules send some to review: also done
                got = setup.sql("SELECT count(*) FROM messages "
                                "WHERE state IN ('done', 'review')")
                return bool(got) and got[0][0] >= n

            server.deliver_many(messages(0, first))
            wait_for(lambda: done(first), timeout=1800, interval=0.5)
            time.sleep(2)
            after_first = rss_mb(proc.pid)
            server.deliver_many(messages(first, second))
            wait_for(lambda: done(second), timeout=3600, interval=0.5)
            time.sleep(2)
            after_second = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return {"first": first, "second": second, "rss_first_mb": after_first,
            "rss_second_mb": after_second, "ratio": after_second / after_first}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=40)
    ap.add_argument("--first", type=int, default=1000)
    ap.add_argument("--second", type=int, default=10000)
    ap.add_argument("--skip-growth", action="store_true")
    ap.add_argument("--shipped-rules", action="store_true",
                    help="a registration letter and the realistic mailbox, shipped rules")
    args = ap.parse_args()
    shipped = args.shipped_rules
    r = big_message_rss(args.size_mb, shipped)
    what = "registration letter, shipped rules" if shipped else "message"
    print(f"{r['size_mb']:.0f} MB {what}: peak RSS {r['peak_mb']:.0f} MB (empty mailbox "
          f"{r['baseline_mb']:.0f} MB; ratio {r['peak_mb'] / r['baseline_mb']:.2f}; target "
          f"under 300 MB); row state {r['states']}" + (f", case {r['cases']}" if shipped else ""))
    if not args.skip_growth:
        g = growth_rss(args.first, args.second, shipped)
        print(f"daemon RSS after {g['first']} messages {g['rss_first_mb']:.0f} MB, after "
              f"{g['second']} {g['rss_second_mb']:.0f} MB: ratio {g['ratio']:.2f} "
              f"(target <= 1.20)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

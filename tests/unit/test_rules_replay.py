"""``mailproc rules replay`` over a real history (the 14 demo messages and two department
replies to our own mail, SQLite, the shipped rules and one rule that only a fact from the
outbox satisfies): one connection, no fact dropped, unchanged rules change nothing, fast, a
progress line on a terminal only.

Issue 22: the facts' table look-up opened a second connection while the replay held its
session; on SQLite (BEGIN IMMEDIATE) it waited the 30 s busy timeout, failed, and every fact
from the outbox was silently dropped, so department replies recognised as answers to our mail
were decided again as something else ("unchanged rules: 2 changes", issue 21).
"""

from __future__ import annotations

import json
import os
import pty
import select as select_fd
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from mailproc.cli import main
from mailproc.demo import __file__ as demo_init
from mailproc.outbound.outbox import enqueue
from mailproc.store.models import Message

from tests.unit.test_sorting_runtime import deliver, env  # noqa: F401 - fixture

DEMO = Path(demo_init).parent / "messages"

#: decided by the outbox alone: the letter answers a Message-ID we sent (no token in it)
OURS_RULE = """- name: Ответы на наши письма
  description: Ответ на письмо, которое отправила программа.
  when: reply-to-our-message
  then:
    - set-category: answer
    - move-to-folder: Ответы на наши письма
"""


def department_reply(sender: str, our_id: str, n: int) -> bytes:
    """A department writing back to our mail: no "Re:", no case number, no attachment; only
    In-Reply-To says it answers us (the rule «Ответы отделов»: reply-to-our-message)."""
    return (f"From: Отдел <{sender}>\r\nTo: personbibl@nlrs.example\r\n"
            f"Subject: Уточнение {n}\r\nMessage-ID: <dept-answer-{n}@nlrs.example>\r\n"
            f"In-Reply-To: {our_id}\r\nDate: Thu, 26 Nov 2026 10:00:00 +0900\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\nСделаем на этой неделе.\r\n"
            ).encode()


def history(app, source) -> int:
    (Path(app.settings.paths.rules) / "11-ours.yaml").write_text(OURS_RULE, encoding="utf-8")
    for path in sorted(DEMO.glob("*.eml")):
        deliver(source, path.read_bytes())
    with app.db.transaction() as s:  # our own mail to two departments, no case token
        ours = [enqueue(s, app.settings, to=addr, template="librarians/notice",
                        context={"title": "Проверка", "lines": [], "what_to_do": ""},
                        kind="notice").message_id
                for addr in ("bo@nlrs.example", "content@nlrs.example")]
    for n, (addr, our_id) in enumerate(zip(("bo@nlrs.example", "content@nlrs.example"),
                                           ours)):
        deliver(source, department_reply(addr, our_id, n))
    stats = app.intake(source).run_once()
    with app.db.session() as s:
        replies = list(s.scalars(select(Message.category).where(
            Message.message_id.like("<dept-answer-%"))))
    assert replies == ["answer", "answer"]  # recognised as answers to our mail
    return stats.processed


def test_unchanged_rules_change_nothing_and_finish_fast(env, capsys):  # noqa: F811
    app, source, cfg = env
    processed = history(app, source)
    app.db.dispose()
    capsys.readouterr()
    started = time.perf_counter()
    assert main(["--config", str(cfg), "rules", "replay", "--json"]) == 0
    elapsed = time.perf_counter() - started
    out = capsys.readouterr()
    data = json.loads(out.out)
    assert data["seen"] == processed == 16
    assert data["changes"] == []
    assert out.err == ""  # not a terminal: no progress line
    assert elapsed < 1.0, f"replay took {elapsed:.2f} s"


def test_progress_on_a_terminal(env):  # noqa: F811
    app, source, cfg = env
    history(app, source)
    app.db.dispose()
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "mailproc", "--config", str(cfg), "rules",
                             "replay"], stdout=subprocess.PIPE, stderr=slave,
                            env={**os.environ})
    os.close(slave)
    shown = b""
    while True:
        ready, _, _ = select_fd.select([master], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        shown += chunk
    out, _ = proc.communicate(timeout=60)
    os.close(master)
    assert proc.returncode == 0
    assert "письмо 16 из 16" in shown.decode()
    assert "изменений нет" in out.decode() and "письмо 16" not in out.decode()

"""The librarians' digest: its figures equal plain-SQL counts over a database the workflows
filled; it is queued once per working day at the set time (restarts included) and the mail
that reaches the transport carries the overdue orders first, by token."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, text

from mailproc.app import App
from mailproc.cli import main
from mailproc.outbound.models import OutboxMessage
from mailproc.outbound.sender import deliver_due
from mailproc.reports.digest import build_digest, is_due, previous_digest, send_digest_if_due
from tests.unit.test_report_world import DIGEST_AT, world  # noqa: F401 - the fixture

UTC = timezone.utc
SINCE = "2026-11-24 23:30:00"  # Wednesday 25 November 08:30 in Yakutsk, as stored
NOW = "2026-11-25 23:30:00"


@pytest.fixture(scope="module")
def digest(world):
    with world.db.session() as s:
        return build_digest(s, world.settings, DIGEST_AT)


def one(world, query: str) -> int:
    with world.db.session() as s:
        return s.execute(text(query), {"since": SINCE, "now": NOW}).scalar()


def test_figures_equal_sql(world, digest):
    overdue = one(world, "SELECT count(*) FROM orders WHERE state = 'overdue' OR (state IN "
                         "('requested', 'photographed', 'sent_to_lod') AND deadline_at < :now)")
    assert digest["orders"]["overdue"]["count"] == overdue == 5
    assert digest["orders"]["open"] == one(
        world, "SELECT count(*) FROM orders WHERE state NOT IN "
               "('delivered', 'cannot_fulfil', 'cancelled')")
    assert digest["questions"]["count"] == one(
        world, "SELECT count(*) FROM question_cases WHERE state IN ('new', 'drafted', 'routed')")
    assert digest["review"]["count"] == one(
        world, "SELECT count(*) FROM messages WHERE state IN ('review', 'review-pending')") == 2
    assert digest["registrations"]["incomplete"]["count"] == one(
        world, "SELECT count(*) FROM registration_cases WHERE state = 'incomplete'") == 3
    assert digest["registrations"]["new"]["count"] == one(
        world, "SELECT count(*) FROM registration_cases WHERE created_at >= :since "
               "AND created_at < :now") == 1
    assert digest["failures"]["failed"]["count"] == one(
        world, "SELECT count(*) FROM outbox WHERE state IN ('failed', 'error')") == 1
    assert digest["failures"]["suppressed"]["count"] == one(
        world, "SELECT count(*) FROM suppressions WHERE suppressed") == 1
    assert digest["failures"]["bounces"] == one(
        world, "SELECT count(*) FROM messages WHERE category = 'bounce' AND received_at >= :since "
               "AND received_at < :now") == 1
    # yesterday (25 November in Yakutsk) one issue went: 2 sent, 1 failed
    sent = one(world, "SELECT count(*) FROM mailing_deliveries d JOIN mailing_issues i ON "
                      "i.id = d.issue_id WHERE i.created_at >= '2026-11-24 15:00:00' AND "
                      "i.created_at < '2026-11-25 15:00:00' AND d.status = 'sent'")
    assert [(m["name"], m["sent"], m["failed"]) for m in digest["mailings"]["yesterday"]] == [
        ("краеведение", sent, 1)]


def test_overdue_orders_come_oldest_first_with_their_tags(world, digest):
    with world.db.session() as s:
        tokens = [t for (t,) in s.execute(text(
            "SELECT token FROM orders WHERE state IN ('requested', 'overdue') AND deadline_at "
            "< :now ORDER BY deadline_at"), {"now": NOW})]
    assert [o["token"] for o in digest["orders"]["overdue"]["shown"]] == tokens
    assert digest["orders"]["overdue"]["shown"][0]["tag"] == f"[НБ {tokens[0]}]"


def test_due_on_working_mornings_only(world):
    s = world.settings
    thursday = datetime(2026, 11, 26, 8, 30, tzinfo=s.tz)
    assert is_due(s, thursday) and not is_due(s, thursday - timedelta(minutes=1))
    assert not is_due(s, datetime(2026, 11, 28, 12, 0, tzinfo=s.tz))  # Saturday
    assert not is_due(s, datetime(2026, 11, 4, 12, 0, tzinfo=s.tz))  # Unity Day, a holiday
    monday = datetime(2026, 11, 30, 8, 30, tzinfo=s.tz)
    assert previous_digest(s, monday) == datetime(2026, 11, 27, 8, 30, tzinfo=s.tz)


def test_sent_once_per_day_across_restarts_and_reaches_the_transport(world, tmp_path):
    app = App(world.settings)
    before = datetime(2026, 11, 26, 8, 29, tzinfo=world.settings.tz)
    assert send_digest_if_due(app, before) is None
    first = send_digest_if_due(app, DIGEST_AT)
    assert first is not None
    assert send_digest_if_due(app, DIGEST_AT + timedelta(hours=3)) is None
    restarted = App(world.settings)  # a new process the same day
    assert send_digest_if_due(restarted, DIGEST_AT + timedelta(hours=5)) is None
    with world.db.session() as s:
        rows = list(s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "digest")))
    assert [r.id for r in rows] == [first]
    assert rows[0].dedupe_key == "digest:2026-11-26"
    assert list(rows[0].recipients) == [world.settings.mail.librarians_address]

    stats = deliver_due(restarted)
    assert stats.sent >= 1
    folder = world.settings.smtp.url.removeprefix("file:")
    sent = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(Path(folder).rglob("*.eml"))]
    digest_mail = [m for m in sent if m["Subject"].startswith("Сводка на 26 ноября 2026 г.")]
    assert len(digest_mail) == 1
    body = digest_mail[0].get_body(("plain",)).get_content()
    assert body.index("ПРОСРОЧЕННЫЕ ЗАКАЗЫ: 5") < body.index("ЗАКАЗЫ В РАБОТЕ")
    with world.db.session() as s:
        for (token,) in s.execute(text("SELECT token FROM orders WHERE state = 'requested' AND "
                                       "deadline_at < :now"), {"now": NOW}):
            assert f"[НБ {token}]" in body
    assert "№" in body and "вложение не открывается" in body
    assert "вчера «краеведение»: отправлено 2 из 3, не ушло 1" in body
    assert digest_mail[0]["Auto-Submitted"] == "auto-generated"


def test_command_prints_the_digest_for_a_day(world, tmp_path, capsys):
    config = tmp_path / "mailproc.toml"
    config.write_text(f'[database]\nurl = "{world.settings.database.url}"\n'
                      f'[paths]\ntemplates = "{world.settings.paths.templates}"\n'
                      f'rules = "{world.settings.paths.rules}"\n', encoding="utf-8")
    assert main(["--config", str(config), "digest", "--date", "2026-11-26"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Тема: Сводка на 26 ноября 2026 г.: ждут внимания")
    assert "ПАПКА «НА РАЗБОР»: 2" in out
    assert main(["--config", str(config), "digest", "--date", "26.11.2026"]) == 2


def test_status_shows_what_waits_and_the_next_digest(world, tmp_path, capsys):
    import json

    config = tmp_path / "mailproc.toml"
    config.write_text(f'[database]\nurl = "{world.settings.database.url}"\n'
                      f'[paths]\ndata = "{tmp_path / "data"}"\n'
                      f'rules = "{world.settings.paths.rules}"\n', encoding="utf-8")
    assert main(["--config", str(config), "status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    overdue = one(world, "SELECT count(*) FROM orders WHERE state = 'overdue' OR (state IN "
                         "('requested', 'photographed', 'sent_to_lod') AND deadline_at < "
                         "datetime('now'))")
    assert data["overdue_orders"] == overdue
    assert data["outbox"]["queued"] == one(world, "SELECT count(*) FROM outbox "
                                                  "WHERE state = 'queued'")
    assert data["outbox"]["failed"] == one(world, "SELECT count(*) FROM outbox "
                                                  "WHERE state = 'failed'")
    assert data["review"] == 2
    assert data["next_runs"]["digest"] is not None


def test_digest_reports_the_daemons_stalls_since_the_last_digest(world, tmp_path, capsys):
    """The daemon's stall history (its state file, mailproc.runstate) reaches the digest:
    a stall since the previous digest is listed in Russian with its cause; an older one
    is not."""
    from mailproc.heartbeat import Loops
    from mailproc.runstate import RunState

    data = tmp_path / "data"
    state = RunState()
    state.loops = Loops(60, history=[
        {"loop": "intake default", "from": "2026-11-25T05:02:00+00:00",
         "to": "2026-11-25T05:31:00+00:00", "error": "storage: disk full"},
        {"loop": "sender", "from": "2026-11-20T05:02:00+00:00",
         "to": "2026-11-20T05:10:00+00:00", "error": "database: OperationalError"}])
    state.update(data, mailbox="stopped")
    state.reset()
    config = tmp_path / "mailproc.toml"
    config.write_text(f'[database]\nurl = "{world.settings.database.url}"\n'
                      f'[paths]\ntemplates = "{world.settings.paths.templates}"\n'
                      f'data = "{data}"\n'
                      f'rules = "{world.settings.paths.rules}"\n', encoding="utf-8")
    assert main(["--config", str(config), "digest", "--date", "2026-11-26"]) == 0
    out = capsys.readouterr().out
    assert "ПЕРЕРЫВЫ В РАБОТЕ mailproc: 1" in out
    assert ("- чтение почтового ящика: с 25 ноября 2026 г., 14:02 до 25 ноября 2026 г., 14:31 "
            "(диск сервера заполнен)") in out
    assert "отправка писем" not in out

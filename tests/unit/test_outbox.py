"""The outbox without a server: what ``enqueue`` writes, splitting, bounces, suppression, the
deterministic MIME build. (Delivery against a real SMTP server: tests/integration.)"""

from __future__ import annotations

import email
import email.policy

import pytest
from sqlalchemy import func, select

from mailproc.app import App
from mailproc.letter import Bounce, decode_letter
from mailproc.outbound.bounces import handle_bounce
from mailproc.outbound.models import OutboxMessage, Suppression
from mailproc.outbound.outbox import OutAttachment, enqueue, split_attachments
from mailproc.outbound.sender import Sender, backoff
from tests.servers.smtp import outbound_settings

NOTICE = {"title": "Т", "lines": ["строка"], "what_to_do": "ничего"}


@pytest.fixture
def app(tmp_path):
    return App(outbound_settings(tmp_path / "data", f"file:{tmp_path}/out"))


def _count(app, **where) -> int:
    with app.db.session() as s:
        q = select(func.count()).select_from(OutboxMessage)
        for k, v in where.items():
            q = q.where(getattr(OutboxMessage, k) == v)
        return s.scalar(q)


def test_enqueue_is_part_of_the_callers_transaction(app):
    with pytest.raises(RuntimeError):
        with app.db.transaction() as s:
            enqueue(s, app.settings, to="a@example.org", template="librarians/notice",
                    context=NOTICE, kind="notice")
            raise RuntimeError("the decision failed")
    assert _count(app) == 0


def test_dedupe_key_returns_the_existing_row(app):
    with app.db.transaction() as s:
        first = enqueue(s, app.settings, to="a@example.org", template="librarians/notice",
                        context=NOTICE, kind="notice", dedupe_key="k1")
        again = enqueue(s, app.settings, to="a@example.org", template="librarians/notice",
                        context=NOTICE, kind="notice", dedupe_key="k1")
        assert again.id == first.id
    assert _count(app) == 1


def test_message_id_at_our_domain_and_fixed(app):
    with app.db.transaction() as s:
        row = enqueue(s, app.settings, to="a@example.org", template="librarians/notice",
                      context=NOTICE, kind="notice")
        assert row.message_id.startswith("<mp.") and row.message_id.endswith("@nlrs.ru>")
    sender = Sender(app.settings, app.db)
    with app.db.session() as s:
        row = s.get(OutboxMessage, row.id)
        assert sender.raw_of(row) == sender.raw_of(row)  # the same bytes on every build


def test_template_error_row_waits_with_the_error(app):
    with app.db.transaction() as s:
        row = enqueue(s, app.settings, to="a@example.org", template="reader/card_issued",
                      context={"reader_name": "А"}, kind="notice")
        assert row.state == "error" and "card_number" in row.error
        assert row.text == "" and row.subject == ""
        row_id = row.id
    from mailproc.outbound.outbox import rerender
    with app.db.transaction() as s:
        row = s.get(OutboxMessage, row_id)
        row.context = {"reader_name": "А", "card_number": "77"}
        rerender(app.settings, row)
        assert row.state == "queued" and "77" in row.text


def test_split_attachments_packs_under_the_limit():
    items = [(f"f{i}", "h", 300) for i in range(5)]
    groups = split_attachments(items, 64 * 1024 + 900)
    assert [len(g) for g in groups] == [2, 2, 1]
    assert split_attachments([], 1000) == [[]]
    assert [len(g) for g in split_attachments([("big", "h", 10**6)], 1000)] == [1]


def test_in_reply_to_threads_and_prefixes_re(app):
    letter = decode_letter(b"From: a@example.org\r\nSubject: Re: Help\r\nMessage-ID: <m2@x>\r\n"
                           b"References: <m0@x> <m1@x>\r\n\r\nhi\r\n")
    with app.db.transaction() as s:
        row = enqueue(s, app.settings, to="a@example.org", template="librarians/notice",
                      context=NOTICE, kind="reply", in_reply_to=letter)
        assert row.subject == "Re: Help"
        assert row.headers["extra"]["In-Reply-To"] == "<m2@x>"
        assert row.headers["extra"]["References"] == "<m0@x> <m1@x> <m2@x>"


def _bounce_letter(original: str, rcpt: str, permanent: bool):
    letter = decode_letter(b"From: MAILER-DAEMON@example.org\r\nSubject: failure\r\n\r\nx\r\n")
    letter.bounce = Bounce(original_message_id=original, failed_recipients=[rcpt],
                           status="5.1.1" if permanent else "4.2.2",
                           diagnostic="user unknown" if permanent else "mailbox full",
                           permanent=permanent)
    return letter


def test_hard_bounce_fails_row_and_suppresses(app):
    with app.db.transaction() as s:
        row = enqueue(s, app.settings, to="dead@example.org", template="librarians/notice",
                      context=NOTICE, kind="notice")
        mid, row_id = row.message_id, row.id
    with app.db.transaction() as s:
        result = handle_bounce(s, app.settings, _bounce_letter(mid, "dead@example.org", True))
    assert result == {"outbox": row_id, "permanent": True, "recipients": 1, "suppressed": 1}
    with app.db.session() as s:
        row = s.get(OutboxMessage, row_id)
        assert row.state == "failed" and "5.1.1" in row.error
    with app.db.transaction() as s:
        assert enqueue(s, app.settings, to="Dead@Example.org", template="librarians/notice",
                       context=NOTICE, kind="notice") is None


def test_soft_bounces_suppress_after_the_limit(app):
    limit = app.settings.outbox.soft_bounce_limit
    for i in range(limit):
        with app.db.transaction() as s:
            handle_bounce(s, app.settings, _bounce_letter("<unknown@x>", "full@example.org",
                                                          False))
        with app.db.session() as s:
            sup = s.scalar(select(Suppression))
            assert sup.soft_bounces == i + 1 and sup.suppressed == (i + 1 >= limit)


def test_mailing_unsubscribe_without_url_is_mailto_only(app):
    with app.db.transaction() as s:
        row = enqueue(s, app.settings, to="org@example.org", template="mailing/el_services",
                      kind="mailing", context={"contact_name": "М", "organisation": "О",
                                               "event_title": "Е",
                                               "event_date": "2026-12-10T15:00:00+09:00"})
        extra = row.headers["extra"]
        assert extra["List-Unsubscribe"].startswith("<mailto:personbibl@nlrs.ru?subject=")
        assert "List-Unsubscribe-Post" not in extra


def test_backoff_doubles_and_is_capped(app):
    s = app.settings
    assert s.outbox.retry_backoff * 0.8 <= backoff(s, 1) <= s.outbox.retry_backoff * 1.2
    assert backoff(s, 30) <= s.outbox.retry_backoff_max * 1.2


def test_raw_message_encodings(app, tmp_path):
    with app.db.transaction() as s:
        row = enqueue(s, app.settings, to="Анна <a@example.org>", template="librarians/notice",
                      context=NOTICE, kind="notice",
                      attachments=[OutAttachment("Скан №1.pdf", "application/pdf", b"%PDF")])
        row_id = row.id
    with app.db.session() as s:
        raw = Sender(app.settings, app.db).raw_of(s.get(OutboxMessage, row_id))
    head, _, _ = raw.partition(b"\r\n\r\n")
    assert head.isascii() and b"\r\n" in raw
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    (att,) = list(msg.iter_attachments())
    assert att.get_filename() == "Скан №1.pdf" and att.get_content() == b"%PDF"


def test_recover_uses_the_journal_of_a_dead_sender(app):
    """A row left in ``sending`` by a killed sender is sent again, unless that sender's
    journal says the server already accepted it (then it is recorded as sent)."""
    import socket

    from mailproc.outbound.sender import Journal
    from mailproc.outbound.transport import SendResult

    with app.db.transaction() as s:
        ids = [enqueue(s, app.settings, to=f"r{i}@example.org", template="librarians/notice",
                       context=NOTICE, kind="notice").id for i in range(2)]
    dead = f"{socket.gethostname()}:999999:abc"  # no such pid
    with app.db.transaction() as s:
        for row in s.scalars(select(OutboxMessage)):
            row.state, row.claim = "sending", dead
            from mailproc.store.base import utcnow
            row.claimed_at = utcnow()
    sender = Sender(app.settings, app.db)
    Journal(sender.journal_dir, dead).write(ids[0], SendResult(["r0@example.org"], {}, "250 ok"))
    assert sender.recover() == 1
    with app.db.session() as s:
        first, second = (s.get(OutboxMessage, i) for i in ids)
        assert first.state == "sent" and first.recipients["r0@example.org"]["state"] == "sent"
        assert second.state == "queued"
    assert not list(sender.journal_dir.glob("*.jsonl"))


def test_per_domain_rate_limit_spaces_messages(tmp_path, monkeypatch):
    """smtp.domain_rate=10: the third message to one domain waits about 0.2 s, another
    domain does not wait (the waits asked for are recorded, no clock is asserted)."""
    import asyncio

    from mailproc.outbound import sender as sender_mod

    app = App(outbound_settings(tmp_path / "d", "file:/dev/null", smtp={"domain_rate": 10}))
    waits: list[float] = []

    async def fake_sleep(seconds):
        waits.append(seconds)

    monkeypatch.setattr(sender_mod.asyncio, "sleep", fake_sleep)
    s = Sender(app.settings, app.db)

    async def go():
        for addr in ["a@x.org", "b@x.org", "c@x.org", "d@y.org"]:
            await s._pace([addr])

    asyncio.run(go())
    assert len(waits) == 2 and 0.05 < waits[0] <= 0.1 and 0.15 < waits[1] <= 0.2

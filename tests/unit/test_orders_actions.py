"""The sorting actions and conditions for orders, run as the Sorter runs them: in a real
transaction with an ActionContext, on decoded letters."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from mailproc.errors import MessageError
from mailproc.letter import decode_letter
from mailproc.orders import states as st
from mailproc.orders.actions import create_order_action, order_reply_action
from mailproc.orders.conditions import order_reply, order_request
from mailproc.orders.models import Order
from mailproc.outbound.models import OutboxMessage
from mailproc.sorting.context import ActionContext
from mailproc.sorting.decision import Decision
from mailproc.sorting.facts import offline_facts
from mailproc.sorting.directory import load_directory
from mailproc.store import open_database
from mailproc.store.models import Message
from mailproc.tokens import Tokens
from tests.unit.test_orders_helpers import REPO, jpeg, mail, order_settings

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def world(tmp_path):
    settings = order_settings(tmp_path)
    db = open_database(settings.database.url)
    yield settings, db, load_directory(REPO / "rules" / "departments.yaml")
    db.dispose()


def run(world, action, raw: bytes | None = None, letter=None):
    settings, db, directory = world
    letter = letter or decode_letter(raw)
    with db.transaction() as s:
        row = Message(mailbox="INBOX", uidvalidity=1, uid=letter.message_id, content_hash="")
        s.add(row)
        s.flush()
        ctx = ActionContext(session=s, settings=settings, letter=letter, message=row,
                            decision=Decision("order", "test"), directory=directory,
                            tokens=Tokens.from_settings(settings), now=NOW)
        return action(ctx), ctx


def facts_for(world, raw: bytes):
    settings, _db, directory = world
    letter = decode_letter(raw)
    facts = offline_facts(letter, Tokens.from_settings(settings))
    facts.directory = directory
    return letter, facts


def sent(world, template: str) -> list[OutboxMessage]:
    with world[1].session() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.template == template)))


def test_reader_request_becomes_an_order_at_the_right_fund(world):
    raw = mail(sender="Анна <anna@example.org>", subject="Заказ",
               text="Прошу «Олонхо», шифр СБ 12, с. 3-5")
    assert order_request(*facts_for(world, raw))
    result, ctx = run(world, create_order_action, raw)
    assert result == {"order": "2026-00001", "state": "requested", "department": "sandaly"}
    assert "order" in ctx.keywords
    assert [list(r.recipients) for r in sent(world, "department/fragment_request")] == [
        ["sandaly@nlrs.example"]]


def test_needs_details_then_the_readers_answer_completes_it(world):
    raw = mail(sender="anna@example.org", subject="Заказ фрагмента",
               text="Пришлите, пожалуйста, фрагмент книги «Олонхо»", message_id="<q1@example.org>")
    assert order_request(*facts_for(world, raw))
    result, _ = run(world, create_order_action, raw)
    assert result["state"] == st.NEEDS_DETAILS and result["missing"] == "pages,fund"
    ask = sent(world, "reader/order_needs_details")[0]
    assert ask.headers["extra"]["In-Reply-To"] == "<q1@example.org>"
    answer = mail(sender="anna@example.org", subject="Re: " + ask.subject,
                  text="Шифр КМ 5, страницы 10-12", in_reply_to=ask.message_id)
    assert order_request(*facts_for(world, answer))
    result, _ = run(world, create_order_action, answer)
    assert result["state"] == st.REQUESTED and result["department"] == "sandaly"
    with world[1].session() as s:
        order = s.scalar(select(Order))
        assert (order.fund_code, order.pages, order.title) == ("КМ", "10-12", "Олонхо")
        assert s.scalar(select(Order).where(Order.id != order.id)) is None


def test_someone_elses_order_token_goes_to_review(world):
    run(world, create_order_action, mail(sender="anna@example.org", text="«Олонхо», КХ, с. 1"))
    marker = "mailproc-case:o2026-00001"
    with pytest.raises(MessageError, match="belongs to another reader"):
        run(world, create_order_action, mail(sender="eve@example.org", text=f"> {marker}"))


def test_department_reply_conditions(world):
    photo = [("p.jpg", "image/jpeg", jpeg("x"))]
    assert order_reply(*facts_for(world, mail(sender="storage@nlrs.example", files=photo)))
    assert order_reply(*facts_for(world, mail(sender="lod@nlrs.example", files=photo)))
    assert order_reply(*facts_for(world, mail(sender="storage@nlrs.example",
                                              text="Книги нет в фонде")))
    # ЦКО's card numbers and a stranger's photos are not order replies
    assert not order_reply(*facts_for(world, mail(sender="cko@nlrs.example", files=photo)))
    assert not order_reply(*facts_for(world, mail(sender="x@example.org", files=photo)))
    assert not order_request(*facts_for(world, mail(sender="storage@nlrs.example",
                                                    text="«Олонхо», КХ, с. 1")))


def test_reply_action_files_into_the_orders_folder(world):
    run(world, create_order_action, mail(sender="anna@example.org", text="«Олонхо», КХ, с. 1"))
    result, ctx = run(world, order_reply_action, mail(
        sender="storage@nlrs.example", subject="Re: [НБ 2026-00001]",
        files=[("p.jpg", "image/jpeg", jpeg("x"))]))
    assert result["state"] == st.DELIVERED and ctx.folder == world[0].orders.folder
    assert list(sent(world, "reader/scan_delivered")[0].recipients) == ["anna@example.org"]


def test_automatic_mail_never_touches_orders(world):
    run(world, create_order_action, mail(sender="anna@example.org", text="«Олонхо», КХ, с. 1"))
    raw = mail(sender="storage@nlrs.example", subject="Автоответ [НБ 2026-00001]",
               files=[("p.jpg", "image/jpeg", jpeg("x"))])
    raw = b"Auto-Submitted: auto-replied\r\n" + raw
    result, _ = run(world, order_reply_action, raw)
    assert "automatic" in result["result"]
    assert sent(world, "reader/scan_delivered") == []


def test_large_reply_decided_from_its_structure_loads_the_files(world):
    """A big message is decided without its attachments' bytes (partial fetch); delivery
    loads them from the mailbox before checking and forwarding."""
    run(world, create_order_action, mail(sender="anna@example.org", text="«Олонхо», КХ, с. 1-2"))
    photos = {f"{i}.jpg": jpeg(f"big {i}", 100_000) for i in (1, 2)}
    raw = mail(sender="storage@nlrs.example", subject="Re: [НБ 2026-00001]",
               files=[(n, "image/jpeg", d) for n, d in photos.items()])
    letter = decode_letter(raw)
    kept = {a.part: a.data for a in letter.attachments}
    for a in letter.attachments:
        a.data = None
    letter.load_part = kept.get
    assert run(world, order_reply_action, letter=letter)[0]["state"] == st.DELIVERED

    out = sent(world, "reader/scan_delivered")[0]
    assert [a.sha256 for a in out.attachments] == [hashlib.sha256(d).hexdigest()
                                                   for d in photos.values()]

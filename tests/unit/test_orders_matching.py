"""Matching a department's reply to its order: the pure matcher, and 200 orders at once."""

import random
from collections import Counter

from mailproc.orders.matching import (OrderView, ReplyFacts, fresh_text, match_reply,
                                      order_words, reply_words, state_from_text)
from mailproc.tokens import Tokens

TOKENS = Tokens(b"k" * 32, "nlrs.ru")
STORAGE = frozenset({"storage@nlrs.example"})
SB = frozenset({"sb@nlrs.example"})


def order(token, dept="storage", addrs=STORAGE, title="Якутские сказки", author="Иванов",
          pages="15-27", refs=(), state="requested"):
    return OrderView(token, state, dept, addrs,
                     order_words(title=title, author=author, pages=pages), frozenset(refs))


def reply(sender="storage@nlrs.example", dept="storage", lod=False, thread=(), subject="",
          text="", names=(), in_reply_to="", references=()):
    hits = TOKENS.find(references=list(references), in_reply_to=in_reply_to, subject=subject,
                       text=text)
    return ReplyFacts(sender, dept, lod, tuple(thread), tuple(hits),
                      reply_words(subject=subject, text=text, attachment_names=names))


def test_thread_header_wins():
    orders = [order("2026-00001", refs={"<r1@nlrs.ru>"}), order("2026-00002")]
    m = match_reply(reply(thread=("<r1@nlrs.ru>",), subject="Re: [НБ 2026-00002]"), orders)
    assert (m.outcome, m.token, m.how) == ("match", "2026-00001", "thread")


def test_signed_token_from_anyone_but_subject_tag_only_from_the_department():
    orders = [order("2026-00001")]
    signed = TOKENS.message_id("2026-00001", "o")
    m = match_reply(reply(sender="colleague@nlrs.example", dept="", references=[signed]), orders)
    assert (m.outcome, m.how) == ("match", "signed-token")
    m = match_reply(reply(subject="Re: фото [НБ 2026-00001]"), orders)
    assert (m.outcome, m.how) == ("match", "subject")
    spoof = match_reply(reply(sender="mallory@example.com", dept="",
                              subject="Re: фото [НБ 2026-00001]"), orders)
    assert spoof.outcome == "none" and "ignored" in spoof.reason()


def test_forged_signature_is_not_a_token():
    orders = [order("2026-00001")]
    forged = "<mp.o2026-00001.0123456789.abc@nlrs.ru>"
    m = match_reply(reply(sender="mallory@example.com", dept="", references=[forged]), orders)
    assert m.outcome == "none"


def test_lod_duty_may_answer_any_department_by_tag():
    orders = [order("2026-00001")]
    m = match_reply(reply(sender="lod@nlrs.example", dept="", lod=True,
                          subject="скан [НБ 2026-00001]"), orders)
    assert (m.outcome, m.token) == ("match", "2026-00001")


def test_body_marker_from_department():
    orders = [order("2026-00001"), order("2026-00002")]
    m = match_reply(reply(text="Вот фото\n> mailproc-case:o2026-00002\n"), orders)
    assert (m.outcome, m.token, m.how) == ("match", "2026-00002", "marker")


def test_words_pick_one_of_several_open_orders():
    orders = [order("2026-00001", title="Якутские сказки"),
              order("2026-00002", title="Олонхо Нюргун Боотур", author="Ойунский"),
              order("2026-00003", dept="sb", addrs=SB, title="Олонхо Нюргун Боотур")]
    m = match_reply(reply(text="Добрый день! Высылаем фото: Ойунский, олонхо"), orders)
    assert (m.outcome, m.token, m.how) == ("match", "2026-00002", "words")
    m = match_reply(reply(text="Высылаем", names=["skazki.jpg", "Якутские_сказки_2.jpg"]),
                    orders)
    assert m.token == "2026-00001"


def test_same_book_told_apart_by_pages():
    orders = [order("2026-00001", pages="15-27"), order("2026-00002", pages="40-41")]
    m = match_reply(reply(text="Якутские сказки, с. 40–41"), orders)
    assert m.token == "2026-00002"


def test_ambiguous_names_the_candidates():
    orders = [order("2026-00001"), order("2026-00002", title="Якутские сказки", pages="1-2")]
    m = match_reply(reply(text="Высылаем фото по вашему запросу"), orders)
    assert m.outcome == "ambiguous"
    assert m.candidates == ("2026-00001", "2026-00002")
    reason = m.reason()
    assert "2026-00001, 2026-00002" in reason and "orders match" in reason
    assert not any("а" <= ch <= "я" for ch in reason.lower())


def test_no_open_order_for_the_department():
    m = match_reply(reply(text="Якутские сказки"), [order("2026-00001", state="delivered")])
    assert m.outcome == "none"


def test_answers_without_files():
    assert state_from_text("Добрый день, этой книги нет в фонде.") == "cannot_fulfil"
    assert state_from_text("Книга не найдена на полке") == "cannot_fulfil"
    assert state_from_text("Передали в ЛОД, пришлют скан") == "sent_to_lod"
    assert state_from_text("Нужен скан, отправили в ЛОД") == "sent_to_lod"
    assert state_from_text("Посмотрю завтра") == ""
    quoted = "Ок.\n\n26.11.2026 Персональный библиотекарь пишет:\n> если нужен скан, передайте в ЛОД"
    assert state_from_text(quoted) == ""
    assert fresh_text(quoted) == "Ок.\n\n"


WORDS = ("якутские сказки олонхо предания легенды шаманы кочевники алмазы реки тайга север "
         "народы песни обряды ремесла кони олени охота рыболовство лето зима праздники ысыах "
         "хомус эпос герои боги духи").split()
AUTHORS = "Ойунский Кулаковский Неустроев Ксенофонтов Худяков Серошевский Окладников".split()


def test_two_hundred_orders_in_five_departments(capsys):
    rnd = random.Random(20261126)
    depts = [(f"d{i}", frozenset({f"d{i}@nlrs.example"})) for i in range(5)]
    orders, truth = {}, {}
    for n in range(1, 201):
        token = f"2026-{n:05d}"
        key, addrs = depts[n % 5]
        title = " ".join(rnd.sample(WORDS, 2))
        a = rnd.randint(1, 300)
        orders[token] = order(token, key, addrs, title=title, author=rnd.choice(AUTHORS),
                              pages=f"{a}-{a + rnd.randint(0, 9)}", refs={f"<req{n}@nlrs.ru>"})
        truth[token] = (key, title, orders[token])
    kinds = ["thread", "signed", "subject", "marker", "words", "vague", "spoof"]
    plan = [(t, rnd.choice(kinds)) for t in orders]
    rnd.shuffle(plan)
    counts = Counter()
    open_orders = dict(orders)
    for token, kind in plan:
        key, title, view = truth[token]
        sender = f"{key}@nlrs.example"
        pages = next(w for w in view.words if w.startswith("pp:"))[3:]
        if kind == "thread":
            r = reply(sender, key, thread=(f"<req{int(token[5:])}@nlrs.ru>",), subject="фото")
        elif kind == "signed":
            r = reply(sender, key, references=[TOKENS.message_id(token, "o")], subject="фото")
        elif kind == "subject":
            r = reply(sender, key, subject=f"Re: Заказ [НБ {token}]")
        elif kind == "marker":
            r = reply(sender, key, text=f"фото\n> mailproc-case:o{token}")
        elif kind == "words":
            r = reply(sender, key, text=f"Высылаем: {title}, с. {pages}")
        elif kind == "vague":
            r = reply(sender, key, text="Добрый день, высылаем фото.")
        else:
            r = reply("reader@example.com", "", subject=f"Re: [НБ {token}]")
        m = match_reply(r, list(open_orders.values()))
        if m.outcome == "match":
            assert m.token == token, f"{kind} reply for {token} matched {m.token}: {m.evidence}"
            counts[f"{kind}: matched right"] += 1
            del open_orders[token]
        else:
            assert kind in ("words", "vague", "spoof"), f"{kind} reply for {token}: {m.reason()}"
            counts[f"{kind}: to review ({m.outcome})"] += 1
    assert counts["spoof: matched right"] == 0
    with capsys.disabled():
        print("\n200 orders, 5 departments, replies in random order:")
        for line, n in sorted(counts.items()):
            print(f"  {line:32} {n}")

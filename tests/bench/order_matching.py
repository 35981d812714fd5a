"""Benchmark: matching a department's reply to its order with 10 vs 10,000 orders open.

    .venv/bin/python tests/bench/order_matching.py [--replies 300]

Candidates come from indexed lookups (thread Message-IDs, tokens, words that only one waiting
order has), so the cost per reply should stay flat as open orders grow. Printed as ratios of
the 10,000-order figure to the 10-order figure, measured in the same run, with a raw indexed
SELECT by token as the baseline (the floor any lookup pays).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import select  # noqa: E402

from mailproc.letter import decode_letter  # noqa: E402
from mailproc.orders.models import Order, OrderRef, OrderWord  # noqa: E402
from mailproc.orders.replies import find_order  # noqa: E402
from mailproc.orders.service import OrderEnv, words_of  # noqa: E402
from mailproc.store import open_database  # noqa: E402
from mailproc.tokens import Tokens  # noqa: E402
from tests.unit.test_orders_helpers import five_departments, jpeg, mail, order_settings  # noqa: E402

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=timezone.utc)
SYLLABLES = "ка ло ми ра су то ны ха бе ду ги ко ля мо ну пе ри са ту фе хо це чи ша".split()
DEPTS = ["storage", "sandaly", "onkf", "periodicals", "rare"]


def word(rnd) -> str:
    return "".join(rnd.choice(SYLLABLES) for _ in range(4))


def fill(db, n: int, rnd) -> list[tuple[str, str, str, str]]:
    """n waiting orders; returns (token, department, title, request Message-ID) of each."""
    made = []
    with db.transaction() as s:
        for i in range(1, n + 1):
            dept = DEPTS[i % 5]
            title = f"{word(rnd)} {word(rnd)}".capitalize()
            token = f"2026-{i:05d}"
            o = Order(token=token, state="requested", department=dept,
                      department_address=f"{dept}@nlrs.example", reader_email=f"r{i}@example.org",
                      title=title, author=word(rnd).capitalize(), pages="1-3", pages_count=3,
                      created_at=NOW, updated_at=NOW)
            s.add(o)
            s.flush()
            s.add_all(OrderWord(order_id=o.id, word=w) for w in words_of(o))
            ref = f"<req{i}@nlrs.ru>"
            s.add(OrderRef(message_id=ref, order_id=o.id, to_addr=o.department_address))
            made.append((token, dept, title, ref))
    return made


def replies(orders, tokens: Tokens, count: int, rnd) -> dict[str, list]:
    out: dict[str, list] = {"thread": [], "signed": [], "subject": [], "words": [], "vague": []}
    photo = [("p.jpg", "image/jpeg", jpeg("p"))]
    for _ in range(count):
        token, dept, title, ref = rnd.choice(orders)
        sender = f"{dept}@nlrs.example"
        out["thread"].append(mail(sender=sender, subject="фото", in_reply_to=ref, files=photo))
        out["signed"].append(mail(sender=sender, subject="фото", files=photo,
                                  references=tokens.message_id(token, "o")))
        out["subject"].append(mail(sender=sender, subject=f"Re: [НБ {token}]", files=photo))
        out["words"].append(mail(sender=sender, subject="фото", text=f"Высылаем: {title}",
                                 files=photo))
        out["vague"].append(mail(sender=sender, subject="фото", text="Высылаем.", files=photo))
    return {k: [decode_letter(r) for r in v] for k, v in out.items()}


def per_reply(db, settings, tokens, letters) -> float:
    """Median seconds per reply over 5 rounds."""
    directory = five_departments()
    rounds = []
    for _ in range(5):
        with db.session() as s:
            env = OrderEnv(s, settings, directory, tokens, NOW)
            start = time.perf_counter()
            for letter in letters:
                find_order(env, letter)
            rounds.append((time.perf_counter() - start) / len(letters))
    return statistics.median(rounds)


def baseline(db, orders) -> float:
    rounds = []
    for _ in range(6):  # the first rounds warm the cache; the median takes the rest
        with db.session() as s:
            start = time.perf_counter()
            for token, *_ in orders[:300]:
                s.scalar(select(Order).where(Order.token == token))
            rounds.append((time.perf_counter() - start) / min(300, len(orders)))
    return statistics.median(rounds)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replies", type=int, default=300)
    ap.add_argument("--sizes", default="10,10000")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    results: dict[int, dict[str, float]] = {}
    outcomes: dict[int, dict[str, dict[str, int]]] = {}
    for n in sizes:
        rnd = random.Random(n)
        with tempfile.TemporaryDirectory() as tmp:
            settings = order_settings(Path(tmp))
            db = open_database(settings.database.url)
            tokens = Tokens.from_settings(settings)
            orders = fill(db, n, rnd)
            letters = replies(orders, tokens, args.replies, rnd)
            results[n] = {"select by token (baseline)": baseline(db, orders)}
            outcomes[n] = {}
            for kind, batch in letters.items():
                results[n][kind] = per_reply(db, settings, tokens, batch)
                with db.session() as s:
                    env = OrderEnv(s, settings, five_departments(), tokens, NOW)
                    counted: dict[str, int] = {}
                    for letter in batch:
                        m, _ = find_order(env, letter)
                        counted[m.outcome] = counted.get(m.outcome, 0) + 1
                outcomes[n][kind] = counted
            db.dispose()
    small, big = sizes[0], sizes[-1]
    print(f"order matching, {args.replies} replies per kind, median of 5 rounds")
    print("ratio: the big figure over the small one; net: that ratio over the baseline's own "
          "(machine load moves both)")
    print(f"{'reply kind':28} {small:>8} open  {big:>8} open   ratio     net  /baseline@{big}")
    base_a = results[small]["select by token (baseline)"]
    base_b = results[big]["select by token (baseline)"]
    for kind in results[small]:
        a, b = results[small][kind], results[big][kind]
        print(f"{kind:28} {a * 1e6:9.0f} us  {b * 1e6:9.0f} us  {b / a:6.2f}x  "
              f"{(b / a) / (base_b / base_a):6.2f}x  {b / base_b:8.1f}x")
    print("outcomes at", big, "open:", {k: v for k, v in outcomes[big].items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())

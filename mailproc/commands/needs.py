"""``mailproc needs list|report|edit``: the register of readers' information needs
(instruction 2.9): what to digitise first, missing EL sections, wanted subscriptions."""

from __future__ import annotations

import os
from collections import Counter
from datetime import datetime, timezone

from sqlalchemy import select

from mailproc.app import App
from mailproc.commands.output import print_json, print_table
from mailproc.errors import MailprocError
from mailproc.localtime import local_time
from mailproc.scope import mailbox_scope

KIND_NAMES = {"digitise": "оцифровать", "section": "раздел ЭБ", "subscription": "подписной ресурс"}


def register(sub) -> None:
    p = sub.add_parser("needs", help="readers' information needs (what to digitise, add, subscribe)")
    nsub = p.add_subparsers(dest="action", metavar="ACTION")
    nsub.required = True
    lst = nsub.add_parser("list", help="the register, newest first")
    lst.add_argument("--kind", choices=sorted(KIND_NAMES))
    lst.add_argument("--limit", type=int, default=200)
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=list_needs)
    rep = nsub.add_parser("report", help="counts by kind and topic, most requested titles")
    rep.add_argument("--top", type=int, default=10)
    rep.add_argument("--json", action="store_true")
    rep.set_defaults(func=report)
    edit = nsub.add_parser("edit", help="correct the fields found in a need")
    edit.add_argument("id", type=int)
    edit.add_argument("--kind", choices=sorted(KIND_NAMES))
    edit.add_argument("--author")
    edit.add_argument("--title")
    edit.add_argument("--topic")
    edit.add_argument("--by", default=os.environ.get("USER", ""), help="who corrected it")
    edit.set_defaults(func=edit_need)


def need_json(n, tz) -> dict:
    return {"id": n.id, "kind": n.kind, "author": n.author, "title": n.title, "topic": n.topic,
            "text": n.text, "case_id": n.case_id, "message": n.message_pk,
            "corrected_by": n.corrected_by,
            "corrected_at": local_time(n.corrected_at, tz),
            "created_at": local_time(n.created_at, tz)}


def _all(app, kind=None) -> list[dict]:
    from mailproc.questions.models import InformationNeed  # noqa: PLC0415

    with app.db.session() as s:
        q = (select(InformationNeed)
             .where(mailbox_scope(app).through_message(InformationNeed.message_pk))
             .order_by(InformationNeed.id.desc()))
        if kind:
            q = q.where(InformationNeed.kind == kind)
        return [need_json(n, app.settings.tz) for n in s.scalars(q)]


def list_needs(args) -> int:
    rows = _all(App.from_args(args), args.kind)[: args.limit]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ["id", "kind", "author", "title", "topic", "text"])
    return 0


def summarise(rows: list[dict], top: int = 10) -> dict:
    """Counts by kind and by topic, and the most requested titles (case and ё folded)."""
    def key(text: str) -> str:
        return " ".join(text.lower().replace("ё", "е").split())

    titles: Counter = Counter()
    shown: dict[str, str] = {}
    for r in sorted(rows, key=lambda r: r.get("id", 0)):  # the first spelling is shown
        if r["title"]:
            k = key(r["title"])
            titles[k] += 1
            shown.setdefault(k, r["title"] + (f" ({r['author']})" if r["author"] else ""))
    topics: Counter = Counter(key(r["topic"]) for r in rows if r["topic"])
    return {
        "total": len(rows),
        "by_kind": dict(Counter(r["kind"] for r in rows)),
        "by_topic": dict(topics.most_common(top)),
        "top_titles": [{"title": shown[k], "count": n} for k, n in titles.most_common(top)],
    }


def report(args) -> int:
    data = summarise(_all(App.from_args(args)), args.top)
    if args.json:
        print_json(data)
        return 0
    print(f"Информационные потребности читателей: всего {data['total']}")
    for kind, n in data["by_kind"].items():
        print(f"  {KIND_NAMES.get(kind, kind)}: {n}")
    if data["by_topic"]:
        print("По темам:")
        for topic, n in data["by_topic"].items():
            print(f"  {n:4}  {topic}")
    if data["top_titles"]:
        print("Чаще всего просят:")
        for t in data["top_titles"]:
            print(f"  {t['count']:4}  {t['title']}")
    return 0


def edit_need(args) -> int:
    from mailproc.questions.models import InformationNeed  # noqa: PLC0415

    app = App.from_args(args)
    with app.db.transaction() as s:
        need = s.get(InformationNeed, args.id)
        if need is None:
            raise MailprocError(f"no need {args.id}; see mailproc needs list")
        for field in ("kind", "author", "title", "topic"):
            value = getattr(args, field)
            if value is not None:
                setattr(need, field, value)
        need.corrected_by = args.by or "librarian"
        need.corrected_at = datetime.now(timezone.utc)
        data = need_json(need, app.settings.tz)
    print_json(data)
    return 0

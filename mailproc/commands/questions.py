"""``mailproc questions list|show|check|try|remind``: readers' question cases and the ready
answers file."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select

from mailproc.app import App
from mailproc.commands.output import print_json, print_table
from mailproc.errors import MailprocError
from mailproc.localtime import local_time
from mailproc.scope import mailbox_scope


def register(sub) -> None:
    p = sub.add_parser("questions", help="readers' question cases, ready answers")
    qsub = p.add_subparsers(dest="action", metavar="ACTION")
    qsub.required = True
    lst = qsub.add_parser("list", help="question cases, newest first")
    lst.add_argument("--state", help="new, drafted, routed, answered, or overdue")
    lst.add_argument("--limit", type=int, default=100)
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=list_cases)
    show = qsub.add_parser("show", help="one case with its thread")
    show.add_argument("token", help="the case token, e.g. 2026-00042")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=show_case)
    check = qsub.add_parser("check", help="check rules/answers.yaml and its templates")
    check.set_defaults(func=check_book)
    try_ = qsub.add_parser("try", help="what a question text would get (nothing is sent)")
    try_.add_argument("text")
    try_.add_argument("--subject", default="")
    try_.add_argument("--json", action="store_true")
    try_.set_defaults(func=try_text)
    remind = qsub.add_parser("remind", help="remind departments of overdue routed questions")
    remind.set_defaults(func=remind_now)
    sync = qsub.add_parser("sync", help="after intake: librarians' answers in Sent, drafts "
                                        "to Drafts, reminders")
    sync.set_defaults(func=sync_now)


def _directory(app):
    from mailproc.questions.watch import _directory as load  # noqa: PLC0415

    try:
        return load(app)
    except MailprocError:
        return None


def case_json(case, settings, directory, now) -> dict:
    from mailproc.questions.watch import deadline_of, is_overdue  # noqa: PLC0415

    due = deadline_of(settings, directory, case)
    return {
        "token": case.token, "state": case.state, "reader": case.reader_addr,
        "subject": case.subject, "topic": case.topic, "department": case.department,
        "reason": case.reason, "answered_by": case.answered_by,
        "answered_at": local_time(case.answered_at, settings.tz),
        "routed_at": local_time(case.routed_at, settings.tz),
        "due_at": local_time(due, settings.tz),
        "reminded_at": local_time(case.reminded_at, settings.tz),
        "overdue": is_overdue(settings, directory, case, now),
        "followups": case.followups, "created_at": local_time(case.created_at, settings.tz),
    }


def list_cases(args) -> int:
    from mailproc.questions.models import QuestionCase  # noqa: PLC0415

    app = App.from_args(args)
    directory, now = _directory(app), datetime.now(timezone.utc)
    with app.db.session() as s:
        q = (select(QuestionCase)
             .where(mailbox_scope(app).through_message(QuestionCase.message_pk))
             .order_by(QuestionCase.id.desc()))
        if args.state and args.state != "overdue":
            q = q.where(QuestionCase.state == args.state)
        rows = [case_json(c, app.settings, directory, now) for c in s.scalars(q)]
    if args.state == "overdue":
        rows = [r for r in rows if r["overdue"]]
    rows = rows[: args.limit]
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        r["state"] = r["state"] + (" (просрочен)" if r["overdue"] else "")
        r["who"] = r["topic"] or r["department"]
    print_table(rows, ["token", "state", "who", "reader", "subject", "reason"])
    return 0


def show_case(args) -> int:
    from mailproc.questions.models import InformationNeed, QuestionCase  # noqa: PLC0415

    app = App.from_args(args)
    directory, now = _directory(app), datetime.now(timezone.utc)
    with app.db.session() as s:
        case = s.scalar(select(QuestionCase).where(QuestionCase.token == args.token))
        if case is None:
            raise MailprocError(f"no question case {args.token}; see mailproc questions list")
        data = case_json(case, app.settings, directory, now)
        data["text"] = case.text
        data["thread"] = [{"role": m.role, "message_id": m.message_id, "from": m.sender,
                           "at": local_time(m.created_at, app.settings.tz)} for m in case.thread]
        data["needs"] = [{"id": n.id, "kind": n.kind, "text": n.text} for n in s.scalars(
            select(InformationNeed).where(InformationNeed.case_id == case.id))]
    if args.json:
        print_json(data)
        return 0
    for key in ("token", "state", "reader", "subject", "topic", "department", "reason",
                "answered_by", "answered_at", "routed_at", "due_at", "reminded_at", "overdue"):
        if data.get(key) not in (None, "", False):
            print(f"{key + ':':13}{data[key]}")
    print("\n" + data["text"].strip() + "\n")
    for m in data["thread"]:
        print(f"  {m['at'][:19]}  {m['role']:13} {m['from']:30} {m['message_id']}")
    for n in data["needs"]:
        print(f"  потребность #{n['id']} ({n['kind']}): {n['text']}")
    return 0


def check_book(args) -> int:
    from mailproc.outbound.outbox import templates_for  # noqa: PLC0415
    from mailproc.questions.book import load_book  # noqa: PLC0415

    app = App.from_args(args)
    path = Path(app.settings.paths.rules) / "answers.yaml"
    book = load_book(path)  # LoadError lists every problem (exit 2)
    problems = []
    directory = _directory(app)
    for route in book.routes:
        if directory is not None and directory.department(route.department) is None:
            problems.append(f"{path}:{route.line}: {route.key}: отдела «{route.department}» нет "
                            f"в rules/departments.yaml; ключи: {', '.join(directory.keys())}")
    templates = templates_for(app.settings)
    problems += templates.check([t.template for t in book.answers])
    for line in problems:
        print(line)
    if problems:
        return 2
    print(f"{path}: {len(book.answers)} готовых ответов, {len(book.routes)} правил передачи в "
          f"отделы — ошибок нет")
    return 0


def try_text(args) -> int:
    from mailproc.questions.matcher import classify  # noqa: PLC0415
    from mailproc.questions.needs import extract_needs  # noqa: PLC0415
    from mailproc.questions.routing import mode_for  # noqa: PLC0415
    from mailproc.questions.service import answer_book  # noqa: PLC0415

    app = App.from_args(args)
    book = answer_book(app.settings)
    verdict = classify(book, args.subject, args.text)
    data = verdict.to_json()
    if verdict.outcome == "answer":
        data["mode"] = mode_for(app.settings, book.answer(verdict.key))
    data["needs"] = [n.to_json() for n in extract_needs(book, args.text)]
    if args.json:
        print_json(data)
        return 0
    print(f"{verdict.outcome}: {verdict.key or '-'} ({verdict.reason})")
    if "mode" in data:
        print(f"режим: {data['mode']}")
    for key, score in sorted(verdict.scores.items(), key=lambda x: -x[1]):
        print(f"  {score:3}  {key}: {', '.join(verdict.hits.get(key, []))}")
    for n in data["needs"]:
        print(f"  потребность ({n['kind']}): {n['text']}")
    return 0


def remind_now(args) -> int:
    from mailproc.questions.watch import remind_due  # noqa: PLC0415

    app = App.from_args(args)
    print(f"reminders queued: {remind_due(app, datetime.now(timezone.utc))}")
    return 0


def sync_now(args) -> int:
    from mailproc.questions.watch import sync  # noqa: PLC0415

    app = App.from_args(args)
    with app.source() as source:
        stats = sync(app, source, datetime.now(timezone.utc))
    print(", ".join(f"{k} {v}" for k, v in stats.items()))
    return 0

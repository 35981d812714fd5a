"""``mailproc mailings plan|preview|test|send|show|run-due``: the plan-schedule of mailings."""

from __future__ import annotations

import sys
from datetime import datetime

from sqlalchemy import select

from mailproc.app import App
from mailproc.commands.contacts import find_contact
from mailproc.commands.output import print_json, print_table
from mailproc.errors import MailprocError
from mailproc.localtime import local_time
from mailproc.outreach.audience import audience
from mailproc.outreach.models import MailingIssue
from mailproc.outreach.plan import MailingSpec, load_plan
from mailproc.outreach.results import mailing_results, sync_outcomes
from mailproc.outreach.schedule import next_issues
from mailproc.outreach.sending import run_due_mailings, send_now, template_context
from mailproc.store.base import utcnow


def register(sub) -> None:
    p = sub.add_parser("mailings", help="mailing plan: plan, preview, test, send, show")
    msub = p.add_subparsers(dest="action", metavar="ACTION")
    msub.required = True
    plan = msub.add_parser("plan", help="what goes when to how many")
    plan.add_argument("--json", action="store_true")
    plan.set_defaults(func=show_plan)
    prev = msub.add_parser("preview", help="render a mailing for one contact")
    prev.add_argument("name")
    prev.add_argument("--to", required=True, metavar="CONTACT", help="e-mail or id")
    prev.add_argument("--html", action="store_true", help="print the HTML part too")
    prev.set_defaults(func=preview)
    test = msub.add_parser("test", help="send one copy to an address")
    test.add_argument("name")
    test.add_argument("--to", required=True, metavar="ADDRESS")
    test.set_defaults(func=send_test)
    send = msub.add_parser("send", help="send a mailing now, after confirming the count")
    send.add_argument("name")
    send.add_argument("--yes", action="store_true", help="do not ask (scripts)")
    send.set_defaults(func=send_mailing)
    show = msub.add_parser("show", help="issues of a mailing: sent, failed, bounced, unsubscribed")
    show.add_argument("name")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=show_mailing)
    due = msub.add_parser("run-due", help="one pass of the plan (what the daemon does)")
    due.add_argument("--at", metavar="ISO-TIME",
                     help="take this as the current time (checks of the plan, drills)")
    due.add_argument("--deliver", action="store_true",
                     help="then deliver the outbox until nothing due is left")
    due.set_defaults(func=run_due)


def _spec(app, name: str) -> tuple[object, MailingSpec]:
    plan = load_plan(app.settings.paths.rules, app.settings)
    if name not in plan.mailings:
        raise MailprocError(f"рассылки «{name}» нет в плане ({app.settings.paths.rules}/"
                            f"mailings.yaml); есть: {', '.join(plan.mailings) or 'ни одной'}")
    return plan, plan.mailings[name]


def show_plan(args) -> int:
    app = App.from_args(args)
    plan = load_plan(app.settings.paths.rules, app.settings)
    now = utcnow()
    rows = []
    with app.db.session() as s:
        for spec in plan.mailings.values():
            eligible, left_out = audience(s, plan, spec.groups)
            rows.append({
                "name": spec.name, "title": spec.title, "template": spec.template,
                "groups": spec.groups, "when": spec.cron or spec.at.isoformat(),
                "next": [local_time(t, app.settings.tz)
                         for t in next_issues(spec, app.settings.tz, now)],
                "recipients": len(eligible), "left_out": left_out,
                "unknown_groups": [g for g in spec.groups
                                   if g not in plan.groups and not _db_group(s, g)],
            })
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        print(f"{r['name']}: {r['title']} (шаблон {r['template']}; {r['when']})")
        print(f"  группы: {', '.join(r['groups'])}; получателей: {r['recipients']}")
        if r["left_out"]:
            print("  не получат: " + ", ".join(f"{k} — {v}" for k, v in r["left_out"].items()))
        if r["unknown_groups"]:
            print(f"  ВНИМАНИЕ: нет таких групп: {', '.join(r['unknown_groups'])}")
        print(f"  ближайшие выпуски: {', '.join(r['next']) or 'нет'}")
    if not rows:
        print("В плане нет рассылок.")
    return 0


def _db_group(s, name: str) -> bool:
    from mailproc.outreach.models import Group

    return s.scalar(select(Group.id).where(Group.name == name)) is not None


def preview(args) -> int:
    from mailproc.outbound.outbox import templates_for

    app = App.from_args(args)
    _, spec = _spec(app, args.name)
    with app.db.session() as s:
        contact = find_contact(s, args.to)
        issue = MailingIssue(id=0, mailing=spec.name, scheduled_at=utcnow())
        rendered = templates_for(app.settings).render(
            spec.template, template_context(spec, issue, contact))
    print(f"Кому: {contact.email}\nТема: {rendered.subject}\n")
    print(rendered.text)
    if args.html and rendered.html:
        print("\n--- HTML ---\n" + rendered.html)
    return 0


def send_test(args) -> int:
    from mailproc.outbound.outbox import enqueue
    from mailproc.outbound.sender import deliver_due
    from mailproc.outreach.listheaders import list_headers
    from mailproc.outreach.models import Contact

    app = App.from_args(args)
    _, spec = _spec(app, args.name)
    probe = Contact(id=0, email=args.to.strip().lower(), name="", position="", segment="")
    with app.db.transaction() as s:
        issue = MailingIssue(id=0, mailing=spec.name, scheduled_at=utcnow())
        row = enqueue(s, app.settings, to=probe.email, template=spec.template,
                      context=template_context(spec, issue, probe), kind="mailing",
                      headers=list_headers(app.settings, spec.name, spec.title, probe.id))
        if row is None:
            raise MailprocError(f"{probe.email} в списке подавления; пробная копия не ушла")
        if row.state == "error":
            raise MailprocError(f"шаблон {spec.template} не отрисовался:\n{row.error}")
    stats = deliver_due(app)
    print(f"Пробная копия рассылки «{spec.name}» отправлена на {probe.email} ({stats})")
    return 0


def send_mailing(args) -> int:
    app = App.from_args(args)
    plan, spec = _spec(app, args.name)
    with app.db.session() as s:
        eligible, left_out = audience(s, plan, spec.groups)
    print(f"Рассылка «{spec.name}» (шаблон {spec.template}) уйдёт {len(eligible)} получателям.")
    if left_out:
        print("Не получат: " + ", ".join(f"{k} — {v}" for k, v in left_out.items()))
    if not args.yes:
        if not sys.stdin.isatty():
            raise MailprocError("нужно подтверждение: запустите в терминале или добавьте --yes")
        answer = input("Отправить сейчас? Напишите «да»: ").strip().lower()
        if answer not in ("да", "yes", "y", "д"):
            print("Отменено.")
            return 1
    issue_id, stats = send_now(app, spec.name)
    print(f"Выпуск {issue_id}: в очереди на отправку {stats.queued}, пропущено {stats.skipped}."
          f" Письма уходят с работающей программой (mailproc run) или mailproc run --once.")
    return 0


def show_mailing(args) -> int:
    app = App.from_args(args)
    tz = app.settings.tz
    with app.db.transaction() as s:
        sync_outcomes(s)
        rows = [{**r, "scheduled_at": local_time(r["scheduled_at"], tz)}
                for r in mailing_results(s, args.name)]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print(f"У рассылки «{args.name}» ещё не было выпусков.")
        return 0
    print_table([{**r, "manual": "вручную" if r["manual"] else ""} for r in rows],
        ["issue", "scheduled_at", "state", "manual", "recipients", "sent", "waiting", "failed",
         "bounced", "unsubscribed", "skipped", "note"])
    return 0


def run_due(args) -> int:
    app = App.from_args(args)
    now = datetime.fromisoformat(args.at) if args.at else utcnow()
    if now.tzinfo is None:
        now = now.replace(tzinfo=app.settings.tz)
    total = None
    while True:
        stats = run_due_mailings(app, now)
        for problem in stats.errors:
            print(problem, file=sys.stderr)
        total = stats if total is None else _add(total, stats)
        if args.deliver:
            from mailproc.outbound.sender import deliver_due

            sent = deliver_due(app)
            if not stats.queued and not sent.sent:
                break
        elif not stats.queued:
            break
    print(total)
    return 0


def _add(a, b):
    a.issues += b.issues
    a.missed += b.missed
    a.queued += b.queued
    a.skipped += b.skipped
    return a

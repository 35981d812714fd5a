"""``mailproc groups list|show|add|remove``: groups by level, segment, interests and filter.

Groups may also be declared in ``rules/mailings.yaml`` (or ``rules/groups.yaml``); those are
edited there, and ``add``/``remove`` with contacts then only add or exclude members.
"""

from __future__ import annotations

from sqlalchemy import select

from mailproc.app import App
from mailproc.commands.contacts import contacts_json, find_contact
from mailproc.commands.output import print_json, print_table
from mailproc.errors import MailprocError
from mailproc.outreach.audience import all_groups, group_members
from mailproc.outreach.groups import FILTER_FIELDS
from mailproc.outreach.models import Group, GroupMember
from mailproc.outreach.plan import load_plan


def register(sub) -> None:
    p = sub.add_parser("groups", help="contact groups: list, show, add, remove")
    gsub = p.add_subparsers(dest="action", metavar="ACTION")
    gsub.required = True
    lst = gsub.add_parser("list", help="every group with its level and size")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=list_groups)
    show = gsub.add_parser("show", help="a group and its members")
    show.add_argument("name")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=show_group)
    add = gsub.add_parser("add", help="create or change a group; add contacts to it")
    add.add_argument("name")
    add.add_argument("contacts", nargs="*", help="e-mails or ids of explicit members")
    add.add_argument("--level", type=int, choices=(1, 2, 3))
    add.add_argument("--segment")
    add.add_argument("--interest", action="append", default=[])
    add.add_argument("--where", action="append", default=[], metavar="FIELD=VALUE",
                     help=f"filter over contacts; fields: {', '.join(FILTER_FIELDS)}")
    add.add_argument("--title")
    add.set_defaults(func=add_group)
    rem = gsub.add_parser("remove", help="remove contacts from a group, or the group itself")
    rem.add_argument("name")
    rem.add_argument("contacts", nargs="*", help="e-mails or ids; none: delete the group")
    rem.set_defaults(func=remove_group)


def _groups(app, s):
    return all_groups(s, load_plan(app.settings.paths.rules, app.settings))


def list_groups(args) -> int:
    app = App.from_args(args)
    with app.db.session() as s:
        rows = [{"name": g.name, "level": g.level, "segment": g.segment,
                 "interests": g.interests, "where": g.where, "title": g.title,
                 "origin": g.origin, "members": len(group_members(s, g))}
                for g in _groups(app, s).values()]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ["name", "level", "segment", "members", "title", "origin"])
    return 0


def show_group(args) -> int:
    app = App.from_args(args)
    with app.db.session() as s:
        spec = _groups(app, s).get(args.name)
        if spec is None:
            raise MailprocError(f"группы «{args.name}» нет; см. mailproc groups list")
        members = contacts_json(app, s, group_members(s, spec))
    data = {"name": spec.name, "level": spec.level, "segment": spec.segment,
            "interests": spec.interests, "where": spec.where, "title": spec.title,
            "origin": spec.origin, "members": members}
    if args.json:
        print_json(data)
        return 0
    print(f"{spec.name} (уровень {spec.level}) {spec.title}  [{spec.origin}]")
    if spec.segment or spec.interests or spec.where:
        print(f"условия: сегмент={spec.segment or '-'} интересы={spec.interests or '-'} "
              f"where={spec.where or '-'}")
    print_table([{**m, "consent": "да" if m["consent"] else "нет"} for m in members],
                ["id", "name", "email", "organisation", "position", "consent"])
    return 0


def _parse_where(items: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or key.strip() not in FILTER_FIELDS:
            raise MailprocError(f"--where {item}: пишите поле=значение; поля: "
                                f"{', '.join(FILTER_FIELDS)}")
        out.setdefault(key.strip(), []).append(value.strip())
    return out


def _member(s, group: str, contact_id: int) -> GroupMember:
    """The membership row of a contact in a group, created when missing."""
    member = s.scalar(select(GroupMember).where(GroupMember.group_name == group,
                                                GroupMember.contact_id == contact_id))
    if member is None:
        member = GroupMember(group_name=group, contact_id=contact_id, excluded=False)
        s.add(member)
    return member


def add_group(args) -> int:
    app = App.from_args(args)
    with app.db.transaction() as s:
        in_files = {n: g for n, g in _groups(app, s).items() if g.origin != "база"}
        row = s.scalar(select(Group).where(Group.name == args.name))
        changes = any([args.level, args.segment, args.interest, args.where, args.title])
        if args.name in in_files and changes:
            raise MailprocError(f"группа «{args.name}» описана в {in_files[args.name].origin}; "
                                f"её условия меняются в файле")
        if row is None and args.name not in in_files:
            row = Group(name=args.name, level=args.level or 2, interests=[], where={})
            s.add(row)
        if row is not None:
            row.level = args.level or row.level
            row.segment = args.segment if args.segment is not None else row.segment
            row.interests = args.interest or row.interests
            row.where = _parse_where(args.where) or row.where
            row.description = args.title or row.description
        for ref in args.contacts:
            _member(s, args.name, find_contact(s, ref).id).excluded = False
    print(f"Группа «{args.name}»: сохранено, добавлено контактов {len(args.contacts)}")
    return 0


def remove_group(args) -> int:
    app = App.from_args(args)
    with app.db.transaction() as s:
        groups = _groups(app, s)
        if args.name not in groups:
            raise MailprocError(f"группы «{args.name}» нет; см. mailproc groups list")
        if not args.contacts:
            if groups[args.name].origin != "база":
                raise MailprocError(f"группа «{args.name}» описана в {groups[args.name].origin}; "
                                    f"удалите её из файла")
            s.delete(s.scalar(select(Group).where(Group.name == args.name)))
            for m in s.scalars(select(GroupMember).where(GroupMember.group_name == args.name)):
                s.delete(m)
            print(f"Группа «{args.name}» удалена")
            return 0
        for ref in args.contacts:
            _member(s, args.name, find_contact(s, ref).id).excluded = True
    print(f"Из группы «{args.name}» исключено контактов: {len(args.contacts)}")
    return 0

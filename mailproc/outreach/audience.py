"""Who a mailing goes to: groups from the database and the plan, and who may be written to."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailproc.outreach.groups import GroupSpec, members, spec_from_row
from mailproc.outreach.models import Contact, Group, GroupMember
from mailproc.outreach.plan import Plan


def all_groups(session: Session, plan: Plan | None) -> dict[str, GroupSpec]:
    """Groups of the database and of the rules files; a file's definition wins (the files are
    what librarians edit), explicit members in the database apply to both."""
    groups = {g.name: spec_from_row(g) for g in session.scalars(select(Group))}
    if plan is not None:
        groups.update(plan.groups)
    return groups


def explicit_members(session: Session, name: str) -> tuple[set[int], set[int]]:
    rows = session.execute(select(GroupMember.contact_id, GroupMember.excluded).where(
        GroupMember.group_name == name)).all()
    return {c for c, ex in rows if not ex}, {c for c, ex in rows if ex}


def group_members(session: Session, spec: GroupSpec,
                  contacts: Iterable[Contact] | None = None) -> list[Contact]:
    explicit, excluded = explicit_members(session, spec.name)
    if contacts is None:
        contacts = session.scalars(select(Contact).order_by(Contact.id)).unique()
    return members(spec, contacts, explicit, excluded)


def contact_groups(session: Session, plan: Plan | None, contact: Contact) -> list[str]:
    return [name for name, spec in all_groups(session, plan).items()
            if group_members(session, spec, [contact])]


def outbound_suppressed(session: Session, addresses: list[str]) -> dict[str, str]:
    """The outbound suppression list (bounces)."""
    from mailproc.outbound.outbox import suppressed_among

    found: dict[str, str] = {}
    for start in range(0, len(addresses), 500):
        found.update(suppressed_among(session, addresses[start:start + 500]))
    return found


def ineligible_reason(contact: Contact, suppressed: dict[str, str]) -> str:
    """Why this contact gets no mailing; "" when it may. Consent is opt-in (152-ФЗ, 38-ФЗ)."""
    if contact.unsubscribed_at is not None:
        return "отписался"
    if contact.suppressed:
        return "адрес отключён: " + (contact.suppressed_reason or "недоставка")
    if contact.email in suppressed:
        return "адрес в списке подавления: " + suppressed[contact.email]
    if not contact.consent:
        return "нет согласия на рассылку"
    return ""


def audience(session: Session, plan: Plan, group_names: list[str]) -> tuple[list[Contact],
                                                                          dict[str, int]]:
    """(eligible contacts, {reason: count} of those left out), each contact once."""
    groups = all_groups(session, plan)
    contacts = list(session.scalars(select(Contact).order_by(Contact.id)).unique())
    chosen: dict[int, Contact] = {}
    for name in group_names:
        spec = groups.get(name)
        if spec is None:
            continue
        for c in group_members(session, spec, contacts):
            chosen[c.id] = c
    suppressed = outbound_suppressed(session, [c.email for c in chosen.values()])
    eligible: list[Contact] = []
    left_out: dict[str, int] = {}
    for c in chosen.values():
        reason = ineligible_reason(c, suppressed)
        if reason:
            key = reason.split(":")[0]
            left_out[key] = left_out.get(key, 0) + 1
        else:
            eligible.append(c)
    return eligible, left_out

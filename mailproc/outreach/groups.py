"""Group membership: explicit members, plus every contact matching the group's criteria.

A group's criteria are its segment, its interests (any of them) and its ``where`` filter over
contact fields; all given criteria must hold. A group without criteria has only its explicit
members. An explicit exclusion (``groups remove``) beats a match. Pure: works on rows given.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from mailproc.outreach.models import Contact

#: fields a ``where`` filter may test, and how: "exact", "contains" (substring), "any" (lists)
FILTER_FIELDS = {
    "segment": "exact", "role": "exact", "email_domain": "exact",
    "position": "contains", "organisation": "contains", "name": "contains",
    "interests": "any",
}


@dataclass
class GroupSpec:
    name: str
    level: int = 2
    segment: str = ""
    interests: list[str] = field(default_factory=list)
    where: dict[str, list[str]] = field(default_factory=dict)
    title: str = ""
    origin: str = ""  # "rules/mailings.yaml:12" or "база"

    @property
    def has_criteria(self) -> bool:
        return bool(self.segment or self.interests or self.where)


def _lower(values: Iterable[str]) -> set[str]:
    return {str(v).strip().lower() for v in values if str(v).strip()}


def contact_value(contact: Contact, name: str):
    if name == "organisation":
        return contact.organisation.name if contact.organisation is not None else ""
    if name == "email_domain":
        return contact.email.rpartition("@")[2]
    if name == "interests":
        return contact.interests or []
    return getattr(contact, name) or ""


def field_matches(contact: Contact, name: str, wanted: list[str]) -> bool:
    how = FILTER_FIELDS[name]
    value = contact_value(contact, name)
    want = _lower(wanted)
    if how == "any":
        return bool(_lower(value) & want)
    text = str(value).strip().lower()
    if how == "contains":
        return any(w in text for w in want)
    return text in want


def matches(spec: GroupSpec, contact: Contact) -> bool:
    if not spec.has_criteria:
        return False
    if spec.segment and not field_matches(contact, "segment", [spec.segment]):
        return False
    if spec.interests and not field_matches(contact, "interests", spec.interests):
        return False
    return all(field_matches(contact, k, v) for k, v in spec.where.items())


def members(spec: GroupSpec, contacts: Iterable[Contact], explicit: set[int],
            excluded: set[int]) -> list[Contact]:
    return [c for c in contacts
            if c.id not in excluded and (c.id in explicit or matches(spec, c))]


def spec_from_row(row) -> GroupSpec:
    return GroupSpec(name=row.name, level=row.level, segment=row.segment or "",
                     interests=list(row.interests or []), where=dict(row.where or {}),
                     title=row.description or "", origin="база")

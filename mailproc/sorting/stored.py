"""Keep a cleanly loaded rule set in the database; load the newest kept one back.

``keep`` runs when a set has loaded (at start and after each change the hot-reload check
picks up), never on a check that found nothing new. It writes the set's files once per
distinct content and otherwise only marks the existing row as loaded last. ``load_newest``
writes the stored files into a private temporary folder and loads them with the ordinary
loader (mailproc.sorting.loader), so a stored set is checked exactly like files on disk and
gives the same version; a stored set that no longer loads (say, its conditions were renamed
by an upgrade) is skipped for the one before it.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from mailproc.errors import RuleFileError
from mailproc.sorting.models import StoredRuleFile, StoredRuleSet
from mailproc.sorting.rules import RuleSet
from mailproc.store.base import utcnow

log = logging.getLogger("mailproc.sorting")

#: stored sets kept per mailbox (the newest); older ones are deleted when a new one is kept
KEEP = 20
#: stored sets tried, newest first, when the newest no longer loads
TRY = 3


def set_digest(sources: dict[str, bytes]) -> str:
    """SHA-256 of every file's name and bytes, in name order: a set's identity."""
    h = hashlib.sha256()
    for name in sorted(sources):
        data = sources[name]
        h.update(name.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return h.hexdigest()


def keep(db, mailbox: str, ruleset: RuleSet) -> bool:
    """Store ``ruleset`` as this mailbox's last good set; True if its files were written."""
    digest = set_digest(ruleset.sources)
    with db.transaction() as s:
        newest = s.scalar(select(StoredRuleSet).where(StoredRuleSet.mailbox == mailbox)
                          .order_by(StoredRuleSet.loaded_at.desc(), StoredRuleSet.id.desc())
                          .limit(1))
        if newest is not None and newest.digest == digest:
            return False
        known = s.scalar(select(StoredRuleSet).where(StoredRuleSet.mailbox == mailbox,
                                                     StoredRuleSet.digest == digest))
        if known is not None:  # an earlier set again (a change undone): now the newest
            known.loaded_at = utcnow()
            return False
    try:
        with db.transaction() as s:
            row = StoredRuleSet(mailbox=mailbox, digest=digest, version=ruleset.version,
                                rules=len(ruleset.rules),
                                files=[StoredRuleFile(name=name, content=data)
                                       for name, data in sorted(ruleset.sources.items())])
            s.add(row)
            s.flush()
            old = list(s.scalars(select(StoredRuleSet.id).where(StoredRuleSet.mailbox == mailbox)
                                 .order_by(StoredRuleSet.loaded_at.desc(),
                                           StoredRuleSet.id.desc()).offset(KEEP)))
            if old:
                s.execute(delete(StoredRuleFile).where(StoredRuleFile.rule_set_id.in_(old)))
                s.execute(delete(StoredRuleSet).where(StoredRuleSet.id.in_(old)))
    except IntegrityError:  # another instance stored the same set just now
        return False
    return True


@dataclass
class Stored:
    """A stored set, loaded: the rules and when they were last loaded from files."""

    ruleset: RuleSet
    loaded_at: datetime


def newest(db, mailbox: str) -> StoredRuleSet | None:
    """The newest stored set's row (files not loaded), or None."""
    with db.session() as s:
        return s.scalar(select(StoredRuleSet).where(StoredRuleSet.mailbox == mailbox)
                        .order_by(StoredRuleSet.loaded_at.desc(), StoredRuleSet.id.desc())
                        .limit(1))


def load_newest(db, mailbox: str, **load_kw) -> Stored | None:
    """The newest stored set of ``mailbox`` that still loads, or None when there is none."""
    from mailproc.sorting.loader import load_rules  # noqa: PLC0415 - loader imports plugins

    with db.session() as s:
        rows = list(s.scalars(select(StoredRuleSet).where(StoredRuleSet.mailbox == mailbox)
                              .order_by(StoredRuleSet.loaded_at.desc(), StoredRuleSet.id.desc())
                              .limit(TRY)))
        sets = [(r.version, r.loaded_at, {f.name: f.content for f in r.files}) for r in rows]
    for version, loaded_at, files in sets:
        with tempfile.TemporaryDirectory(prefix="mailproc-rules-") as tmp:
            for name, data in files.items():
                (Path(tmp) / Path(name).name).write_bytes(data)
            try:
                ruleset = load_rules(tmp, shown_root=tmp, **load_kw)
            except RuleFileError as exc:
                log.warning("stored rules %s no longer load: %d problems", version,
                            len(exc.problems))
                continue
        ruleset.files = [Path(f).name for f in ruleset.files]
        return Stored(ruleset, loaded_at)
    return None

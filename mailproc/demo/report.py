"""Runs one pass over the demo mailbox and prints what the system made of each message."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from mailproc.store.models import Message


def run_and_report(app, names: dict[str, str]) -> int:
    with app.source() as source:
        stats = app.intake(source).run_once()
    with app.db.session() as s:
        rows = list(s.scalars(select(Message).options(selectinload(Message.decisions))
                                .order_by(Message.id)))
    print(f"mailproc demo: {len(rows)} messages from the sample mailbox "
          f"({app.settings.mailbox.url})")
    print()
    for m in rows:
        print(f"{names.get(m.uid, m.uid)}")
        print(f"  from      {m.from_addr or '-'}")
        print(f"  subject   {m.subject or '(no subject)'}")
        atts = m.letter.get("attachments", []) if m.letter else []
        if atts:
            print("  files     " + ", ".join(f"{a['name'] or '(no name)'} ({a['type']})"
                                           for a in atts))
        print(f"  category  {m.category}  ->  folder {m.folder or '(left in INBOX)'}"
              + (f"  [{m.reason}]" if m.reason else ""))
        for d in m.decisions[-1:]:
            for a in d.actions:
                print(f"  action    {a['name']} {a.get('args') or ''}")
    print()
    print(f"processed {stats.processed}, to review {stats.review}")
    print(f"database: {app.settings.database.url}")
    return 0

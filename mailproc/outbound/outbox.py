"""Queueing mail: every message mailproc sends is an outbox row first.

``enqueue`` runs inside the caller's transaction (the one that records the decision that
causes the message), so the decision and its mail commit or vanish together; it never sends.
The template is rendered here, at once: a template error is found while the cause is known,
and the row waits in state ``error`` (shown by ``outbox list`` and in the digest) instead of
a half-rendered letter ever leaving. ``outbox retry ID`` renders again after the fix.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from email.utils import getaddresses
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, make_transient_to_detached

from mailproc.errors import TemplateError
from mailproc.logs import about
from mailproc.mailboxes import name_of
from mailproc.outbound.blobs import BlobStore
from mailproc.outbound.filenames import safe_content_type, safe_name
from mailproc.outbound.models import OutboxAttachment, OutboxMessage, Suppression
from mailproc.outbound.templates import Rendered, Templates
from mailproc.store.base import utcnow
from mailproc.tokens import Tokens

log = logging.getLogger("mailproc.outbound")

KINDS = ("reply", "forward", "request", "notice", "mailing", "digest")


@dataclass(frozen=True)
class OutAttachment:
    """``sensitive``: personal data (registration documents): the blob is kept encrypted
    with the vault's key until sent, and the Sent copy goes without it.

    ``content_type`` should be the type detected from the bytes (``Attachment.type``); the
    ``name`` given is rebuilt at once (``filenames.safe_name``): what is stored, shown in
    templates and sent is never the sender's name as written.

    ``pieces`` (with ``size``) stands for ``data`` where the bytes are better not held whole:
    a function giving them in pieces (a vault file's chunks), read once while queueing."""

    name: str
    content_type: str
    data: bytes | None
    sensitive: bool = False
    #: what the name becomes when nothing of the given one is left ("2026-00042-1")
    fallback: str = field(default="file", repr=False, compare=False)
    pieces: Callable[[], Iterable[bytes]] | None = None
    size: int = 0

    def __post_init__(self) -> None:
        ctype = safe_content_type(self.content_type)
        object.__setattr__(self, "content_type", ctype)
        object.__setattr__(self, "name", safe_name(self.name, ctype, self.fallback))

    @property
    def length(self) -> int:
        return len(self.data) if self.data is not None else self.size

    def content(self) -> bytes | Iterable[bytes]:
        return self.data if self.data is not None else self.pieces()


_templates: dict[tuple, Templates] = {}


def templates_for(settings) -> Templates:
    """One Templates per settings (its cache of parsed files is what makes rendering cheap)."""
    key = (settings.paths.templates, settings.mail.timezone, settings.outbox.render_timeout,
           settings.outbox.render_max_size, settings.mail.from_name, settings.mail.from_address)
    if key not in _templates:
        _templates[key] = Templates.from_settings(settings)
    return _templates[key]


_SIMPLE = re.compile(r'^\s*(?:([^"<>,;@()\\]*?)\s*<)?([^\s<>,;"()@]+@[^\s<>,;"()@]+)>?\s*$')


def parse_recipients(to: str | Sequence[str]) -> list[tuple[str, str]]:
    """[(display name, lower-cased address)], duplicates dropped, order kept."""
    items = [to] if isinstance(to, str) else list(to)
    simple = [_SIMPLE.match(x) for x in items]
    pairs = [(m.group(1) or "", m.group(2)) for m in simple] if all(simple) \
        else getaddresses(items)  # the common forms without the full RFC 5322 parser
    seen: dict[str, str] = {}
    for name, addr in pairs:
        addr = addr.strip().lower()
        if "@" in addr and addr not in seen:
            seen[addr] = name
    return [(name, addr) for addr, name in seen.items()]


def suppressed_among(session: Session, addresses: Sequence[str]) -> dict[str, str]:
    """{address: reason} for those of ``addresses`` we must not send to."""
    out: dict[str, str] = {}
    addresses = list(addresses)
    for i in range(0, len(addresses), 500):
        out.update(session.execute(select(Suppression.address, Suppression.reason).where(
            Suppression.address.in_(addresses[i:i + 500]),
            Suppression.suppressed.is_(True))).all())
    return out


def enqueue(session: Session, settings, *, to: str | list[str], template: str,
            context: dict, kind: str, in_reply_to=None,
            attachments: Sequence[OutAttachment] = (), token: str | None = None,
            token_kind: str = "", reply_to: str | None = None,
            auto_submitted: str = "auto-generated", related: tuple[str, int] | None = None,
            headers: dict[str, str] | None = None,
            dedupe_key: str | None = None, cause: str = "", sent_copy: bool = True,
            copy_headers: dict[str, str] | None = None) -> OutboxMessage | None:
    """Queue one message (or its numbered parts) and return its row; None when every
    recipient is suppressed (a row in state ``suppressed`` records why). The same
    ``dedupe_key`` again returns the existing row and queues nothing. ``cause``: the sender
    whose letter caused it (``sorting.limits``; ActionContext fills it in).

    ``sent_copy=False``: no copy in the Sent folder (the row is born ``copied``; a mailing
    issue has one copy for all its recipients, ``outreach.sentcopy``). ``copy_headers``: added
    to the Sent copy only, never to the message the recipient gets."""
    return enqueue_many(session, settings, [dict(
        to=to, template=template, context=context, kind=kind, in_reply_to=in_reply_to,
        attachments=attachments, token=token, token_kind=token_kind, reply_to=reply_to,
        auto_submitted=auto_submitted, related=related, headers=headers,
        dedupe_key=dedupe_key, cause=cause, sent_copy=sent_copy, copy_headers=copy_headers)])[0]


def enqueue_many(session: Session, settings, items: Sequence[dict]) -> list[OutboxMessage | None]:
    """``enqueue`` for many messages at once (a mailing): each item holds ``enqueue``'s
    keyword arguments. One query for the dedupe keys, one for suppressions, one batched
    INSERT: a mailing of thousands is queued in a fraction of the time of single calls."""
    for item in items:
        if item["kind"] not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {item['kind']!r}")
    keys = [item["dedupe_key"] for item in items if item.get("dedupe_key")]
    existing: dict[str, OutboxMessage] = {}
    for i in range(0, len(keys), 500):
        existing.update((r.dedupe_key, r) for r in session.scalars(
            select(OutboxMessage).where(OutboxMessage.dedupe_key.in_(keys[i:i + 500]))))
    recipients = [parse_recipients(item["to"]) for item in items]
    for item, recips in zip(items, recipients):
        if not recips:
            raise ValueError(f"no valid recipient address in {item['to']!r}")
    blocked_all = suppressed_among(session, sorted({a for rs in recipients for _, a in rs}))
    flat: list[dict] = []  # one dict a row to insert
    flat_atts: list[list[dict]] = []
    plan: list[tuple[str, object]] = []  # ("row", existing row) | ("new", [flat indices])
    new_keys: dict[str, list[int]] = {}
    for item, recips in zip(items, recipients):
        key = item.get("dedupe_key")
        if key and key in existing:
            plan.append(("row", existing[key]))
            continue
        if key and key in new_keys:
            plan.append(("new", new_keys[key]))
            continue
        blocked = {a: blocked_all[a] for _, a in recips if a in blocked_all}
        indices = []
        for row, atts in _rows_for(settings, recips, blocked, **item):
            indices.append(len(flat))
            flat.append(row)
            flat_atts.append(atts)
        if key:
            new_keys[key] = indices
        plan.append(("new", indices))
    inserted = _insert_rows(session, flat) if flat else []
    if flat:
        atts = [dict(a, outbox_pk=inserted[i].id) for i, rows in enumerate(flat_atts)
                for a in rows]
        if atts:
            session.execute(insert(OutboxAttachment), atts)
    results: list[OutboxMessage | None] = []
    for what, value in plan:
        if what == "row":
            row = value
        else:
            rows = [inserted[i] for i in value]
            if len(rows) > 1:
                for r in rows:
                    r.group_id = rows[0].id
            row = rows[0]
        results.append(None if row.state == "suppressed" else row)
    return results


def _insert_rows(session: Session, flat: list[dict]) -> list[OutboxMessage]:
    """INSERT the rows in batched multi-row statements and return them as ORM objects.

    Rows are matched to their new ids by ``message_id`` (unique, made here) instead of asking
    for RETURNING in parameter order, which SQLAlchemy can only give on SQLite one statement a
    row; and the ORM objects are built from the values we already hold and attached to the
    session as persistent (no SELECT back, no JSON decoded again). Every column has its value
    in ``flat``, so an object equals what a load would give."""
    table = OutboxMessage.__table__
    ids = dict(session.execute(insert(table).returning(table.c.message_id, table.c.id),
                               flat).all())
    manager = OutboxMessage._sa_class_manager
    rows = []
    for values in flat:
        row = manager.new_instance()  # state set as a load sets it: no change events
        row.__dict__.update(values, id=ids[values["message_id"]])
        make_transient_to_detached(row)
        rows.append(row)
    session.add_all(rows)
    return rows


def _rows_for(settings, recipients: list[tuple[str, str]], blocked: dict[str, str], *,
              to, template: str, context: dict, kind: str, in_reply_to=None,
              attachments: Sequence[OutAttachment] = (), token: str | None = None,
              token_kind: str = "", reply_to: str | None = None,
              auto_submitted: str = "auto-generated", related: tuple[str, int] | None = None,
              headers: dict[str, str] | None = None,
              dedupe_key: str | None = None, cause: str = "", sent_copy: bool = True,
              copy_headers: dict[str, str] | None = None) -> list[tuple[dict, list[dict]]]:
    """The row (or numbered rows) for one message as column values, each with its
    attachments' values; every row has the same keys (one executemany INSERT)."""
    keep = [(n, a) for n, a in recipients if a not in blocked]
    domain = settings.mail.from_address.rpartition("@")[2]
    now = utcnow()
    base = dict(kind=kind, template=template, context=to_json(context),
                sender=settings.mail.from_address, mailbox=name_of(settings), cause=cause,
                token=token or "", token_kind=token_kind,
                related_type=related[0] if related else "",
                related_id=related[1] if related else None,
                date=now, created_at=now, next_attempt_at=now, group_id=None,
                attempts=0, claim="", claimed_at=None, sent_at=None, copied=not sent_copy,
                updated_at=now)  # every column: see _insert_rows
    if not keep:
        log.info("outbox: every recipient suppressed, nothing queued (template %s%s)", template,
                 f", case {token}" if token else "", extra=about(case=token))
        return [(dict(base, message_id=_plain_message_id(domain), dedupe_key=dedupe_key,
                      state="suppressed",
                      error="все получатели в списке подавления: " + "; ".join(
                          f"{a} ({r})" for a, r in blocked.items()),
                      recipients={a: {"state": "suppressed", "answer": blocked[a]}
                                  for _, a in recipients},
                      subject="", text="", html="", headers={"to": [list(r) for r in recipients]},
                      part=1, parts=1), [])]
    try:
        rendered: Rendered | None = templates_for(settings).render(template, context)
        error = ""
    except TemplateError as exc:
        rendered, error = None, "\n".join(exc.problems)
        log.warning("outbox: template %s failed to render%s, row waits in state error", template,
                    f" for case {token}" if token else "", extra=about(case=token))

    extra = _headers(settings, kind=kind, in_reply_to=in_reply_to, reply_to=reply_to,
                     auto_submitted=auto_submitted, recipients=keep, more=headers or {})
    thread_subject = (in_reply_to.subject or "") if in_reply_to is not None else ""
    tokens = tokens_for(settings) if token else None
    store = BlobStore.from_settings(settings) if attachments else None
    box = sealing_box(settings) if any(a.sensitive for a in attachments) else None
    stored = [(a, store.put_sealed(a.content(), box) if a.sensitive
               else store.put(a.data if a.data is not None else b"".join(a.pieces())))
              for a in attachments]
    sealed = sorted(d for a, d in stored if a.sensitive)
    groups = split_attachments([(a, d, a.length) for a, d in stored],
                               settings.smtp.max_message_size)
    rows: list[tuple[dict, list[dict]]] = []
    for index, group in enumerate(groups, 1):
        n = len(groups)
        part_subject, part_text, part_html = compose(
            rendered, thread_subject, token or "", token_kind, index, n)
        rows.append((dict(
            base,
            message_id=tokens.message_id(token, token_kind) if tokens else _plain_message_id(domain),
            dedupe_key=(dedupe_key if index == 1 else f"{dedupe_key}#{index}") if dedupe_key
            else None,
            state="error" if error else "queued", error=error,
            recipients={a: {"state": "queued", "answer": ""} for _, a in keep}
            | {a: {"state": "suppressed", "answer": blocked[a]} for a in blocked},
            subject=part_subject, text=part_text, html=part_html,
            headers={"to": [list(r) for r in keep], "extra": extra,
                     "thread_subject": thread_subject}
            | ({"sealed": [d for _, d, _ in group if d in sealed]} if sealed else {})
            | ({"copy_extra": dict(copy_headers)} if copy_headers else {}),
            part=index, parts=n,
        ), [dict(position=i, name=a.name,
                 content_type=a.content_type or "application/octet-stream",
                 sha256=digest, size=size) for i, (a, digest, size) in enumerate(group)]))
    return rows


def sealing_box(settings):
    """The vault's cipher (``registrations.vault``: its keys, its rotation) for sealed
    attachment blobs; ConfigError naming the key setting when no key is configured."""
    from mailproc.registrations.vault import Vault

    return Vault.from_settings(settings)


_tokens: dict[tuple, Tokens] = {}


def tokens_for(settings) -> Tokens:
    """Tokens with the signing key read once per settings, not once per message."""
    key = (settings.paths.data, settings.mail.token_secret_file, settings.mail.from_address)
    if key not in _tokens:
        _tokens[key] = Tokens.from_settings(settings)
    return _tokens[key]


def split_attachments(items: list[tuple[Any, str, int]], limit: int) -> list[list]:
    """Attachments packed in order into groups under ``limit`` bytes (base64 grows them by a
    third, so the packing counts 4/3 of each); a file larger than the limit goes alone.
    Always at least one group, possibly empty."""
    groups: list[list] = [[]]
    size = 0
    budget = max(1, limit - 64 * 1024)  # room for headers and the text part
    for item in items:
        wire = item[2] * 4 // 3
        if groups[-1] and size + wire > budget:
            groups.append([])
            size = 0
        groups[-1].append(item)
        size += wire
    return groups


def _plain_message_id(domain: str) -> str:
    return f"<mp.{secrets.token_hex(8)}@{domain}>"


def compose(rendered: Rendered | None, thread_subject: str, token: str, token_kind: str,
            part: int = 1, parts: int = 1) -> tuple[str, str, str]:
    """Subject, text and HTML as sent: "Re: " of the thread, the case tag in the subject and
    the hidden marker in the body, "часть i из N" on split messages. Empty when the template
    did not render (the row waits in state error and carries no text)."""
    if rendered is None:
        return "", "", ""
    subject, text, html_part = rendered.subject, rendered.text, rendered.html
    original = " ".join(thread_subject.split())
    if original:
        subject = original if original.lower().startswith(("re:", "ответ:")) else f"Re: {original}"
    if token:
        tag = Tokens.subject_tag(token)
        if tag not in subject:
            subject = f"{subject} {tag}".strip()
        marker = Tokens.body_marker(token, token_kind)
        text = f"{text.rstrip()}\n\n-- \nСлужебная отметка, не удаляйте при ответе: {marker}\n"
        if html_part:
            html_part += f'<div style="display:none;font-size:1px;color:#ffffff">{marker}</div>\n'
    if parts > 1:
        subject = f"{subject} (часть {part} из {parts})"
        text = f"Часть {part} из {parts}.\n\n{text}"
        if html_part:
            html_part = f"<p>Часть {part} из {parts}.</p>\n{html_part}"
    return subject, text, html_part


def _headers(settings, *, kind: str, in_reply_to, reply_to: str | None, auto_submitted: str,
             recipients: list[tuple[str, str]], more: dict[str, str]) -> dict[str, str]:
    """Headers that mark the message as ours and thread it (RFC 3834, RFC 5322 3.6.4,
    RFC 2369 and RFC 8058 for mailings)."""
    out: dict[str, str] = {"Auto-Submitted": auto_submitted}
    if reply_to:
        out["Reply-To"] = reply_to
    if in_reply_to is not None and in_reply_to.message_id:
        refs = [r for r in in_reply_to.references if r][-10:]
        out["In-Reply-To"] = in_reply_to.message_id
        out["References"] = " ".join([*refs, in_reply_to.message_id])
    if kind == "mailing" and "List-Unsubscribe" not in more:
        # a mailing queued without its list headers (outreach.listheaders gives them): still
        # never one without a way out, by the recipient's address token
        from mailproc.outreach.listheaders import unsubscribe_headers

        out.update(unsubscribe_headers(settings, unsubscribe_token(settings, recipients[0][1])))
        out["Precedence"] = "bulk"
    out.update(more)
    return out


def unsubscribe_token(settings, address: str) -> str:
    """A token naming ``address`` that only we can make (so an unsubscribe link cannot be
    forged for someone else): address hash + HMAC. Mailings of the plan carry the signed
    contact-and-list token of ``outreach.listtoken`` instead; this one stays recognised for
    mail sent before it and for mailings queued without list headers."""
    digest = hmac.new(tokens_for(settings).key, address.lower().encode(), hashlib.sha256)
    return digest.hexdigest()[:20]


# -- context kept as JSON so a row can be rendered again after a template fix ---------------


def to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$datetime"}:
            return datetime.fromisoformat(value["$datetime"])
        if set(value) == {"$date"}:
            return date.fromisoformat(value["$date"])
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


def rerender(settings, row: OutboxMessage) -> None:
    """Render an ``error`` row again (after the template was fixed); raises TemplateError."""
    rendered = templates_for(settings).render(row.template, from_json(row.context))
    row.subject, row.text, row.html = compose(
        rendered, row.headers.get("thread_subject", ""), row.token, row.token_kind,
        row.part, row.parts)
    row.state, row.error, row.next_attempt_at = "queued", "", utcnow()

"""The built-in actions: file the message, answer it, forward it, tell the librarians.

Filing actions (set-category, move-to-folder, add-keyword) shape the Decision while deciding,
so a dry run shows where mail goes; they have nothing left to do afterwards. Answering and
forwarding go through the outbox in the message's transaction, and are refused for automatic
mail and bounces whatever the rule says (RFC 3834 section 2: never answer automatic mail), and
past ``rules.responses_per_sender`` a day, so two robots can never mail each other forever.
"""

from __future__ import annotations

from mailproc.sorting.registry import action


def _set_category(decision, category):
    decision.category = category


def _set_folder(decision, folder):
    decision.folder = folder


def _add_keyword(decision, keyword):
    if keyword not in decision.keywords:
        decision.keywords.append(keyword)


@action("set-category", "Назначить категорию письма", {"category": "str"}, shape=_set_category)
def set_category(ctx, category) -> dict:
    return {}


@action("move-to-folder", "Переложить письмо в папку (создаётся при первом письме)",
        {"folder": "folder"}, shape=_set_folder)
def move_to_folder(ctx, folder) -> dict:
    return {}


@action("add-keyword", "Поставить письму ключевое слово (метку) IMAP", {"keyword": "keyword"},
        shape=_add_keyword)
def add_keyword(ctx, keyword) -> dict:
    return {}


def _queued(row, to) -> dict:
    if row is None:
        return {"result": "отказ почтового модуля (адрес в списке подавленных?)", "to": to}
    return {"result": "в очереди на отправку", "queued": True, "to": to,
            "outbox": getattr(row, "id", None)}


@action("reply-with-template", "Ответить отправителю по шаблону",
        {"template": "template"}, responds=True)
def reply_with_template(ctx, template) -> dict:
    why = ctx.refusal(f"ответ по шаблону {template}")
    if why:
        return {"result": f"не отправлено: {why}"}
    letter = ctx.letter
    to = (letter.reply_to[0] if letter.reply_to else letter.sender).email
    if not to:
        return {"result": "не отправлено: у письма нет обратного адреса"}
    row = ctx.outbox(to=to, template=template, context=ctx.template_context(), kind="reply",
                     in_reply_to=letter, auto_submitted="auto-replied",
                     dedupe_key=f"reply:{ctx.message.id}:{template}")
    return _queued(row, to)


@action("forward", "Переслать письмо с вложениями по адресу или в отдел, по шаблону",
        {"template": "template", "to": "strs?", "department": "department?",
         "attachments": "bool?"}, responds=True)
def forward(ctx, template, to=None, department=None, attachments=True) -> dict:
    why = ctx.refusal(f"пересылка по шаблону {template}")
    if why:
        return {"result": f"не отправлено: {why}"}
    targets = list(to or ())
    if department is not None:
        targets.append(department.address)
    targets = [t for t in targets if t]
    if not targets:
        return {"result": "не отправлено: у отдела нет адреса в departments.yaml"}
    files = []
    if attachments:
        from mailproc.outbound.outbox import OutAttachment  # noqa: PLC0415 - built in parallel

        files = [OutAttachment(a.name or "attachment", a.type, a.data)
                 for a in ctx.letter.all_attachments() if a.data is not None]
    extra = {"department": {"key": department.key, "name": department.name}} if department else {}
    row = ctx.outbox(to=targets, template=template, context=ctx.template_context(**extra),
                     kind="forward", attachments=files, reply_to=None,
                     dedupe_key=f"forward:{ctx.message.id}:{template}:{','.join(targets)}")
    return _queued(row, targets)


@action("notify-librarians", "Сообщить библиотекарям (на адрес mail.librarians_address)",
        {"template": "template?", "note": "str?"})
def notify_librarians(ctx, template="librarians/notice", note="") -> dict:
    to = ctx.settings.mail.librarians_address
    letter = ctx.letter
    context = ctx.template_context(
        note=note, title=note or "письмо требует внимания",
        lines=[f"письмо №{ctx.message.id}: «{letter.subject}» от {letter.sender.email}"],
        what_to_do=f"Посмотрите письмо: mailproc messages show {ctx.message.id}")
    row = ctx.outbox(to=to, template=template, context=context,
                     kind="notice", dedupe_key=f"notice:{ctx.message.id}:{template}")
    return {"result": "сообщение библиотекарям в очереди" if row is not None else
            "не отправлено", "outbox": getattr(row, "id", None)}

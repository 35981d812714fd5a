"""One-click unsubscribe over HTTP (RFC 8058), as one function any web front can call.

``handle(app, method, path, body) -> Response(status, body)`` knows nothing of WSGI or ASGI:
a later ``mailproc serve``, or a small adapter behind the library's own web server, passes
the request's method, path and body and writes back the status and the HTML. What it does:

* ``POST .../u/TOKEN`` with ``List-Unsubscribe=One-Click`` in the body (form-urlencoded or
  multipart/form-data, RFC 8058 3.1): the token is verified (``outreach.listtoken``) and the
  contact unsubscribed at once, no login, no confirmation step: 200 with a short page. A
  second POST changes nothing and says the same. A forged or altered token: 404, nothing
  changes.
* ``GET .../u/TOKEN`` (a reader clicking the link, or a mail scanner following it): never
  unsubscribes (RFC 8058 3.2: scanners fetch links); it shows one button that sends that
  POST. 404 for a token that does not verify.
* Anything else: 404 for another path, 405 for another method, 400 for a POST without the
  one-click body.

The path may carry any prefix (``/mailproc/u/TOKEN`` behind a proxy): the token is the last
segment after ``/u/``. The pages are Russian and small; no personal data is shown beyond the
mailing's title, and nothing but ids goes to the log.
"""

from __future__ import annotations

import html
import logging
import re
from typing import NamedTuple
from urllib.parse import unquote

from mailproc.store.base import utcnow

log = logging.getLogger("mailproc.outreach")

_PATH = re.compile(r"/u/(?P<token>[^/?#]+)/?(?:[?#].*)?$")
#: List-Unsubscribe=One-Click as a urlencoded field or a multipart part (name="...", blank line)
_ONE_CLICK = re.compile(rb'List-Unsubscribe(?:=|"[^\r\n]*(?:\r?\n[^\r\n]+)*\r?\n\r?\n)One-Click')


class Response(NamedTuple):
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"


def _page(status: int, title: str, text: str, form: str = "") -> Response:
    doc = (f'<!DOCTYPE html>\n<html lang="ru"><head><meta charset="utf-8">'
           f'<meta name="viewport" content="width=device-width">'
           f"<title>{html.escape(title)}</title></head>\n"
           f'<body style="font-family: Arial, sans-serif; max-width: 640px; margin: 2em auto;">'
           f"<h1 style=\"font-size: 1.3em\">{html.escape(title)}</h1>\n<p>{html.escape(text)}</p>"
           f"{form}</body></html>\n")
    return Response(status, doc.encode("utf-8"))


_BAD_LINK = ("Ссылка для отписки неверна или устарела",
             "Отписаться можно и так: ответьте на письмо рассылки словом «отписаться».")


def handle(app, method: str, path: str, body: bytes = b"") -> Response:
    """Answer one HTTP request for the one-click unsubscribe (see the module's doc)."""
    from mailproc.outreach.listtoken import verify_token

    m = _PATH.search(path or "")
    if not m:
        return _page(404, "Страница не найдена", "Здесь только отписка от рассылок.")
    method = method.upper()
    if method not in ("GET", "HEAD", "POST"):
        return _page(405, "Метод не поддерживается", "Отписка: запрос POST.")
    token = unquote(m.group("token"))
    signed = verify_token(app.settings, token)
    if signed is None:
        log.warning("one-click unsubscribe: a token that does not verify was refused")
        return _page(404, *_BAD_LINK)
    title = _title(app, signed.mailing)
    if method != "POST":
        form = ('<form method="post"><input type="hidden" name="List-Unsubscribe" '
                'value="One-Click"><button type="submit" style="font-size: 1.1em; '
                'padding: .4em 1.2em">Отписаться</button></form>')
        return _page(200, f"Отписка от рассылки «{title}»",
                     "Нажмите кнопку, и письма рассылок Национальной библиотеки больше не "
                     "будут приходить на ваш адрес.", form)
    if not _ONE_CLICK.search(body or b""):
        return _page(400, "Запрос не понят", "Ожидалось поле List-Unsubscribe=One-Click.")
    return unsubscribe_one_click(app, token, title)


def _title(app, name: str) -> str:
    """The mailing's title from the plan (what the reader saw in List-Id), else its name."""
    from mailproc.outreach.sending import cached_plan

    try:
        spec = cached_plan(app.settings).mailings.get(name)
    except Exception:  # noqa: BLE001 - a broken plan must not stop an unsubscribe
        spec = None
    return (spec.title or spec.name) if spec is not None else name


def unsubscribe_one_click(app, token: str, title: str) -> Response:
    from mailproc.outreach.unsubscribe import unsubscribe_by_token

    with app.db.transaction() as s:
        contact = unsubscribe_by_token(s, app.settings, token, utcnow())
        contact_id = contact.id if contact is not None else None
    if contact_id is None:  # signed by us, but the contact was deleted since
        return _page(404, *_BAD_LINK)
    log.info("one-click unsubscribe: contact %s", contact_id)
    return _page(200, "Вы отписаны",
                 f"Письма рассылки «{title}» и других рассылок Национальной библиотеки "
                 f"Республики Саха (Якутия) больше не будут приходить на ваш адрес.")

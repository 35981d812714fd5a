"""The one-click unsubscribe page (RFC 8058) as a WSGI application (PEP 3333).

Any WSGI server the library already runs behind its HTTPS serves it with one line of its own
settings, no code to write: ``gunicorn mailproc.outreach.wsgi:application``, uWSGI's
``module = mailproc.outreach.wsgi:application``, Apache's ``WSGIScriptAlias`` to this file.
The settings are found as every mailproc command finds them (``$MAILPROC_CONFIG``, else
``/etc/mailproc/mailproc.toml``); the worker must run as the service's user, which can read
them and the token key. Without a settings file every request is answered 503 and the log
says why once (the settings are read again at the next request): one-click links must never be answered from an empty database of its own.

What it adds to ``oneclick.handle``: the request body is read up to ``MAX_BODY`` (the one-click
form is 26 bytes; a larger body is cut, never buffered whole), HEAD gets the headers of the GET
without a body, and the responses are never cached (RFC 8058 3.1 pages are per recipient).
"""

from __future__ import annotations

import logging
import threading
from http import HTTPStatus

from mailproc.outreach.oneclick import Response, handle

log = logging.getLogger("mailproc.outreach")

#: the most of a request body read (RFC 8058's form is ``List-Unsubscribe=One-Click``)
MAX_BODY = 65536

_app = None
_lock = threading.Lock()


def _installation():
    """The service's installation, built on the first request (the settings are read once)."""
    global _app
    with _lock:
        if _app is None:
            from mailproc.app import App
            from mailproc.config import load_settings, require_file

            _app = App(require_file(load_settings()))
        return _app


_said = ""  # the last reason logged: each is said once, not once a request


def _unavailable(why: str) -> Response:
    global _said
    if why != _said:
        log.error("one-click unsubscribe unavailable: %s", why)
        _said = why
    return Response(503, "Отписка временно недоступна. Ответьте на письмо рассылки словом "
                         "«отписаться».\n".encode("utf-8"), "text/plain; charset=utf-8")


def _body(environ) -> bytes:
    try:
        size = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        size = 0
    size = max(0, min(size, MAX_BODY))
    return environ["wsgi.input"].read(size) if size else b""


def application(environ, start_response):
    """PEP 3333 entry point: one request to ``oneclick.handle``."""
    from mailproc.errors import MailprocError

    method = environ.get("REQUEST_METHOD", "GET").upper()
    try:
        app = _installation()
    except MailprocError as exc:  # no settings file, a wrong setting: said in the log
        result = _unavailable(str(exc))
    else:
        result = handle(app, method, environ.get("PATH_INFO", ""), _body(environ))
    start_response(f"{result.status} {HTTPStatus(result.status).phrase}", [
        ("Content-Type", result.content_type),
        ("Content-Length", str(len(result.body))),
        ("Cache-Control", "no-store"),
    ])
    return [b""] if method == "HEAD" else [result.body]

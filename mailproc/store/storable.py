"""Text PostgreSQL can store: the one place where NUL and lone surrogates are replaced.

PostgreSQL refuses two things a letter can carry in its text:

* U+0000 (NUL): "text fields cannot contain NUL (0x00) bytes"; a ``json`` value keeps the
  escape ``\\u0000`` but fails as soon as a query reads it as text.
* lone surrogates (U+D800-U+DFFF without their pair): they have no UTF-8 form (RFC 3629,
  section 3), so the driver cannot even send them, and the ``json`` type refuses their
  escapes ("Unicode low surrogate must follow a high surrogate").

A subject ``=?x-evil?B?AAAA?=`` decodes to three NULs; written as it is, the INSERT fails, so
does the write that would file the message for review, and the mailbox stops. So every
string parameter sent to PostgreSQL, and every JSON document serialised for it, passes
:func:`storable` here (:func:`install`, called by ``mailproc.store.database`` for PostgreSQL
engines): whatever table a letter's text reaches, it is stored with U+FFFD in their place.
SQLite stores both as they are and is left alone.

The intake does not rely on this to keep quiet: a letter carrying such characters goes to
the review folder with the reason (``mailproc.letter.sanity``); this module only guarantees
that the rows saying so can be written.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")


def unstorable(text: str) -> bool:
    """True when ``text`` holds a NUL or a lone surrogate (a pair is never a Python str)."""
    return "\x00" in text or (not text.isascii() and _SURROGATE.search(text) is not None)


def storable(text: str) -> str:
    """``text`` with NUL and lone surrogates replaced by U+FFFD; the same object when clean."""
    if "\x00" in text:
        text = text.replace("\x00", REPLACEMENT)
    if not text.isascii() and _SURROGATE.search(text) is not None:
        text = _SURROGATE.sub(REPLACEMENT, text)
    return text


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def json_dumps(value: Any) -> str:
    """JSON for PostgreSQL's ``json`` columns: UTF-8 as it is (``ensure_ascii=False``, so a
    surrogate cannot hide in an escape), NUL and lone surrogates replaced. Clean documents,
    nearly all, are serialised once and only scanned."""
    text = json.dumps(value, ensure_ascii=False)
    if "\\u0000" in text or (not text.isascii() and _SURROGATE.search(text) is not None):
        text = json.dumps(_clean(value), ensure_ascii=False)
    return text


def _params(params: Any) -> Any:
    """The DBAPI parameters with every unstorable string replaced (dicts for psycopg's
    named style, sequences for positional ones, a list of either for executemany)."""
    if isinstance(params, dict):
        bad = [k for k, v in params.items() if type(v) is str and unstorable(v)]
        if not bad:
            return params
        return {**params, **{k: storable(params[k]) for k in bad}}
    if isinstance(params, (list, tuple)):
        if params and isinstance(params[0], (dict, list, tuple)):
            cleaned = [_params(p) for p in params]
        else:
            cleaned = [storable(v) if type(v) is str and unstorable(v) else v for v in params]
        return type(params)(cleaned) if isinstance(params, tuple) else cleaned
    return params


def install(engine: Engine) -> None:
    """Make every statement ``engine`` sends carry storable text (PostgreSQL engines)."""

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _storable(conn, cursor, statement, parameters, context, executemany):
        return statement, _params(parameters)

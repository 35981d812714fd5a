"""The library's mail server's verdict on a letter, from ``Authentication-Results`` (RFC 8601).

Any sender can write an ``Authentication-Results`` header into a letter; only the one the
library's border server prepends is true. So (RFC 8601 section 5):

- a header whose authserv-id is not one of the trusted ids (``[trust] authserv_ids``) is
  ignored wherever it stands, above or below the server's own;
- of the headers bearing a trusted id, only the topmost counts: the server prepends its header,
  so anything under it arrived with the message from outside (a server that does not strip
  forged copies of its own id would otherwise be believed).

The header is parsed by ``authres`` (RFC 8601, with the DMARC method of RFC 7489). Nothing here
raises on a malformed header: a trusted one that cannot be read is an unreadable verdict (which
never passes), a foreign one is skipped. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import authres
import authres.dmarc

HEADER = "authentication-results"
#: authres with the DMARC method (RFC 7489 section 11.2) besides the core ones
_CONTEXT = authres.FeatureContext(authres.dmarc)
#: the authserv-id of a header authres cannot parse: the first word after any comments
_LEADING_ID = re.compile(r"^\s*(?:\([^()]*\)\s*)*([^\s;()]+)")


@dataclass(frozen=True)
class Result:
    """One method's result: ``dkim=pass header.d=nlrs.ru`` is ("dkim", "pass",
    (("header.d", "nlrs.ru"),))."""

    method: str
    result: str
    props: tuple[tuple[str, str], ...] = ()

    def prop(self, name: str) -> str:
        for key, value in self.props:
            if key == name:
                return value
        return ""

    def __str__(self) -> str:
        return " ".join([f"{self.method}={self.result}", *(f"{k}={v}" for k, v in self.props)])


@dataclass(frozen=True)
class ServerVerdict:
    """The trusted server's header: its id and results; ``readable`` False when authres could
    not parse it (then ``results`` is empty and ``error`` says why)."""

    authserv_id: str
    results: tuple[Result, ...] = ()
    readable: bool = True
    error: str = ""

    def of(self, method: str) -> list[Result]:
        return [r for r in self.results if r.method == method]

    def __str__(self) -> str:
        if not self.readable:
            return f"{self.authserv_id}: unreadable ({self.error})"
        return f"{self.authserv_id}; " + ("; ".join(map(str, self.results)) or "none")


def server_verdict(headers: Iterable[tuple[str, str]],
                   authserv_ids: Iterable[str]) -> ServerVerdict | None:
    """The topmost ``Authentication-Results`` of a trusted authserv-id, or None."""
    trusted = {i.strip().lower() for i in authserv_ids if i.strip()}
    if not trusted:
        return None
    for name, value in headers:
        if name.lower() != HEADER:
            continue
        verdict = parse(value)
        if verdict.authserv_id in trusted:
            return verdict
    return None


def parse(value: str) -> ServerVerdict:
    """One header value; never raises."""
    try:
        header = _CONTEXT.parse_value(" ".join(str(value).split()))
    except Exception as exc:  # noqa: BLE001 - authres raises its own errors, and worse on junk
        found = _LEADING_ID.match(str(value))
        return ServerVerdict((found.group(1) if found else "").lower(), readable=False,
                             error=type(exc).__name__)
    results = []
    for r in header.results:
        props = tuple((f"{p.type}.{p.name}".lower(), str(p.value or ""))
                      for p in getattr(r, "properties", ()) or ())
        results.append(Result(str(r.method or "").lower(), str(r.result or "").lower(), props))
    return ServerVerdict(str(header.authserv_id or "").lower(), tuple(results))

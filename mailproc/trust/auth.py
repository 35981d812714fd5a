"""Is the letter's From domain authenticated by the library's mail server?

The From domain passes when the trusted server's verdict (verdict.py) has

1. ``dmarc=pass`` for that domain (``header.from``; RFC 7489), or
2. ``dkim=pass`` with a signing domain ``header.d`` (else the domain of ``header.i``) aligned
   with it (RFC 6376, RFC 7489 section 3.1.1), or
3. with ``[trust] spf_aligned``: ``spf=pass`` for an aligned ``smtp.mailfrom`` domain (RFC 7208,
   RFC 7489 section 3.1.2), or
4. no verdict at all (no trusted header, or one with only ``none`` results) and one of the top
   Received headers names an internal relay of ``[trust] relays`` (relay.py).

Alignment is relaxed: the same domain, or one a subdomain of the other (``mail.nlrs.ru`` and
``nlrs.ru``), compared case-insensitively as IDNA A-labels; a single label (``ru``) never aligns.
mailproc keeps no public-suffix list, so relaxed alignment is read as "one domain contains the
other", which is the organisational-domain rule wherever the library's own domains are
concerned.

Statuses: ``pass``; ``fail`` (the server judged and nothing aligned passed, or its header cannot
be read); ``none`` (the server said nothing and no relay vouches); ``off`` (no trusted
authserv-id configured: nothing is verified). ``why`` says it in Russian for review reasons.
Pure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from mailproc.trust.relay import relayed_by
from mailproc.trust.verdict import Result, ServerVerdict, server_verdict

METHODS = ("dmarc", "dkim", "spf")


@dataclass(frozen=True)
class Auth:
    status: str  # pass, fail, none, off
    how: str = ""  # dmarc, dkim, spf, relay when passed
    authserv_id: str = ""  # the trusted header read, "" when none
    verdict: str = ""  # that header as read (inspect, rules test)
    why: str = ""  # Russian: what failed ("DMARC fail"), or how it passed
    relay: str = ""  # the internal relay that vouched

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def to_json(self) -> dict:
        return asdict(self)

    def show(self) -> str:
        """One line for a person: ``pass (dmarc) — mail.nlrs.ru; dmarc=pass ...``."""
        head = f"{self.status} ({self.how})" if self.how else self.status
        return f"{head}: {self.why}" + (f" [{self.verdict}]" if self.verdict else "")


def domain_of(value: str) -> str:
    """The domain of an address or a bare domain, lower case, as an IDNA A-label."""
    domain = str(value or "").strip().rpartition("@")[2].strip().strip(".").lower()
    try:
        return domain.encode("idna").decode("ascii")
    except (UnicodeError, ValueError):
        return domain


def aligned(a: str, b: str) -> bool:
    """Relaxed alignment (RFC 7489 section 3.1): equal, or one a subdomain of the other; a
    single label never aligns."""
    a, b = domain_of(a), domain_of(b)
    if not a or not b or "." not in a or "." not in b:
        return False
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def authenticate(letter, trust) -> Auth:
    """The From domain's authentication under ``trust`` (TrustSettings)."""
    ids = tuple(trust.authserv_ids)
    if not ids:
        return Auth("off", why="проверка подлинности не настроена ([trust] authserv_ids)")
    domain = domain_of(letter.sender.email) if letter.sender.email else ""
    verdict = server_verdict(letter.headers, ids)
    if verdict is not None and not verdict.readable:
        return Auth("fail", authserv_id=verdict.authserv_id, verdict=str(verdict),
                    why=f"заключение почтового сервера {verdict.authserv_id} не читается")
    said = _decisive(verdict)
    if said:
        how = _passing(verdict, domain, trust.spf_aligned) if domain else ""
        if how:
            return Auth("pass", how, verdict.authserv_id, str(verdict), _how_ru(how, verdict))
        return Auth("fail", "", verdict.authserv_id, str(verdict),
                    _failed_ru(said, domain, trust.spf_aligned))
    relay = relayed_by(letter.headers, trust.relays, trust.relay_hops)
    seen = (verdict.authserv_id, str(verdict)) if verdict is not None else ("", "")
    if relay:
        return Auth("pass", "relay", *seen, why=f"получено от внутреннего узла {relay}",
                    relay=relay)
    return Auth("none", "", *seen,
                why=f"почтовый сервер ({', '.join(ids)}) не оставил заключения "
                    f"(Authentication-Results)")


def _decisive(verdict: ServerVerdict | None) -> list[Result]:
    """The DMARC, DKIM and SPF results that say something (not ``none``), in that order."""
    if verdict is None:
        return []
    return [r for m in METHODS for r in verdict.of(m) if r.result != "none"]


def _passing(verdict: ServerVerdict, domain: str, spf: bool) -> str:
    for r in verdict.of("dmarc"):
        said = r.prop("header.from")
        if r.result == "pass" and (not said or domain_of(said) == domain):
            return "dmarc"
    if any(r.result == "pass" and aligned(_signer(r), domain) for r in verdict.of("dkim")):
        return "dkim"
    if spf and any(r.result == "pass" and aligned(r.prop("smtp.mailfrom"), domain)
                   for r in verdict.of("spf")):
        return "spf"
    return ""


def _signer(r: Result) -> str:
    return r.prop("header.d") or domain_of(r.prop("header.i"))


def _how_ru(how: str, verdict: ServerVerdict) -> str:
    return {"dmarc": "DMARC pass", "dkim": "подпись DKIM домена отправителя",
            "spf": "SPF pass для домена отправителя"}[how] + f" ({verdict.authserv_id})"


def _failed_ru(said: list[Result], domain: str, spf: bool) -> str:
    """"DMARC fail", "DKIM pass для чужого домена evil.example", "SPF pass (не принимается)"."""
    parts = []
    for r in said:
        name = r.method.upper()
        if r.result != "pass":
            parts.append(f"{name} {r.result}")
        elif r.method == "dmarc":
            parts.append(f"{name} pass для другого домена {domain_of(r.prop('header.from'))}")
        elif r.method == "dkim":
            parts.append(f"{name} pass для чужого домена {_signer(r) or '(не указан)'}")
        elif not spf:
            parts.append(f"{name} pass (без DMARC и DKIM не принимается: [trust] spf_aligned)")
        else:
            parts.append(f"{name} pass для чужого домена "
                         f"{domain_of(r.prop('smtp.mailfrom')) or '(не указан)'}")
    if not domain:
        parts.insert(0, "нет адреса отправителя")
    return ", ".join(dict.fromkeys(parts))

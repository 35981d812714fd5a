"""Internal relays: mail the library's server delivers without a verdict (RFC 5321 section
4.4 trace fields).

Only the top ``relay_hops`` ``Received`` headers are read: those the library's own servers
wrote. Below them anything may be forged. In such a header only what the receiving server
found out itself counts: the name from its reverse lookup and the address, in parentheses
after the HELO name (Postfix, Sendmail: ``from helo (name.example [10.0.0.5]) by ...``; Exim
writes the address there too). The HELO name is the sender's own claim and never matches. Pure.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

#: ``from HELO (TCP-info)``: the TCP-info comment right after the HELO name
_FROM = re.compile(r"^\s*from\s+\S+\s*\(([^()]*)\)", re.I)
_ADDRESS = re.compile(r"\[(?:ipv6:)?([0-9a-f.:]+)\]", re.I)
_NAME = re.compile(r"^([a-z0-9][a-z0-9.-]*\.[a-z0-9-]+)\.?(?=\s|\[|$)", re.I)


def seen_hosts(received: str) -> set[str]:
    """Names and addresses the receiving server recorded for its peer, lower case."""
    found = _FROM.match(" ".join(str(received).split()))
    if found is None:
        return set()
    info = found.group(1).strip()
    hosts = {a.lower() for a in _ADDRESS.findall(info)}
    name = _NAME.match(info)
    if name and name.group(1).lower() != "unknown":
        hosts.add(name.group(1).lower())
    return hosts


def relayed_by(headers: Iterable[tuple[str, str]], relays: Iterable[str], hops: int) -> str:
    """The listed relay (a name, an address or a network such as 10.0.0.0/24) one of the top
    ``hops`` Received headers names, or ""."""
    wanted = [r.strip().lower().strip("[]") for r in relays if r.strip()]
    if not wanted or hops <= 0:
        return ""
    networks = [n for n in map(_network, wanted) if n is not None]
    seen = 0
    for name, value in headers:
        if name.lower() != "received":
            continue
        for host in sorted(seen_hosts(value)):
            if host in wanted or any(_within(host, n) for n in networks):
                return host
        seen += 1
        if seen >= hops:
            break
    return ""


def _network(text: str):
    try:
        return ipaddress.ip_network(text, strict=False) if "/" in text else None
    except ValueError:
        return None


def _within(host: str, network) -> bool:
    try:
        return ipaddress.ip_address(host) in network
    except ValueError:
        return False

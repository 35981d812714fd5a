"""Prometheus metrics: counters and latency histograms, served on loopback when enabled.

Off by default (``[metrics] enabled``). The intake, the sender and the daemon call the small
``inc_*``/``observe_*`` functions below whether or not the endpoint is served: recording is a
few nanoseconds on an in-process registry, and keeping the calls unconditional means no code
path differs between a monitored and an unmonitored installation.

Labels are bounded, non-personal values only (a message category from the rules, an outbox
kind, a failure stage): never an address, a subject or a name, so the endpoint can be scraped
by anyone on the host without leaking readers' data. The endpoint refuses non-loopback
addresses: exposing it further is a reverse proxy's job (with its own access control).
"""

from __future__ import annotations

import ipaddress
import logging
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from mailproc.errors import ConfigError

log = logging.getLogger("mailproc.metrics")

REGISTRY = CollectorRegistry(auto_describe=True)
#: seconds; mail work ranges from milliseconds (a filed newsletter) to a minute (big scans)
BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

MESSAGES = Counter("mailproc_messages_total", "Messages processed, by category.",
                   ["category"], registry=REGISTRY)
MESSAGE_SECONDS = Histogram("mailproc_message_seconds",
                            "Time to decide, act and file one message.",
                            buckets=BUCKETS, registry=REGISTRY)
SENDS = Counter("mailproc_sends_total", "Outbox messages accepted by the SMTP server.",
                registry=REGISTRY)
FAILURES = Counter("mailproc_failures_total", "Failures, by stage (review, send, deferred).",
                   ["stage"], registry=REGISTRY)
SEND_PASS_SECONDS = Histogram("mailproc_send_pass_seconds", "Time of one outbox sending pass.",
                              buckets=BUCKETS, registry=REGISTRY)
RECONNECTS = Counter("mailproc_reconnects_total", "Mailbox connections lost and retried.",
                     registry=REGISTRY)
LAST_MESSAGE = Gauge("mailproc_last_message_timestamp_seconds",
                     "Unix time of the last message processed.", registry=REGISTRY)


def clock() -> float:
    return time.monotonic()


def inc_message(category: str, started: float | None = None) -> None:
    """One message processed (``category`` "review" when it went to the review folder)."""
    MESSAGES.labels(category=category or "none").inc()
    LAST_MESSAGE.set_to_current_time()
    if started is not None:
        MESSAGE_SECONDS.observe(max(0.0, clock() - started))


def inc_failure(stage: str, n: int = 1) -> None:
    if n:
        FAILURES.labels(stage=stage).inc(n)


def inc_reconnect() -> None:
    RECONNECTS.inc()


def observe_send_pass(stats, started: float | None = None) -> None:
    """One sender pass: its SendStats (``sent``, ``failed``, ``deferred``) and duration."""
    if getattr(stats, "sent", 0):
        SENDS.inc(stats.sent)
    inc_failure("send", getattr(stats, "failed", 0))
    inc_failure("deferred", getattr(stats, "deferred", 0))
    if started is not None:
        SEND_PASS_SECONDS.observe(max(0.0, clock() - started))


def exposition() -> bytes:
    """The metrics in Prometheus' text format (what the endpoint serves)."""
    return generate_latest(REGISTRY)


def parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        number = int(port)
    except ValueError:
        loopback, number = False, -1
    if not loopback or not 0 <= number <= 65535:
        raise ConfigError(f"metrics.listen: expected a loopback address and port such as "
                          f"127.0.0.1:9464, got {listen!r}")
    return host, number


def serve(settings):
    """Start the endpoint in a thread when enabled; returns the HTTP server (or None)."""
    if not settings.metrics.enabled:
        return None
    from prometheus_client import start_http_server

    host, port = parse_listen(settings.metrics.listen)
    server, _thread = start_http_server(port, addr=host, registry=REGISTRY)
    log.info("metrics served on %s:%d", host, server.server_port)
    return server

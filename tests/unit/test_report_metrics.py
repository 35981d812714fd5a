"""Prometheus metrics: the intake and the sender count into them, the endpoint serves them on
loopback only, and no label carries an address or a subject."""

from __future__ import annotations

import urllib.request

import pytest

from mailproc import metrics
from mailproc.config import load_settings
from mailproc.errors import ConfigError
from mailproc.intake import Intake
from mailproc.mailbox.maildir import MaildirSource
from mailproc.store import open_database


def value(name: str, **labels) -> float:
    got = metrics.REGISTRY.get_sample_value(name, labels or None)
    return got or 0.0


def test_intake_counts_messages_by_category_and_times_them(tmp_path):
    db = open_database(f"sqlite:///{tmp_path}/db.sqlite3")
    source = MaildirSource(str(tmp_path / "Maildir"))
    source.open()
    source.append("INBOX", b"From: reader@example.org\r\nSubject: hello\r\n"
                           b"Message-ID: <m1@example.org>\r\n\r\nHi\r\n")
    before = value("mailproc_message_seconds_count")
    intake = Intake(db, source, review_folder="review", spool_dir=tmp_path / "spool",
                    max_size=10**6)
    stats = intake.run_once()
    assert stats.processed == 1
    assert value("mailproc_message_seconds_count") == before + 1
    text = metrics.exposition().decode()
    assert "mailproc_messages_total{category=" in text
    assert "reader@example.org" not in text and "hello" not in text
    db.dispose()


def test_send_pass_counts_sends_and_failures():
    class Stats:
        sent, failed, deferred = 3, 1, 2

    sends, failed = value("mailproc_sends_total"), value("mailproc_failures_total", stage="send")
    metrics.observe_send_pass(Stats(), metrics.clock())
    metrics.inc_reconnect()
    assert value("mailproc_sends_total") == sends + 3
    assert value("mailproc_failures_total", stage="send") == failed + 1
    assert value("mailproc_reconnects_total") >= 1


def test_endpoint_is_off_by_default_and_loopback_only(tmp_path):
    assert metrics.serve(load_settings(environ={})) is None
    for bad in ("0.0.0.0:9464", "192.0.2.1:9464", "127.0.0.1", "localhost:x"):
        with pytest.raises(ConfigError):
            metrics.parse_listen(bad)
    assert metrics.parse_listen("[::1]:9464") == ("::1", 9464)
    server = metrics.serve(load_settings(environ={}, overrides={
        "metrics": {"enabled": True, "listen": "127.0.0.1:0"}}))
    try:
        port = server.server_port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            body = r.read().decode()
        assert "mailproc_sends_total" in body and "mailproc_message_seconds_bucket" in body
    finally:
        server.shutdown()
        server.server_close()

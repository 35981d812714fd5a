"""The daemon serves its metrics on loopback when enabled: what an admin's Prometheus scrapes."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from tests.servers.mailproc import wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_run_serves_metrics_with_processed_messages(tmp_path):
    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "new" / "1.test").write_bytes(
        b"From: reader@example.org\r\nTo: personbibl@nlrs.ru\r\nSubject: test\r\n"
        b"Auto-Submitted: auto-replied\r\nMessage-ID: <m1@example.org>\r\n\r\nout of office\r\n")
    port = _free_port()
    config = tmp_path / "mailproc.toml"  # commands refuse to run on built-in defaults
    config.write_text(f'[paths]\ndata = "{tmp_path / "data"}"\n', encoding="utf-8")
    env = {**os.environ, "MAILPROC_CONFIG": str(config),
           "MAILPROC_MAILBOX_URL": f"maildir:{maildir}",
           "MAILPROC_METRICS_ENABLED": "true", "MAILPROC_METRICS_LISTEN": f"127.0.0.1:{port}",
           "MAILPROC_PATHS_RULES": "", "MAILPROC_DIGEST_ENABLED": "false"}  # built-in sorting
    proc = subprocess.Popen([sys.executable, "-m", "mailproc", "run"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        def scrape():
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                              timeout=2).read().decode()
            except OSError:
                return None

        body = wait_for(lambda: (b := scrape()) and 'category="automatic"' in b and b,
                        timeout=60)
        assert body, "metrics endpoint never showed the processed message"
        line = next(l for l in body.splitlines()
                    if l.startswith("mailproc_messages_total") and 'category="automatic"' in l)
        assert float(line.rsplit(" ", 1)[1]) == 1.0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    assert proc.returncode == 0

"""One-click unsubscribe served over real HTTP by a WSGI server (RFC 8058): the module an
administrator names in gunicorn/uWSGI/mod_wsgi, run here by the standard library's reference
server in its own process, finding the settings through $MAILPROC_CONFIG as the service does.
The contact's state is read back from the database the request wrote."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from mailproc.outreach.listheaders import list_headers
from tests.servers.mailproc import wait_for
from tests.unit.outreach_helpers import ROOT, Install

pytestmark = pytest.mark.integration

sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "registry"))
from make_registry import staff_list  # noqa: E402

SERVE = ("import sys; from wsgiref.simple_server import make_server; "
         "from mailproc.outreach.wsgi import application; "
         "make_server('127.0.0.1', int(sys.argv[1]), application).serve_forever()")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(env: dict, cwd) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVE, str(port)], env=env, cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0
    wait_for(lambda: listening() or proc.poll() is not None, timeout=30)
    assert proc.poll() is None, proc.stderr.read().decode(errors="replace")
    return proc, f"http://127.0.0.1:{port}"


def _request(url: str, method: str = "GET", body: bytes | None = None):
    req = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_a_wsgi_server_unsubscribes_with_one_post_and_never_with_a_get(tmp_path, capsys):
    inst = Install(tmp_path)
    with open(inst.config, "a", encoding="utf-8") as fh:
        fh.write('[outbox]\nunsubscribe_url = "https://nlrs.example/mailproc"\n')
    emails = staff_list(tmp_path / "staff.csv", 2)
    inst.run(capsys, "contacts", "import", str(tmp_path / "staff.csv"))
    app = inst.app()
    anna = inst.json(capsys, "contacts", "show", emails[0])
    header = list_headers(app.settings, "сервисы-эб-учителям", "", anna["id"])["List-Unsubscribe"]
    path = header.split("<https://nlrs.example")[1].split(">")[0]  # /mailproc/u/TOKEN

    env = {**os.environ, "MAILPROC_CONFIG": str(inst.config)}
    proc, base = _serve(env, tmp_path)
    try:
        status, headers, body = _request(base + path)  # a link scanner, a reader's click
        assert status == 200 and "Отписаться</button>" in body.decode()
        assert headers["Cache-Control"] == "no-store"
        status, _, body = _request(base + path, "HEAD")
        assert status == 200 and body == b""
        assert not inst.json(capsys, "contacts", "show", emails[0])["unsubscribed"]

        status, _, body = _request(base + path[:-3] + "AAA", "POST",
                                   b"List-Unsubscribe=One-Click")
        assert status == 404
        status, _, body = _request(base + path, "POST", b"List-Unsubscribe=One-Click")
        assert status == 200 and "Вы отписаны" in body.decode()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert inst.json(capsys, "contacts", "show", emails[0])["unsubscribed"]
    assert not inst.json(capsys, "contacts", "show", emails[1])["unsubscribed"]


def test_without_settings_every_request_is_refused_and_nothing_is_created(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILPROC_")}
    proc, base = _serve(env, tmp_path)
    try:
        status, _, body = _request(base + "/mailproc/u/1.abc.def", "POST",
                                   b"List-Unsubscribe=One-Click")
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert status == 503 and "«отписаться»" in body.decode()
    assert "no settings file" in err.decode()
    assert list(tmp_path.iterdir()) == []  # no database of its own

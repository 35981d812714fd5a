"""The command line: registrations list|show|consents|set-doc|purge, vault new-key|rotate-key|
export, and the forms sent on request."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from mailproc.app import App
from mailproc.cli import main
from mailproc.config import load_settings
from mailproc.errors import ConfigError
from mailproc.outbound.models import OutboxMessage
from mailproc.registrations import forms, intake
from mailproc.registrations.models import RegistrationAudit
from mailproc.registrations.vault import Vault, new_key
from tests.unit.test_registration_samples import CKO, mail, photo, scan_pdf
from tests.unit.test_registration_service import DAY1, REPO, act


@pytest.fixture
def app(tmp_path, monkeypatch):
    key_file = tmp_path / "vault.key"
    key_file.write_text(new_key() + "\n")
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "departments.yaml").write_text(
        f"cko:\n  name: ЦКО\n  address: {CKO}\n", encoding="utf-8")
    config = tmp_path / "mailproc.toml"
    config.write_text(
        f'[paths]\ndata = "{tmp_path / "data"}"\ntemplates = "{REPO / "templates"}"\n'
        f'rules = "{rules}"\n[vault]\nkey_file = "{key_file}"\n'
        f'[mail]\nfrom_address = "personbibl@nlrs.example"\n', encoding="utf-8")
    monkeypatch.setenv("MAILPROC_CONFIG", str(config))
    monkeypatch.delenv("MAILPROC_VAULT_KEY", raising=False)
    monkeypatch.setenv("MAILPROC_MAIL_TOKEN_SECRET", "test-secret")
    return App(load_settings())


def cli(capsys, *argv) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def handed(app) -> str:
    return act(app, mail(text="анкета и согласие",
                         files=[("анкета.jpg", photo(), "image/jpeg"),
                                ("согласие.pdf", scan_pdf(), "application/pdf")]),
               intake.take_documents, DAY1)["registration"]


def test_list_show_consents(app, capsys):
    token = handed(app)
    code, out = cli(capsys, "registrations", "list", "--json")
    [row] = json.loads(out)
    assert code == 0 and (row["token"], row["state"]) == (token, "handed")
    assert row["kinds"] == ["consent", "form"]
    code, out = cli(capsys, "registrations", "show", token, "--json")
    data = json.loads(out)
    assert [d["kind"] for d in data["documents"]] == ["form", "consent"]
    assert [a["action"] for a in data["audit"]][:2] == ["opened", "stored"]
    code, out = cli(capsys, "registrations", "consents", "--json")
    assert json.loads(out)[0]["purpose"].startswith("регистрация читателя")


def test_export_is_audited_and_purge_then_says_destroyed(app, capsys, tmp_path):
    token = handed(app)
    code, out = cli(capsys, "vault", "export", token, "--to", str(tmp_path / "look"),
                    "--by", "Иванова", "--reason", "проверка анкеты")
    assert code == 0 and len(out.split()) == 2
    assert sorted(p.suffix for p in (tmp_path / "look").iterdir()) == [".jpg", ".pdf"]
    with app.db.session() as s:
        audit = s.scalars(select(RegistrationAudit).where(RegistrationAudit.action == "exported"))
        assert {(a.actor, a.reason) for a in audit} == {("Иванова", "проверка анкеты")}
    when = (DAY1 + timedelta(days=31)).isoformat()
    code, out = cli(capsys, "registrations", "purge", "--now", when, "--json")
    assert code == 0 and json.loads(out)["cases"] == 1
    code, out = cli(capsys, "vault", "export", token, "--to", str(tmp_path / "again"))
    destroyed = (DAY1 + timedelta(days=31)).astimezone(app.settings.tz).isoformat(sep=" ")
    assert code == 1 and "уничтожены" in out and destroyed in out


def opens_only_with(root: Path, fresh: str, old: str) -> None:
    """Every vault file (chunked: every chunk) opens with the fresh key, none with the old."""
    for path in root.rglob("*.bin"):
        rel = str(path.relative_to(root))
        Vault(root, [fresh]).get(rel)
        with pytest.raises(ConfigError):
            Vault(root, [old]).get(rel)


def test_rotate_key_reencrypts_and_drops_the_old_key(app, capsys, tmp_path):
    token = handed(app)
    key_file = Path(app.settings.vault.key_file)
    old = key_file.read_text().strip()
    code, out = cli(capsys, "vault", "rotate-key")
    assert code == 0 and "re-encrypted 2 file(s)" in out
    fresh = key_file.read_text().strip()
    assert fresh != old and "\n" not in fresh
    opens_only_with(Path(app.settings.vault.dir), fresh, old)
    code, _ = cli(capsys, "vault", "export", token, "--to", str(tmp_path / "look"))
    assert code == 0


def test_missing_key_stops_with_the_setting_named(app, capsys, tmp_path):
    token = handed(app)
    Path(app.settings.vault.key_file).write_text("")
    code = main(["vault", "export", token, "--to", str(tmp_path / "look")])
    assert code == 2
    assert "vault.key_file: holds no key" in capsys.readouterr().err
    assert not (tmp_path / "look").exists()


def test_set_doc_unknown_document(app, capsys):
    token = handed(app)
    code = main(["registrations", "set-doc", token, "999", "--kind", "form"])
    assert code == 1 and "нет документа 999" in capsys.readouterr().err


def test_forms_sent_on_request_with_the_library_files(app):
    result = act(app, mail(text="Как зарегистрироваться в электронной библиотеке?"),
                 forms.send_forms, DAY1)
    assert result == {"forms": 3, "queued": True}
    with app.db.session() as s:
        row = s.scalar(select(OutboxMessage))
        assert row.template == "reader/registration_forms" and row.state == "queued"
        assert [a.name for a in row.attachments] == ["Анкета.pdf", "Заявление.pdf",
                                                     "Согласие.pdf"]
        assert "Анкета" in row.text


def test_close_rejected_then_withdrawn(app, capsys):
    token = handed(app)
    code, out = cli(capsys, "registrations", "close", token, "--state", "rejected",
                    "--reason", "ЦКО: анкета заполнена не полностью", "--json")
    assert code == 0 and json.loads(out)["state"] == "rejected"
    code, out = cli(capsys, "registrations", "close", token, "--state", "withdrawn",
                    "--reason", "читатель отозвал согласие по телефону", "--json")
    assert json.loads(out)["state"] == "withdrawn"
    assert not list(Path(app.settings.vault.dir).rglob("*.bin"))
    code = main(["registrations", "close", token, "--state", "rejected", "--reason", "x"])
    assert code == 1 and "cannot go from withdrawn" in capsys.readouterr().err


def test_rotate_key_from_the_environment_needs_the_new_key_first(app, capsys, monkeypatch):
    handed(app)
    old = Path(app.settings.vault.key_file).read_text().strip()
    monkeypatch.setenv("MAILPROC_VAULT_KEY", old)
    assert main(["vault", "rotate-key"]) == 2
    assert "put a new key" in capsys.readouterr().err
    fresh = new_key()
    monkeypatch.setenv("MAILPROC_VAULT_KEY", f"{fresh},{old}")
    code, out = cli(capsys, "vault", "rotate-key")
    assert code == 0 and "re-encrypted 2 file(s)" in out
    opens_only_with(Path(app.settings.vault.dir), fresh, old)


def test_rotate_key_reencrypts_sealed_spool_files_and_outbox_blobs(app, capsys):
    """``vault rotate-key`` drops the old key, so everything sealed with it must be
    re-encrypted: besides the vault files, the spooled registration mail that went to review
    (``*.eml.sealed``, read by ``review retry``) and the documents of a hand-off to ЦКO still
    in the outbox (sealed blobs, read by the sender)."""
    from mailproc.intake import spooled_bytes
    from mailproc.outbound.blobs import BlobStore
    from mailproc.private import write_private

    handed(app)
    key_file = Path(app.settings.vault.key_file)
    old = key_file.read_text().strip()
    spool = Path(app.settings.paths.data) / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    sealed_mail = spool / f"{'a' * 64}.eml.sealed"
    write_private(sealed_mail, Vault(Path(app.settings.vault.dir), [old]).encrypt(b"raw mail"))
    with app.db.session() as s:
        handoff = [(a.sha256, a.size) for r in s.scalars(select(OutboxMessage))
                   for a in r.attachments if a.sha256 in r.headers.get("sealed", ())]
    assert len(handoff) == 2
    code, _ = cli(capsys, "vault", "rotate-key")
    assert code == 0
    fresh = Vault(Path(app.settings.vault.dir), [key_file.read_text().strip()])
    assert spooled_bytes(str(sealed_mail), lambda: fresh) == b"raw mail"
    blobs = BlobStore.from_settings(app.settings)
    with app.db.session() as s:
        rows = list(s.scalars(select(OutboxMessage)))
        now = [(a.sha256, len(blobs.get(a.sha256, fresh))) for r in rows
               for a in r.attachments if a.sha256 in r.headers.get("sealed", ())]
    assert [size for _, size in now] == [size for _, size in handoff]

"""``mailproc demo`` runs the sample mailbox through the shipped rules and shows, per message,
what the actions did and what landed in the ``file:`` outbox folder."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

from mailproc.cli import main

ROOT = Path(__file__).resolve().parents[2]


def section(out: str, name: str) -> str:
    """The demo's lines about one sample message."""
    return out.split(name, 1)[1].split("\n\n", 1)[0]


def test_demo_does_the_whole_job_and_shows_the_outbox(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)  # the shipped rules/ and templates/, as `make demo` runs it
    monkeypatch.delenv("MAILPROC_VAULT_KEY", raising=False)
    data = tmp_path / "demo"
    assert main(["demo", "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert f"создан временный ключ {data / 'vault.key'}" in out
    assert (data / "vault.key").stat().st_mode & 0o077 == 0

    order = section(out, "04-order-fragment-kh2.eml")
    assert "создан заказ " in order and "→ storage@nlrs.example: «Заказ фрагмента" in order
    pages = section(out, "08-department-reply-pages.eml")
    assert "отправлен читателю, файлов: 2" in pages and "→ oleg.sidorov@example.org" in pages
    assert "передан в отдел «Отдел региональной библиографии»" in section(
        out, "03-question-local-history.eml")
    assert "черновик готового ответа" in section(out, "01-question-temporary-access.eml")
    documents = section(out, "06-registration-photos.eml")
    assert "документов принято 3 (анкета, заявление, согласие)" in documents
    assert "→ cko-registration@nlrs.example" in documents
    card = section(out, "09-cko-card-number.eml")
    assert "номер читательского билета записан" in card and "→ sardaana.p@example.org" in card
    assert "сделано" not in section(out, "10-out-of-office.eml")  # never answered
    assert "на разбор: 0" in out

    # what the summary lists is what the file: transport wrote
    written = sorted((data / "outbox").glob("*.eml"), key=lambda p: int(p.stem))
    tos = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)["To"]
           for p in written]
    assert "storage@nlrs.example" in tos and "oleg.sidorov@example.org" in tos
    assert not any("periodicals@" in t or "news@" in t for t in tos)
    listed = out.split("Папка исходящих", 1)[1]
    assert all(f"{p.name}  → " in listed for p in written)
    handoff = email.message_from_bytes(written[tos.index("cko-registration@nlrs.example")]
                                       .read_bytes(), policy=email.policy.default)
    assert [p.get_filename() for p in handoff.iter_attachments()][0] == \
        "01 Регистрационная анкета.jpg"


def test_demo_replaces_registration_letters_by_copies_without_documents(tmp_path,
                                                                         monkeypatch, capsys):
    """The Maildir source does what IMAP does: the stub in the letter's folder, the original
    file deleted; the demo says so."""
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("MAILPROC_VAULT_KEY", raising=False)
    data = tmp_path / "demo"
    assert main(["demo", "--data", str(data)]) == 0
    out = capsys.readouterr().out
    for name in ("06-registration-photos.eml", "07-registration-photos-no-subject.eml"):
        assert "письмо заменено копией без документов" in section(out, name)
    assert "писем с документами заменено в ящике копиями без документов: 2" in out
    folder = data / "Maildir" / ".&BCAENQQzBDgEQQRCBEAEMARGBDgETw-"  # «Регистрация»
    stubs = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
             for p in (folder / "cur").iterdir()]
    assert len(stubs) == 2 and all(m["X-Mailproc-Redacted"] for m in stubs)
    assert all(p.get_content_type() == "text/plain" for m in stubs for p in m.walk()
               if not p.is_multipart())
    sample = (ROOT / "mailproc/demo/messages/06-registration-photos.eml").read_bytes()
    photo = [line for line in sample.split(b"Content-Transfer-Encoding: base64")[1]
             .splitlines() if len(line) >= 60][20]  # a base64 line from the middle of a photo
    every = b"".join(p.read_bytes() for p in (data / "Maildir").rglob("*") if p.is_file())
    assert photo in sample and photo not in every

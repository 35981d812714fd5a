"""The wheel, installed as a library's administrator installs it (issue 22, part 2).

Builds the wheel from a copy of the source tree (the files git has or would add, as a fresh
clone with this change has them), installs it with its dependencies into a fresh venv, and
runs the installed ``mailproc`` from an empty folder where the source tree is not importable:
``demo`` must file every sample where the shipped rules put it (not «Обработанные», the
built-in sorting's folder, nor review), ``init`` must copy the shipped rules, templates and
forms, ``--version`` must say the package's version. The build itself must print no setuptools
warning. About a minute and a half: it runs in ``make test``.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from imapclient import imap_utf7

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]

#: where the shipped rules file each sample (the Maildir folder, decoded)
EXPECTED = {
    "01-question-temporary-access.eml": "Вопросы читателей",
    "02-question-litres.eml": "Вопросы читателей",
    "03-question-local-history.eml": "Вопросы читателей",
    "04-order-fragment-kh2.eml": "Заказы",
    "05-order-fragment-sb.eml": "Заказы",
    "06-registration-photos.eml": "Регистрация",
    "07-registration-photos-no-subject.eml": "Регистрация",
    "08-department-reply-pages.eml": "Заказы",
    "09-cko-card-number.eml": "Ответы отделов",
    "10-out-of-office.eml": "Автоматические",
    "11-bounce.eml": "Недоставленные",
    "12-newsletter.eml": "Автоматические",
    "13-question-group-subscription.eml": "Вопросы читателей",
    "14-reply-thanks.eml": "Вопросы читателей",
}


def clean_env() -> dict[str, str]:
    """The machine's environment (pip's own settings kept) without anything that would point
    the installed mailproc at this source tree or its settings."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("MAILPROC_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def sh(*args, cwd: Path, env: dict | None = None, timeout: float = 600):
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env or clean_env(),
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args}: {done.returncode}\n{done.stdout[-3000:]}\n" \
                                 f"{done.stderr[-3000:]}"
    return done


def source_copy(dest: Path) -> Path:
    """The files of the source tree as git has them (tracked and not ignored), symlinks as
    links: what a fresh clone with this change holds, nothing built before."""
    names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, names):
        src, out = ROOT / name, dest / name
        if not src.exists() and not src.is_symlink():
            continue  # deleted in the working tree
        out.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            out.symlink_to(os.readlink(src))
        else:
            shutil.copy2(src, out)
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(the fresh venv's bin folder, an empty working folder, the wheel build's output)."""
    base = tmp_path_factory.mktemp("wheel")
    src = source_copy(base / "src")
    env = clean_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # else distutils says byte-compiling is off
    build = sh(sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w", base / "dist",
               src, cwd=base, env=env)
    venv = base / "venv"
    made = subprocess.run([sys.executable, "-m", "venv", venv], capture_output=True,
                          text=True, timeout=300)
    if made.returncode != 0 or not (venv / "bin" / "pip").exists():
        pytest.skip(f"cannot create a venv here (python -m venv: {made.stderr.strip()[-300:]}); "
                    f"apt-get install python3-venv")
    wheels = list((base / "dist").glob("mailproc-*.whl"))
    assert len(wheels) == 1
    sh(venv / "bin" / "pip", "install", "-q", wheels[0], cwd=base)
    work = base / "work"
    work.mkdir()
    return venv / "bin", work, build.stdout + build.stderr


def test_the_build_prints_no_setuptools_warning(installed):
    _bin, _work, log = installed
    warnings = [line for line in log.splitlines()
                if re.search(r"Warning\b|warning:", line) and "Location '" not in line]
    assert warnings == []


def test_the_installed_package_is_the_one_running(installed):
    bin_, work, _log = installed
    where = sh(bin_ / "python", "-c", "import mailproc; print(mailproc.__file__)", cwd=work)
    assert "site-packages" in where.stdout and str(ROOT) not in where.stdout
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert sh(bin_ / "mailproc", "--version", cwd=work).stdout == f"mailproc {version}\n"


def folders(maildir: Path) -> dict[str, list[email.message.EmailMessage]]:
    """Every message of a Maildir by its folder's name (INBOX for the top)."""
    out = {}
    for folder in [maildir, *(p for p in maildir.iterdir() if p.name.startswith("."))]:
        if not (folder / "cur").is_dir():
            continue
        name = "INBOX" if folder == maildir else imap_utf7.decode(folder.name[1:].encode())
        out[name] = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
                     for sub in ("new", "cur") for p in (folder / sub).iterdir()]
    return out


def test_demo_from_the_wheel_files_every_sample_by_the_shipped_rules(installed):
    bin_, work, _log = installed
    data = work / "demo"
    done = sh(bin_ / "mailproc", "demo", "--data", data, cwd=work)
    out = done.stdout
    assert "обработано писем: 14, на разбор: 0" in out
    assert "failed to render" not in done.stderr and "rules not loaded" not in done.stderr
    for sample, folder in EXPECTED.items():
        assert f"папка «{folder}»" in out.split(sample, 1)[1].split("\n\n", 1)[0]

    samples = ROOT / "mailproc" / "demo" / "messages"
    ids = {email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
           ["Message-ID"]: p.name for p in samples.glob("*.eml")}
    assert sorted(ids.values()) == sorted(EXPECTED)
    filed = {}
    for folder, messages in folders(data / "Maildir").items():
        for msg in messages:
            # a registration letter's copy without documents keeps the original's id
            mid = msg["X-Mailproc-Original-Message-ID"] or msg["Message-ID"]
            if mid in ids and folder not in ("Sent", "Drafts"):
                filed[ids[mid]] = folder
    assert filed == EXPECTED
    # what the rules sent: replies, the departments' requests, ЦКО's hand-offs
    sent = list((data / "outbox").glob("*.eml"))
    tos = {email.message_from_bytes(p.read_bytes(), policy=email.policy.default)["To"]
           for p in sent}
    assert len(sent) == 12 and {"storage@nlrs.example", "cko-registration@nlrs.example",
                                "oleg.sidorov@example.org"} <= tos


def test_init_from_the_wheel_copies_rules_templates_and_forms(installed):
    bin_, work, _log = installed
    done = sh(bin_ / "mailproc", "init", work / "library", cwd=work)
    for name in ("rules", "templates"):
        shipped = {p.relative_to(ROOT / name).as_posix(): p.read_bytes()
                   for p in (ROOT / name).rglob("*") if p.is_file() and p.name != ".gitkeep"}
        copied = {p.relative_to(work / "library" / name).as_posix(): p.read_bytes()
                  for p in (work / "library" / name).rglob("*") if p.is_file()}
        assert copied == shipped and len(copied) > 10
        assert f"copied {len(shipped)} files, left 0 existing" in done.stdout
    assert {"Анкета.pdf", "Заявление.pdf", "Согласие.pdf"} <= {
        p.name for p in (work / "library" / "templates" / "forms").iterdir()}
    # the copies are what the installed mailproc then runs on
    (work / "mailproc.toml").write_text(
        f'[paths]\nrules = "{work / "library" / "rules"}"\n'
        f'templates = "{work / "library" / "templates"}"\ndata = "{work / "data"}"\n',
        encoding="utf-8")
    assert "settings OK" in sh(bin_ / "mailproc", "config", "check", cwd=work).stdout
    assert "правила в порядке" in sh(bin_ / "mailproc", "rules", "check", cwd=work).stdout
    assert "ошибок нет" in sh(bin_ / "mailproc", "templates", "check", cwd=work).stdout

"""A package that works when installed (issue 22, part 2), the parts that need no build:
``mailproc init`` copies the shipped files out, ``run`` refuses to start on a missing or empty
rules or templates folder (exit 78), ``config check`` names every missing path, ``templates
check`` fails on an empty folder, ``--version``. The wheel itself: tests/integration/
test_wheel_install.py."""

from __future__ import annotations

import stat
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from mailproc.cli import main
from mailproc.commands import run as run_command
from tests.unit.test_sorting_runtime import write_config

ROOT = Path(__file__).resolve().parents[2]


def repo_files(folder: str) -> dict[str, bytes]:
    """The files git keeps in a top-level folder (the one source of the shipped files)."""
    names = subprocess.run(["git", "ls-files", "-z", folder], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    return {Path(n).relative_to(folder).as_posix(): (ROOT / n).read_bytes()
            for n in names if n and not Path(n).name.startswith(".")}


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in folder.rglob("*") if p.is_file()}


def test_init_copies_rules_templates_and_forms_and_never_overwrites(tmp_path, capsys):
    dest = tmp_path / "library"
    assert main(["init", str(dest)]) == 0
    out = capsys.readouterr().out
    for name in ("rules", "templates"):
        assert tree(dest / name) == repo_files(name)
    assert {p.name for p in (dest / "templates" / "forms").glob("*.pdf")} == {
        "Анкета.pdf", "Заявление.pdf", "Согласие.pdf"}
    n_rules, n_templates = len(repo_files("rules")), len(repo_files("templates"))
    assert f"{dest / 'rules'}: copied {n_rules} files, left 0 existing" in out
    assert f"{dest / 'templates'}: copied {n_templates} files, left 0 existing" in out
    assert f'rules = "{dest / "rules"}"' in out
    # readable by the service's user whoever ran init, despite the private umask
    assert stat.S_IMODE((dest / "rules" / "10-automatic.yaml").stat().st_mode) == 0o644
    assert stat.S_IMODE((dest / "templates" / "forms").stat().st_mode) == 0o755

    edited = dest / "rules" / "10-automatic.yaml"
    edited.write_text("# the library's own\n", encoding="utf-8")
    (dest / "templates" / "reader" / "card_issued.txt").unlink()
    assert main(["init", str(dest)]) == 0
    out = capsys.readouterr().out
    assert edited.read_text(encoding="utf-8") == "# the library's own\n"
    assert f"{dest / 'rules'}: copied 0 files, left {n_rules} existing" in out
    assert f"{dest / 'templates'}: copied 1 files, left {n_templates - 1} existing" in out
    assert "  copied  reader/card_issued.txt" in out and "  left    10-automatic.yaml" in out


def config(tmp_path: Path, monkeypatch, **paths: str) -> Path:
    """A settings file with copies of the shipped rules and templates, then ``paths`` (rules,
    templates, data) as the environment gives them."""
    cfg = write_config(tmp_path)
    monkeypatch.setenv("MAILPROC_MAIL_TOKEN_SECRET", "test-secret")
    for key, value in paths.items():
        monkeypatch.setenv(f"MAILPROC_PATHS_{key.upper()}", value)
    return cfg


def run(cfg: Path, *args: str) -> int:
    try:
        return main(["--config", str(cfg), "run", *args])
    finally:
        if run_command._INSTANCE_LOCK is not None:
            run_command._INSTANCE_LOCK.release()
            run_command._INSTANCE_LOCK = None


@pytest.mark.parametrize("args", [("--once",), ()], ids=["once", "daemon"])
@pytest.mark.parametrize("state", ["missing", "empty", "readme only"])
def test_run_refuses_without_rules_in_one_line(tmp_path, capsys, monkeypatch, state, args):
    rules = tmp_path / "lib" / "rules"
    if state != "missing":
        rules.mkdir(parents=True)
    if state == "readme only":
        (rules / "README.md").write_text("правила\n", encoding="utf-8")
    cfg = config(tmp_path, monkeypatch, rules=str(rules))
    assert run(cfg, *args) == 78
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"mailproc: paths.rules: {rules} ")
    assert f"`mailproc init {rules.parent}`" in err[0]
    assert not (tmp_path / "data" / "mailproc.sqlite3").exists()  # refused before anything


def test_run_refuses_without_templates(tmp_path, capsys, monkeypatch):
    templates = tmp_path / "lib" / "templates"
    (templates / "reader").mkdir(parents=True)  # folders, no template
    cfg = config(tmp_path, monkeypatch, rules="", templates=str(templates))
    assert run(cfg, "--once") == 78
    err = capsys.readouterr().err
    assert f"paths.templates: {templates} has no templates (*.txt)" in err
    assert f"`mailproc init {templates.parent}`" in err


def test_a_mailbox_of_its_own_names_its_key(tmp_path, capsys, monkeypatch):
    cfg = config(tmp_path, monkeypatch)
    odd = tmp_path / "second-rules"
    cfg.write_text(cfg.read_text(encoding="utf-8") + f"""
[mailboxes.main]
url = "maildir:{tmp_path / 'data' / 'Maildir'}"
[mailboxes.second]
url = "maildir:{tmp_path / 'data' / 'Maildir2'}"
rules = "{odd}"
""", encoding="utf-8")
    assert run(cfg, "--once") == 78
    err = capsys.readouterr().err
    assert f"mailboxes.second.rules: {odd} does not exist" in err
    assert "`mailproc init DIR` and set mailboxes.second.rules to DIR/rules" in err


def test_no_rules_folder_configured_still_runs_built_in_and_says_so(tmp_path, capsys,
                                                                    monkeypatch):
    cfg = config(tmp_path, monkeypatch, rules="")
    assert run(cfg, "--once") == 0
    assert "no rules folder configured (paths.rules is empty): built-in sorting only" in \
        capsys.readouterr().err


def test_config_check_reports_every_missing_path(tmp_path, capsys, monkeypatch):
    cfg = config(tmp_path, monkeypatch, rules=str(tmp_path / "r"), templates=str(tmp_path / "t"),
                 data=str(tmp_path / "nowhere" / "data"))
    monkeypatch.setenv("MAILPROC_MAIL_TOKEN_SECRET_FILE", str(tmp_path / "token.key"))
    assert main(["--config", str(cfg), "config", "check"]) == 78
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert "settings OK" not in captured.out
    assert f"paths.rules: {tmp_path / 'r'} does not exist; copy the shipped rules" in err[0]
    assert f"paths.templates: {tmp_path / 't'} does not exist" in err[1]
    assert err[2].startswith(f"paths.data: {tmp_path / 'nowhere' / 'data'} does not exist and "
                             f"neither does its folder {tmp_path / 'nowhere'}")
    assert err[3].startswith(f"mail.token_secret_file: {tmp_path / 'token.key'} does not "
                             f"exist")
    assert err[4] == f"settings ({cfg}) name 4 missing or empty folders or files"


def test_config_check_passes_when_every_path_is_there(tmp_path, capsys, monkeypatch):
    (tmp_path / "token.key").write_text("k\n", encoding="utf-8")
    cfg = config(tmp_path, monkeypatch)
    monkeypatch.setenv("MAILPROC_MAIL_TOKEN_SECRET_FILE", str(tmp_path / "token.key"))
    assert main(["--config", str(cfg), "config", "check"]) == 0
    assert capsys.readouterr().out == f"settings OK ({cfg})\n"


@pytest.mark.parametrize("state", ["missing", "empty"])
def test_templates_check_on_a_missing_or_empty_folder_is_an_error(tmp_path, capsys,
                                                                   monkeypatch, state):
    folder = tmp_path / "templates"
    if state == "empty":
        (folder / "reader").mkdir(parents=True)
    monkeypatch.setenv("MAILPROC_PATHS_TEMPLATES", str(folder))
    monkeypatch.setenv("MAILPROC_PATHS_DATA", str(tmp_path / "data"))
    assert main(["templates", "check"]) == 78
    captured = capsys.readouterr()
    assert "проверено" not in captured.out
    said = {"missing": f"папки шаблонов {folder} нет",
            "empty": f"в папке шаблонов {folder} нет ни одного шаблона (*.txt)"}[state]
    assert captured.err == (f"mailproc: paths.templates: {said}; скопируйте поставляемые "
                            f"шаблоны командой «mailproc init {tmp_path}» (они лягут в "
                            f"{tmp_path}/templates) или укажите в paths.templates папку "
                            f"шаблонов библиотеки\n")


def test_version_comes_from_the_installed_metadata():
    done = subprocess.run([sys.executable, "-m", "mailproc", "--version"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == f"mailproc {version('mailproc')}\n"


def test_the_documented_install_passes_config_check(tmp_path, capsys, monkeypatch):
    """docs/admin.md, section 1: init, the example settings with [paths] pointed at the
    copies, the data folder from the environment as the unit gives it."""
    from mailproc.config import example_toml, load_settings

    srv, data = tmp_path / "srv" / "personbibl", tmp_path / "var" / "lib" / "mailproc"
    data.parent.mkdir(parents=True)
    assert main(["init", str(srv)]) == 0
    cfg = tmp_path / "etc" / "mailproc.toml"
    cfg.parent.mkdir()
    cfg.write_text(example_toml().replace('rules = "rules"', f'rules = "{srv}/rules"')
                   .replace('templates = "templates"', f'templates = "{srv}/templates"'),
                   encoding="utf-8")
    monkeypatch.setenv("MAILPROC_PATHS_DATA", str(data))
    capsys.readouterr()
    assert main(["--config", str(cfg), "config", "check"]) == 0, capsys.readouterr().err
    # "{data}/vault" in the file is under the data folder, not under the file's folder
    assert load_settings(str(cfg)).vault.dir == f"{data}/vault"

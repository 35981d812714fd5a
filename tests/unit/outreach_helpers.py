"""Shared set-up for the outreach tests: a mailproc installation in a temporary folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from mailproc.cli import main

ROOT = Path(__file__).resolve().parents[2]


class Install:
    def __init__(self, tmp: Path, smtp_url: str = "", mailbox_url: str = "", db_url: str = ""):
        self.root = tmp
        self.rules = tmp / "rules"
        self.rules.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "rules" / "mailings.yaml", self.rules / "mailings.yaml")
        self.config = tmp / "mailproc.toml"
        lines = ["[paths]", f'data = "{tmp / "data"}"', f'rules = "{self.rules}"',
                 f'templates = "{ROOT / "templates"}"',
                 "[database]", f'url = "{db_url or "sqlite:///" + str(tmp / "db.sqlite3")}"']
        if smtp_url:
            lines += ["[smtp]", f'url = "{smtp_url}"']
        if mailbox_url:
            lines += ["[mailbox]", f'url = "{mailbox_url}"']
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def run(self, capsys, *args: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main(["--config", str(self.config), *args])
        return code, capsys.readouterr().out

    def json(self, capsys, *args: str):
        code, out = self.run(capsys, *args, "--json")
        assert code == 0, out
        return json.loads(out)

    def app(self):
        from mailproc.app import App
        from mailproc.config import load_settings

        return App(load_settings(str(self.config), environ={}))

    def write_plan(self, text: str) -> None:
        (self.rules / "mailings.yaml").write_text(text, encoding="utf-8")

"""A command run as root refuses a data folder that belongs to the service's user: what root
created there (a fresh SQLite database, mode 0600) the service could not open afterwards."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="only root can chown the folder")


@root_only
def test_status_as_root_on_the_service_users_data_folder_refuses_and_creates_nothing(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, 65534, 65534)  # nobody: the service's user here
    config = tmp_path / "mailproc.toml"
    config.write_text(f'[paths]\ndata = "{data}"\n', encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "mailproc", "--config", str(config), "status"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode != 0
    assert f"paths.data {data} belongs to user" in done.stderr
    assert "run it as" in done.stderr and "sudo -u" in done.stderr
    assert list(data.iterdir()) == []  # no database of root's


@root_only
def test_a_data_folder_root_owns_is_left_alone(tmp_path):
    from mailproc.runas import refuse_root_on_foreign_data

    refuse_root_on_foreign_data(tmp_path)  # no exception
    refuse_root_on_foreign_data(tmp_path / "missing")

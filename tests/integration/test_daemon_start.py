"""A start that cannot work: the real ``mailproc run`` in a subprocess ends with ONE line
naming the path or the key and the fix, and exit code 78 (EX_CONFIG) for a setting or 74
(EX_IOERR) for the storage, never a traceback (mailproc.startup)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mailproc.startup import EX_CONFIG, EX_IOERR

pytestmark = pytest.mark.integration

#: the repository's templates: a start refuses a missing templates folder before the data one
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def _run(tmp_path: Path, data: Path, db_url: str | None = None) -> subprocess.CompletedProcess:
    config = tmp_path / "mailproc.toml"
    config.write_text(
        f'[database]\nurl = "{db_url or f"sqlite:///{tmp_path}/db/mailproc.sqlite3"}"\n'
        f'[paths]\ndata = "{data}"\nrules = ""\ntemplates = "{TEMPLATES}"\n'
        f'[log]\nformat = "text"\nlevel = "warning"\n',
        encoding="utf-8")
    env = {**os.environ, "MAILPROC_CONFIG": str(config)}
    return subprocess.run([sys.executable, "-m", "mailproc", "run"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


def _one_line(done: subprocess.CompletedProcess) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


@pytest.fixture
def tmpfs(tmp_path):
    """Mount a tmpfs with the options given (root only), unmounted after the test."""
    mounted = []

    def mount(options: str) -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root")
        path = tmp_path / f"mnt{len(mounted)}"
        path.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"mount -t tmpfs failed: {done.stderr.strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_missing_data_folder_that_cannot_be_made_is_a_setting(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = _run(tmp_path, blocker / "data")
    line = _one_line(done)
    assert done.returncode == EX_CONFIG
    assert "paths.data" in line and str(blocker / "data") in line and "create it" in line


def test_read_only_data_folder_is_storage(tmp_path, tmpfs):
    data = tmpfs("ro,size=1m")
    done = _run(tmp_path, data)
    line = _one_line(done)
    assert done.returncode == EX_IOERR
    assert f"paths.data {data}" in line and "read-only" in line and "remount" in line


def test_data_folder_the_service_may_not_write_is_a_setting(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes any folder; the read-only case is covered by the tmpfs test")
    data = tmp_path / "data"
    data.mkdir(mode=0o555)
    done = _run(tmp_path, data)
    line = _one_line(done)
    assert done.returncode == EX_CONFIG
    assert f"paths.data {data}" in line and "not writable" in line


def test_full_disk_is_storage(tmp_path, tmpfs):
    data = tmpfs("size=1m")  # less than the free space a start needs
    done = _run(tmp_path, data)
    line = _one_line(done)
    assert done.returncode == EX_IOERR
    assert f"paths.data {data}" in line and "disk full" in line and "free space" in line


def test_database_file_that_is_not_a_database_is_storage(tmp_path):
    db = tmp_path / "db" / "mailproc.sqlite3"
    db.parent.mkdir()
    db.write_bytes(b"this is not an SQLite file at all" * 100)
    done = _run(tmp_path, tmp_path / "data")
    line = _one_line(done)
    assert done.returncode == EX_IOERR
    assert "database.url" in line and str(db) in line and "backup" in line


def test_unknown_postgresql_database_is_a_setting(tmp_path):
    done = _run(tmp_path, tmp_path / "data",
                "postgresql+psycopg://postgres@127.0.0.1:5432/mailproc_no_such_database")
    line = _one_line(done)
    assert done.returncode == EX_CONFIG
    assert "database.url" in line and "mailproc_no_such_database" in line
    assert "createdb" in line


def test_postgresql_not_answering_is_storage(tmp_path):
    from tests.servers.dovecot import free_port

    done = _run(tmp_path, tmp_path / "data",
                f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/mailproc")
    line = _one_line(done)
    assert done.returncode == EX_IOERR
    assert "database.url" in line and "start PostgreSQL" in line

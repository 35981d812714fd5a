"""The unit files pass ``systemd-analyze verify`` once installed into a temporary root."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNITS = sorted((REPO / "systemd").glob("mailproc*.*"))

pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                reason="systemd-analyze is not installed")


def _fake_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    # The system's own units (sysinit.target, ...) the service depends on.
    shutil.copytree("/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    for exe in ("/opt/mailproc/.venv/bin/mailproc", "/bin/kill"):
        path = root / exe.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    for unit in UNITS:
        shutil.copy(unit, root / "etc/systemd/system" / unit.name)
    return root


def test_units_exist():
    assert any(u.name == "mailproc.service" for u in UNITS)


@pytest.mark.parametrize("unit", [u.name for u in UNITS])
def test_unit_verifies(tmp_path, unit):
    root = _fake_root(tmp_path)
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", f"--root={root}",
         f"/etc/systemd/system/{unit}"],
        capture_output=True, text=True, env={**os.environ, "SYSTEMD_LOG_COLOR": "0"})
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


def test_service_is_hardened_and_notifies():
    text = (REPO / "systemd/mailproc.service").read_text()
    for line in ("Type=notify", "WatchdogSec=", "User=mailproc", "ProtectSystem=strict",
                 "PrivateTmp=true", "NoNewPrivileges=true", "ReadWritePaths=/var/lib/mailproc",
                 "EnvironmentFile=", "ExecReload=/bin/kill -HUP $MAINPID"):
        assert line in text


def test_service_is_not_restarted_for_a_wrong_setting_but_is_for_storage():
    """mailproc run exits 78 (EX_CONFIG) for a setting and 74 (EX_IOERR) for the storage
    (mailproc.startup): systemd must not restart the first every few seconds, and must
    restart the second so the service comes back once the disk is fixed."""
    from mailproc.startup import EX_CONFIG, EX_IOERR, EX_SOFTWARE

    text = (REPO / "systemd/mailproc.service").read_text()
    prevent = [line.split("=", 1)[1].split() for line in text.splitlines()
               if line.startswith("RestartPreventExitStatus=")]
    codes = {c for line in prevent for c in line}
    assert str(EX_CONFIG) in codes
    assert str(EX_IOERR) not in codes and str(EX_SOFTWARE) not in codes
    assert "Restart=on-failure" in text

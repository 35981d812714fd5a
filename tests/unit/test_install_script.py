"""tests/install-system-packages.sh puts /usr/sbin/policy-rc.d back as it found it (issue 22):
one left behind keeps every later apt upgrade from starting the machine's services.

The script runs for real (bash), with ``apt-get``, ``id`` and ``debconf-set-selections``
replaced by stubs on PATH (no package is installed; ``id -u`` says root) and the policy file
at a path of the test's own (MAILPROC_POLICY_RC_D). The apt-get stub records what policy-rc.d
said while it ran.
"""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "tests" / "install-system-packages.sh"

APT_GET = """#!/bin/sh
# records the policy in force while "installing"; fails when asked to
if [ "$1" = install ]; then
  "$POLICY" start >/dev/null 2>&1; echo "policy exit $?" >> "$RECORD"
  exit "${APT_FAIL:-0}"
fi
exit 0
"""


@pytest.fixture
def world(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("apt-get", APT_GET), ("id", "#!/bin/sh\necho 0\n"),
                       ("debconf-set-selections", "#!/bin/sh\ncat >/dev/null\n")):
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    policy = tmp_path / "policy-rc.d"
    record = tmp_path / "record"

    def run(fail: int = 0) -> subprocess.CompletedProcess:
        # no /usr/sbin on PATH: dovecot is "missing", so the script has something to install
        env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "MAILPROC_POLICY_RC_D": str(policy),
               "POLICY": str(policy), "RECORD": str(record), "APT_FAIL": str(fail)}
        return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True,
                              timeout=60)

    return run, policy, record


def test_a_policy_it_created_is_removed(world):
    run, policy, record = world
    done = run()
    assert done.returncode == 0, done.stderr
    assert record.read_text() == "policy exit 101\n"  # services held while installing
    assert not policy.exists()
    assert not list(policy.parent.glob("policy-rc.d.*"))


def test_the_policy_that_was_there_is_put_back(world):
    run, policy, record = world
    policy.write_text("#!/bin/sh\n# the administrator's own\nexit 0\n")
    policy.chmod(0o750)
    done = run()
    assert done.returncode == 0, done.stderr
    assert record.read_text() == "policy exit 101\n"
    assert policy.read_text() == "#!/bin/sh\n# the administrator's own\nexit 0\n"
    assert stat.S_IMODE(policy.stat().st_mode) == 0o750
    assert not list(policy.parent.glob("policy-rc.d.*"))


def test_restored_also_when_the_install_fails(world):
    run, policy, record = world
    policy.write_text("#!/bin/sh\nexit 0\n")
    done = run(fail=100)
    assert done.returncode == 100
    assert record.read_text() == "policy exit 101\n"
    assert policy.read_text() == "#!/bin/sh\nexit 0\n"
    run2 = run(fail=100)  # and again: no policy of ours accumulates
    assert run2.returncode == 100 and policy.read_text() == "#!/bin/sh\nexit 0\n"


def test_without_root_nothing_is_touched(world, tmp_path):
    run, policy, record = world
    (tmp_path / "bin" / "id").write_text("#!/bin/sh\necho 1000\n")
    done = run()
    assert done.returncode == 0 and "not root" in done.stderr
    assert not policy.exists() and not record.exists()

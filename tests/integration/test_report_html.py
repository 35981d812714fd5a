"""The HTML statistics report opens in headless Chromium; its screenshot is kept as a test
artefact (tests/artifacts/report.png) for a person to look at.

The page is built from the database the workflows filled (tests/unit/test_report_world.py).
Chromium comes from Debian's ``chromium`` package (tests/install-system-packages.sh installs
it when run as root); without it the test is skipped with that reason.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from mailproc.reports import period
from mailproc.reports.figures import report_figures
from mailproc.reports.html import render_html
from mailproc.reports.labels import names_from_rules
from tests.unit.test_report_world import make_world

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
SIZE = (1200, 1600)


def screenshot(page: Path, png: Path, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", f"--screenshot={png}",
         f"--window-size={SIZE[0]},{SIZE[1]}", page.as_uri()],
        capture_output=True, text=True, timeout=120)


def test_report_page_renders_in_chromium(tmp_path):
    if shutil.which("chromium") is None:
        pytest.skip("chromium is not installed (tests/install-system-packages.sh as root)")
    w = make_world(tmp_path / "world")
    with w.db.session() as s:
        fig = report_figures(s, period.month("2026-11", w.settings.tz),
                             names_from_rules(w.settings))
    w.db.dispose()
    page = tmp_path / "report.html"
    page.write_text(render_html(fig), encoding="utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    png = ARTIFACTS / "report.png"
    png.unlink(missing_ok=True)
    done = screenshot(page, png, tmp_path / "profile")
    assert done.returncode == 0 and png.is_file(), done.stderr[-2000:]

    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == SIZE  # IHDR width, height
    with Image.open(png) as img:
        rgb = img.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 20) or []
        # not blank: text and several bar colours on a white page
        assert len(colours) > 50
        bar_blue = (0x2F, 0x6E, 0xA5)
        assert any(c == bar_blue for _n, c in colours), "no bar drawn in the first colour"
        dark = sum(n for n, (r, g, b) in colours if r + g + b < 200)
        assert dark > 1000  # text was drawn

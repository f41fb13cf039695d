"""The status page in a real headless Chromium: rendered, not blank, and showing the live state."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path

from tests.conftest import HttpServer
from tests.newswatch.test_runtime import Running, start, wait_for

__all__ = ["start"]  # the fixture that launches `newswatch run`

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(binary).exists(), "chromium is missing: apt-get install -y chromium (.ci/run does this)"
    profile = tmp_path / "chromium-profile"
    return subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=90,
    )


def png_size_and_colours(path: Path) -> tuple[int, int, int]:
    """(width, height, distinct byte values in the image data) of a PNG, read with the standard library."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    idat, pos = b"", 8
    while pos < len(data):
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


def test_status_page_renders_sources_alerts_and_articles_in_chromium(
    start: Callable[..., Running], http_server: HttpServer, tmp_path: Path
) -> None:
    run = start()
    wait_for(lambda: run.metric("newswatch_deliveries_total", channel="newsroom", state="sent") == 1, "alert")

    dom = chromium(tmp_path, "--dump-dom", run.base + "/")
    assert dom.returncode == 0, dom.stderr
    html = dom.stdout
    assert "<h1>Newswatch</h1>" in html
    sources = html.split('id="sources"')[1].split("</table>")[0]
    assert "desk" in sources and '<span class="badge ok">ok</span>' in sources
    alerts = html.split('id="alerts"')[1].split("</table>")[0]
    assert '<span class="badge sent">sent</span>' in alerts and "kremlin-kyiv" in alerts
    articles = html.split('id="articles"')[1].split("</table>")[0]
    assert "Vladimir Putin" in articles and '<span class="badge rule">kremlin-kyiv</span>' in articles

    shot = tmp_path / "status.png"
    taken = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,900", run.base + "/")
    assert taken.returncode == 0, taken.stderr
    width, height, colours = png_size_and_colours(shot)
    assert (width, height) == (1280, 900)
    assert colours > 50, "the screenshot is blank"
    keep = Path("/tmp/newswatch-status.png")
    shutil.copy(shot, keep)  # for a person to look at after the run
    assert run.stop() == 0

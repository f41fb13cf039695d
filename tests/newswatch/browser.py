"""A real headless Chromium, driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`).

No WebDriver and no websocket library: Chromium reads commands on its file descriptor 3 and writes
answers and events on 4, each a JSON object ended by a NUL byte. The page runs as it would for a
person (scripts, the Content-Security-Policy, timers), and the test reads it with JavaScript.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import signal
import struct
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tests.conftest import CHROMIUM, require_peer

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-color-profile=srgb",
    "--remote-debugging-pipe",
]


def chromium_binary() -> str:
    """The browser's path; without one the test skips (outside CI) or fails (in CI)."""
    require_peer("chromium")
    return CHROMIUM


class BrowserError(AssertionError):
    """Chromium answered a command with an error, or did not answer in time."""


class Browser:
    """One headless Chromium with one tab; `open`, `evaluate`, `wait_for`, `screenshot`, `close`."""

    def __init__(self, folder: Path, width: int = 1280, height: int = 900) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.log = folder / "chromium.log"
        to_chromium, self._commands = os.pipe()
        self._answers, from_chromium = os.pipe()
        # Above 4, so putting them at 3 and 4 in the child cannot overwrite one with the other.
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_chromium, from_chromium)]
        for fd in (to_chromium, from_chromium):
            os.close(fd)
        argv = [
            chromium_binary(),
            *FLAGS,
            f"--user-data-dir={folder / 'profile'}",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        self.pid = os.posix_spawn(
            argv[0],
            argv,
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, high[0], 3),
                (os.POSIX_SPAWN_DUP2, high[1], 4),
                (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                (os.POSIX_SPAWN_OPEN, 2, str(self.log), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
            ],
            setsid=True,  # its own process group: `close` ends the renderers with it
        )
        for fd in high:
            os.close(fd)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.width, self.height = width, height
        try:
            target = self.call("Target.createTarget", {"url": "about:blank"}, tab=False)["targetId"]
            attached = self.call("Target.attachToTarget", {"targetId": target, "flatten": True}, tab=False)
            self._session = attached["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                self.call(f"{domain}.enable")
            self.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            )
        except BaseException:
            self.close()
            raise

    def call(self, method: str, params: dict[str, Any] | None = None, *, tab: bool = True) -> Any:
        """Send one DevTools command (to the tab, or to the browser) and return its result."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if tab:
            message["sessionId"] = self._session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        answer = self._read_until(lambda m: m.get("id") == message["id"], timeout=30)
        if "error" in answer:
            raise BrowserError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def _read_until(self, wanted: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buffer:
                raw, _, self._buffer = self._buffer.partition(b"\0")
                message = json.loads(raw)
                if "method" in message:
                    self.events.append(message)
                if wanted(message):
                    return message
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._answers], [], [], left)[0]:
                raise BrowserError(f"chromium did not answer within {timeout} s; see {self.log}")
            chunk = os.read(self._answers, 1 << 20)
            if not chunk:
                raise BrowserError(f"chromium exited; see {self.log}")
            self._buffer += chunk

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (awaited when it is a promise)."""
        result = self.call(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, what: str, timeout: float = 30) -> Any:
        """Wait until a JavaScript expression is truthy in the page; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(0.1)

    def open(self, url: str) -> None:
        """Load `url` in the tab and wait until it has loaded (its deferred script has run)."""
        since = len(self.events)
        navigated = self.call("Page.navigate", {"url": url})
        if navigated.get("errorText"):
            raise BrowserError(f"{url}: {navigated['errorText']}")
        if not any(e["method"] == "Page.loadEventFired" for e in self.events[since:]):
            self._read_until(lambda m: m.get("method") == "Page.loadEventFired", timeout=30)

    def problems(self) -> list[str]:
        """What the page reported as wrong: script exceptions, console and browser errors (a
        Content-Security-Policy violation is one)."""
        found = []
        for event in self.events:
            if event["method"] == "Runtime.exceptionThrown":
                found.append(str(event["params"]["exceptionDetails"]))
            elif event["method"] == "Log.entryAdded" and event["params"]["entry"]["level"] == "error":
                found.append(event["params"]["entry"]["text"])
            elif event["method"] == "Runtime.consoleAPICalled" and event["params"]["type"] == "error":
                found.append(str(event["params"]["args"]))
        return found

    def screenshot(self, path: Path) -> Path:
        """A PNG of what the tab shows now (the viewport), written to `path`."""
        shot = self.call("Page.captureScreenshot", {"format": "png", "optimizeForSpeed": True})
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        with contextlib.suppress(BrowserError, OSError, AttributeError):  # it may be gone already
            self.call("Browser.close", tab=False)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if os.waitpid(self.pid, os.WNOHANG)[0]:
                break
            time.sleep(0.05)
        else:
            os.killpg(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        for fd in (self._commands, self._answers):
            os.close(fd)


def read_png(path: Path) -> tuple[int, int, np.ndarray]:
    """(width, height, pixels as a height x width x 3 array of RGB) of an 8-bit RGB or RGBA PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert depth == 8 and colour in (2, 6), f"unexpected PNG format: depth {depth}, colour type {colour}"
    channels = 3 if colour == 2 else 4
    idat, pos = b"", 8
    while pos < len(data):
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        if data[pos + 4 : pos + 8] == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    stride = width * channels
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, stride + 1)
    image = np.zeros((height, stride), dtype=np.uint8)
    previous = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:]
        if kind == 0:
            row = line.copy()
        elif kind == 1:  # Sub: each byte adds the one a pixel to its left
            row = (np.cumsum(line.reshape(width, channels), axis=0, dtype=np.uint64) % 256).astype(np.uint8)
            row = row.reshape(stride)
        elif kind == 2:  # Up: each byte adds the one above
            row = line + previous
        else:  # Average and Paeth depend on the byte just decoded: byte by byte
            row = _unfilter_slowly(int(kind), line, previous, channels)
        image[y] = row
        previous = row
    return width, height, image.reshape(height, width, channels)[:, :, :3]


def _unfilter_slowly(kind: int, line: np.ndarray, previous: np.ndarray, channels: int) -> np.ndarray:
    out = bytearray(line.tobytes())
    up_row = previous.tobytes()
    for x in range(len(out)):
        left = out[x - channels] if x >= channels else 0
        up = up_row[x]
        corner = up_row[x - channels] if x >= channels else 0
        if kind == 3:
            out[x] = (out[x] + (left + up) // 2) & 0xFF
        else:
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            out[x] = (out[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
    return np.frombuffer(bytes(out), dtype=np.uint8)


def pixel(image: np.ndarray, x: int, y: int) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in image[y, x])
    return r, g, b


def main_colour(image: np.ndarray) -> tuple[int, int, int]:
    """The colour most pixels of `image` have."""
    colours, counts = np.unique(image.reshape(-1, 3), axis=0, return_counts=True)
    r, g, b = (int(v) for v in colours[counts.argmax()])
    return r, g, b

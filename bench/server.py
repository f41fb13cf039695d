"""Serve a folder on loopback from a separate process (so its CPU is not counted against anyone).

`http.server` answers If-Modified-Since with 304 from the file's mtime, which is enough to model
a steady-state poll where only some feeds changed.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path


def start_on_loopback(
    module: str, *args: str, what: str, wait: float = 10.0
) -> tuple[subprocess.Popen[bytes], int]:
    """`python -m MODULE PORT ARGS...` on a free loopback port, once it accepts connections (within
    `wait` seconds)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    process = subprocess.Popen(
        [sys.executable, "-m", module, str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"the bench {what} did not start")


class FeedServer:
    def __init__(self, folder: Path) -> None:
        self._process, self.port = start_on_loopback(
            "http.server", "--bind", "127.0.0.1", "--directory", str(folder), what="feed server"
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self._process.terminate()
        self._process.wait(5)

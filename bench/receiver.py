"""A webhook receiver on loopback, in its own process (its CPU is not counted against Newswatch):
answers every POST 204 and counts distinct webhook-ids; GET /count returns `received distinct`."""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from bench.server import start_on_loopback


def serve(port: int) -> None:
    ids: set[str] = set()
    received = [0]
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver behind a proxy would

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                received[0] += 1
                ids.add(self.headers.get("webhook-id", ""))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            with lock:
                body = f"{received[0]} {len(ids)}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


class Receiver:
    """`python -m bench.receiver PORT` as a child process."""

    def __init__(self) -> None:
        self._process, self.port = start_on_loopback("bench.receiver", what="webhook receiver")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def count(self) -> tuple[int, int]:
        """(POSTs received, distinct webhook-ids)."""
        received, distinct = httpx.get(f"http://127.0.0.1:{self.port}/count").text.split()
        return int(received), int(distinct)

    def close(self) -> None:
        self._process.terminate()
        self._process.wait(5)


if __name__ == "__main__":
    serve(int(sys.argv[1]))

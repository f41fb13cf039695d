"""A small WebSub hub on loopback: the subscriber-facing side of the W3C Recommendation.

- Subscription requests (POST, form-encoded hub.mode/hub.topic/hub.callback/hub.secret/
  hub.lease_seconds) are answered 202, then verified: a GET on the callback with hub.mode,
  hub.topic, a random single-use hub.challenge and (to subscribe) hub.lease_seconds. Only a 2xx
  whose body is the challenge changes anything (spec 5.3.1); a new request for the same topic and
  callback replaces the old one once verified, which is how a lease is renewed.
- Content distribution: POST of the content to every subscription of the topic whose lease runs,
  with its Content-Type, a Link header naming the hub and the topic, and X-Hub-Signature
  (`sha256=<hex>` by default, or sha1) when the subscription has a secret.
- A publisher may ping it (hub.mode=publish, hub.url): it fetches the topic and distributes it.

The tests (and the bench) drive it in process: `publish(topic, body)` distributes a body and returns
each subscriber's status. `close()` is the hub dying: the next request to it is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx

ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}


@dataclass
class Subscription:
    topic: str
    callback: str
    secret: str | None
    lease_seconds: int
    expires: float  # time.time() at which the hub stops distributing to it

    @property
    def active(self) -> bool:
        return time.time() < self.expires


@dataclass(frozen=True)
class HubRequest:
    """A subscription request the hub received."""

    mode: str
    topic: str
    callback: str
    secret: str | None
    lease_seconds: str | None
    at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Verification:
    """A verification of intent the hub sent, and how the subscriber answered it."""

    mode: str
    topic: str
    callback: str
    status: int
    confirmed: bool  # 2xx and the challenge echoed


@dataclass(frozen=True)
class Delivery:
    callback: str
    status: int
    at: float = field(default_factory=time.monotonic)


class Hub:
    """The hub, serving on 127.0.0.1 from a thread until `close()`."""

    def __init__(
        self,
        *,
        algorithm: str = "sha256",
        max_lease: int = 864_000,
        default_lease: int = 864_000,
        verify: bool = True,
    ) -> None:
        self.algorithm = algorithm
        self.max_lease = max_lease
        self.default_lease = default_lease
        self.verify = verify  # False: accept requests (202) and never verify them
        self.subscriptions: dict[tuple[str, str], Subscription] = {}
        self.requests: list[HubRequest] = []
        self.verifications: list[Verification] = []
        self.deliveries: list[Delivery] = []
        self.lock = threading.Lock()
        self._client = httpx.Client(timeout=10, follow_redirects=False)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
                status, text = owner._request(form)
                body = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    # --- the subscriber-facing side -------------------------------------------------------------

    def _request(self, form: dict[str, str]) -> tuple[int, str]:
        mode = form.get("hub.mode", "")
        if mode == "publish":
            topic = form.get("hub.url") or form.get("hub.topic") or ""
            threading.Thread(target=self._fetch_and_publish, args=(topic,), daemon=True).start()
            return 202, ""
        topic, callback = form.get("hub.topic", ""), form.get("hub.callback", "")
        if mode not in ("subscribe", "unsubscribe"):
            return 400, f"unknown hub.mode {mode!r}"
        if not topic.startswith(("http://", "https://")) or not callback.startswith(("http://", "https://")):
            return 400, "hub.topic and hub.callback must be http(s) URLs"
        secret = form.get("hub.secret")
        if secret is not None and len(secret.encode()) >= 200:
            return 400, "hub.secret must be less than 200 bytes"
        request = HubRequest(mode, topic, callback, secret, form.get("hub.lease_seconds"))
        with self.lock:
            self.requests.append(request)
        if self.verify:
            # The spec verifies after answering: the answer never depends on the verification.
            threading.Thread(target=self._verify, args=(request,), daemon=True).start()
        return 202, ""

    def _verify(self, request: HubRequest) -> None:
        challenge = secrets.token_urlsafe(24)
        params = {"hub.mode": request.mode, "hub.topic": request.topic, "hub.challenge": challenge}
        lease = 0
        if request.mode == "subscribe":
            asked = request.lease_seconds
            lease = int(asked) if asked and asked.isdigit() and int(asked) > 0 else self.default_lease
            lease = min(lease, self.max_lease)
            params["hub.lease_seconds"] = str(lease)
        joiner = "&" if "?" in request.callback else "?"
        try:
            answer = self._client.get(request.callback + joiner + urlencode(params))
            status, confirmed = (
                answer.status_code,
                200 <= answer.status_code < 300 and answer.text == challenge,
            )
        except httpx.HTTPError:
            status, confirmed = 0, False
        with self.lock:
            self.verifications.append(
                Verification(request.mode, request.topic, request.callback, status, confirmed)
            )
            if not confirmed:
                return  # the subscription state is left as it was
            key = (request.topic, request.callback)
            if request.mode == "subscribe":
                self.subscriptions[key] = Subscription(
                    request.topic, request.callback, request.secret, lease, time.time() + lease
                )
            else:
                self.subscriptions.pop(key, None)

    def deny(self, topic: str, callback: str, reason: str = "not allowed") -> int:
        """Tell a subscriber its subscription is denied (spec 5.2); return its status."""
        params = {"hub.mode": "denied", "hub.topic": topic, "hub.reason": reason}
        with self.lock:
            self.subscriptions.pop((topic, callback), None)
        joiner = "&" if "?" in callback else "?"
        return self._client.get(callback + joiner + urlencode(params)).status_code

    # --- content distribution -------------------------------------------------------------------

    def active(self, topic: str | None = None) -> list[Subscription]:
        """The subscriptions whose lease runs (of `topic`, or all)."""
        with self.lock:
            return [s for s in self.subscriptions.values() if s.active and topic in (None, s.topic)]

    def publish(
        self,
        topic: str,
        body: bytes,
        content_type: str = "application/rss+xml",
        *,
        secret: str | None = None,
        algorithm: str | None = None,
        signature: str | None = None,
    ) -> list[int]:
        """Distribute `body` to every active subscription of `topic`; return their statuses.
        `secret`, `algorithm` or `signature` replace what the hub would sign with (bad pushes)."""
        statuses = []
        for subscription in self.active(topic):
            statuses.append(self.distribute(subscription, body, content_type, secret, algorithm, signature))
        return statuses

    def distribute(
        self,
        subscription: Subscription,
        body: bytes,
        content_type: str = "application/rss+xml",
        secret: str | None = None,
        algorithm: str | None = None,
        signature: str | None = None,
    ) -> int:
        headers = {
            "Content-Type": content_type,
            "Link": f'<{self.url}>; rel="hub", <{subscription.topic}>; rel="self"',
        }
        key = secret if secret is not None else subscription.secret
        if signature is not None:
            headers["X-Hub-Signature"] = signature
        elif key is not None:
            method = algorithm or self.algorithm
            headers["X-Hub-Signature"] = (
                f"{method}={hmac.new(key.encode(), body, ALGORITHMS[method]).hexdigest()}"
            )
        try:
            status = self._client.post(subscription.callback, content=body, headers=headers).status_code
        except httpx.HTTPError:
            status = 0
        with self.lock:
            self.deliveries.append(Delivery(subscription.callback, status))
        return status

    def _fetch_and_publish(self, topic: str) -> None:
        try:
            answer = self._client.get(topic)
        except httpx.HTTPError:
            return
        if answer.status_code == 200:
            self.publish(topic, answer.content, answer.headers.get("content-type", "application/rss+xml"))

    def close(self) -> None:
        """The hub dies: it stops listening (a request to it is refused) and distributes nothing."""
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

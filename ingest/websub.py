"""WebSub's subscriber side on the wire: requests to a hub, and the signature of what it pushes.

Hub requests go through the feed client (ingest/http.py `make_client`): a hub's URL comes from a
feed, which is hostile input, so the same address guard, timeouts and size bounds apply.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from dataclasses import dataclass

import httpx

from ingest.http import BodyTooLargeError, PrivateAddressError, parse_url, read_body

# The algorithms a push may be signed with (X-Hub-Signature: sha256=<hex>): sha256, and sha1 which
# most hubs still use. Anything else is refused.
ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}
HUB_REDIRECTS = frozenset({307, 308})  # the spec's way for a hub to send a subscriber elsewhere
ERROR_BODY_BYTES = 4096  # what is kept of a hub's error answer, for the log and `sources`


class HubError(Exception):
    """A subscription request the hub did not accept (or that never reached it)."""


@dataclass(frozen=True)
class Signature:
    """The outcome of checking a push's X-Hub-Signature: ok, or why not."""

    ok: bool
    reason: str = ""


def check_signature(header: str | None, body: bytes, secret: str) -> Signature:
    """Whether `header` is `algo=hex` of an HMAC of `body` with `secret` (constant-time compare)."""
    if not header:
        return Signature(False, "no X-Hub-Signature header")
    algorithm, sep, given = header.strip().partition("=")
    algorithm = algorithm.strip().lower()
    if not sep or algorithm not in ALGORITHMS:
        return Signature(False, f"unsupported signature method {algorithm[:20]!r} (sha256 or sha1)")
    expected = hmac.new(secret.encode(), body, ALGORITHMS[algorithm]).hexdigest()
    if not hmac.compare_digest(expected.encode(), given.strip().lower().encode("ascii", "replace")):
        return Signature(False, f"{algorithm} signature does not match")
    return Signature(True)


def sign(body: bytes, secret: str, algorithm: str = "sha256") -> str:
    """The X-Hub-Signature value a hub sends for `body` (for tests and the bench's hub)."""
    return f"{algorithm}={hmac.new(secret.encode(), body, ALGORITHMS[algorithm]).hexdigest()}"


async def hub_request(
    client: httpx.AsyncClient,
    hub: str,
    form: dict[str, str],
    *,
    deadline: float,
    max_redirects: int = 5,
) -> int:
    """POST a subscription request (`form`: hub.mode, hub.topic, hub.callback, ...) to `hub`,
    following the 307/308 redirects a hub may answer with; return the final 2xx status. Raises
    HubError on any other answer, a refused address, or no answer within `deadline` seconds."""
    try:
        async with asyncio.timeout(deadline):
            url = parse_url(hub)
            for _hop in range(max_redirects + 1):
                response = await client.send(client.build_request("POST", url, data=form), stream=True)
                try:
                    status = response.status_code
                    location = response.headers.get("location")
                    if status in HUB_REDIRECTS and location:
                        url = parse_url(location, url)
                        continue
                    if 200 <= status < 300:
                        return status
                    try:
                        text = (await read_body(response, ERROR_BODY_BYTES)).decode("utf-8", "replace")
                    except (BodyTooLargeError, httpx.HTTPError):
                        text = ""
                    detail = " ".join(text.split())[:200]
                    raise HubError(f"HTTP {status} from {url}" + (f": {detail}" if detail else ""))
                finally:
                    await response.aclose()
            raise HubError(f"more than {max_redirects} redirects from {hub}")
    except TimeoutError:
        raise HubError(f"no answer from {hub} within {deadline:g}s") from None
    except PrivateAddressError as exc:
        raise HubError(str(exc)) from None
    except httpx.HTTPError as exc:
        raise HubError(f"cannot reach {hub}: {type(exc).__name__}: {exc}") from None

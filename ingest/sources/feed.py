"""The feed source: one conditional GET of a feed URL, bounded in size and time, redirects by hand.

This is the fetch stage only: network I/O under the fetch deadline. The body is parsed later, in the
CPU stage (ingest/process.py), so a slow parse is never reported as a slow server."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx

from core.errors import SourceError
from ingest.http import BodyTooLargeError, PrivateAddressError, read_body

REDIRECTS = frozenset({301, 302, 303, 307, 308})
PERMANENT = frozenset({301, 308})


@dataclass(frozen=True)
class FeedResult:
    """What one fetch of a feed gave: the body (empty on 304) and its type, the validators, and where
    the feed was read (`url`) and now lives (`moved_to`)."""

    status: int
    body: bytes
    url: str
    content_type: str
    etag: str | None
    last_modified: str | None
    moved_to: str | None = None  # set when every hop was a permanent redirect (301/308)
    link: str | None = None  # the Link header(s): WebSub discovery reads the hub and self links there


class FeedFetchError(SourceError):
    """A fetch that failed, with what the server said: its status and any Retry-After."""

    def __init__(
        self,
        source: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: str | None = None,
        moved_to: str | None = None,
    ) -> None:
        super().__init__(source, message)
        self.status = status
        self.retry_after = retry_after  # the raw header: the caller reads it against its own clock
        self.moved_to = moved_to

    @property
    def gone(self) -> bool:
        """The server said 410 Gone: the feed will not come back."""
        return self.status == 410


# The longest wait a server's Retry-After is taken at, whatever it says (the poll then clamps it to
# `fetch.max_backoff`): a hostile header of twenty digits must not overflow a timedelta or a date.
MAX_RETRY_AFTER = timedelta(days=365)


def parse_retry_after(
    value: str | None, now: datetime, limit: timedelta = MAX_RETRY_AFTER
) -> timedelta | None:
    """A Retry-After header (seconds, or an HTTP date) as a wait from `now`, at most `limit`; None if
    absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        digits = value.lstrip("0") or "0"
        if len(digits) > 12:  # past any limit; and never int() of thousands of digits
            return limit
        return min(timedelta(seconds=int(digits)), limit)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        wait = when - now
    except OverflowError:
        return limit
    return min(max(wait, timedelta(0)), limit)


async def fetch_feed(
    client: httpx.AsyncClient,
    source: str,
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    headers: dict[str, str] | None = None,
    max_bytes: int,
    deadline: float,
    timeout: float | None = None,
    max_redirects: int = 5,
) -> FeedResult:
    """GET `url` (conditionally), follow redirects hop by hop, and return the body.

    Raises FeedFetchError on any failure: HTTP errors, refused addresses, too-large bodies, timeouts.
    """
    request_headers = dict(headers or {})
    if etag:
        request_headers["If-None-Match"] = etag
    if last_modified:
        request_headers["If-Modified-Since"] = last_modified
    request_timeout: httpx.Timeout | None = None
    if timeout is not None:
        request_timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0))
    try:
        async with asyncio.timeout(deadline):
            return await _follow(
                client, source, url, request_headers, request_timeout, max_bytes, max_redirects
            )
    except TimeoutError:
        raise FeedFetchError(source, f"no complete answer from {url} within {deadline:g}s") from None
    except PrivateAddressError as exc:
        raise FeedFetchError(source, str(exc)) from None
    except BodyTooLargeError as exc:
        raise FeedFetchError(source, f"refused: {exc} (fetch.max_bytes)") from None
    except httpx.HTTPError as exc:
        raise FeedFetchError(source, f"cannot fetch {url}: {type(exc).__name__}: {exc}") from None


async def _follow(
    client: httpx.AsyncClient,
    source: str,
    url: str,
    headers: dict[str, str],
    timeout: httpx.Timeout | None,
    max_bytes: int,
    max_redirects: int,
) -> FeedResult:
    current = httpx.URL(url)
    moved_to: str | None = None
    permanent = True
    seen = {str(current)}
    for _hop in range(max_redirects + 1):
        request = client.build_request(
            "GET",
            current,
            headers=headers,
            timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )
        response = await client.send(request, stream=True)
        try:
            status = response.status_code
            if status in REDIRECTS:
                location = response.headers.get("location")
                if not location:
                    raise FeedFetchError(source, f"HTTP {status} without a Location from {current}")
                target = current.join(location)
                if target.scheme not in ("http", "https"):
                    raise FeedFetchError(source, f"redirect to a non-http URL {target} refused")
                if str(target) in seen:
                    raise FeedFetchError(source, f"redirect loop at {target}", status=status)
                seen.add(str(target))
                permanent = permanent and status in PERMANENT
                if permanent:
                    moved_to = str(target)
                current = target
                continue
            if status == 304:
                return FeedResult(
                    304,
                    b"",
                    str(current),
                    "",
                    response.headers.get("etag") or headers.get("If-None-Match"),
                    response.headers.get("last-modified") or headers.get("If-Modified-Since"),
                    moved_to,
                )
            if status >= 400 or status < 200:
                retry_after = response.headers.get("retry-after")
                raise FeedFetchError(
                    source,
                    f"HTTP {status} from {current}",
                    status=status,
                    retry_after=retry_after if status in (429, 503) else None,
                    moved_to=moved_to,
                )
            body = await read_body(response, max_bytes)
        finally:
            await response.aclose()
        return FeedResult(
            status,
            body,
            str(current),
            response.headers.get("content-type", ""),
            response.headers.get("etag"),
            response.headers.get("last-modified"),
            moved_to,
            ", ".join(response.headers.get_list("link")) or None,
        )
    raise FeedFetchError(source, f"more than {max_redirects} redirects from {url}")

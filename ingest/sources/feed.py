"""The feed source: one conditional GET of a feed URL, bounded in size and time."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from ingest.http import PrivateAddressError
from ingest.models import RawItem
from ingest.parse import parse_feed
from newswatch.errors import SourceError


@dataclass(frozen=True)
class FeedResult:
    """What one fetch of a feed gave: items (empty on 304) and the validators to send next time."""

    status: int
    items: list[RawItem]
    etag: str | None
    last_modified: str | None


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
) -> FeedResult:
    """GET `url` (conditionally), parse it, and return its items; raise SourceError on any failure."""
    request_headers = dict(headers or {})
    if etag:
        request_headers["If-None-Match"] = etag
    if last_modified:
        request_headers["If-Modified-Since"] = last_modified
    try:
        async with asyncio.timeout(deadline):
            async with client.stream("GET", url, headers=request_headers) as response:
                if response.status_code == 304:
                    return FeedResult(304, [], etag, last_modified)
                if response.status_code >= 400:
                    raise SourceError(source, f"HTTP {response.status_code} from {url}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise SourceError(source, f"feed is larger than {max_bytes} bytes")
    except TimeoutError:
        raise SourceError(source, f"no complete answer from {url} within {deadline:g}s") from None
    except PrivateAddressError as exc:
        raise SourceError(source, str(exc)) from None
    except httpx.HTTPError as exc:
        raise SourceError(source, f"cannot fetch {url}: {exc}") from None
    items = parse_feed(source, bytes(body), str(response.url), response.headers.get("content-type", ""))
    return FeedResult(
        response.status_code,
        items,
        response.headers.get("etag"),
        response.headers.get("last-modified"),
    )

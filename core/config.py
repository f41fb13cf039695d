"""The one configuration model: YAML read once, `${VAR}` expanded, validated with pydantic."""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from core.errors import ConfigError
from core.yamlfile import SafeLoader

DEFAULT_CONFIG = Path("config/newswatch.yaml")
CONFIG_ENV = "NEWSWATCH_CONFIG"
DATABASE_ENV = "NEWSWATCH_DATABASE_URL"
# Source, channel and rule names are stored in VARCHAR(200) columns: PostgreSQL refuses a longer
# value (SQLite would keep it), so the config refuses it first, on every backend.
NAME_MAX_LENGTH = 200

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# What a config file may hold before anything in it is expanded: a bigger file, or aliases that
# would copy more than this many nodes (a "billion laughs" of anchors), is refused unread.
MAX_CONFIG_BYTES = 10 * 1024 * 1024
MAX_ALIAS_NODES = 10_000
MAX_NESTING = 100
# No duration anywhere in the config is longer than this: dates stay far inside what a datetime
# holds (a poll adds `every` or `max_backoff` to now). Keys that mean less have their own bounds.
MAX_DURATION = timedelta(days=36500)


def parse_duration(value: object) -> timedelta:
    """Read `90`, `30s`, `10m`, `2h` or `1d` (a bare number is seconds) as a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 10m, 2h or 1d")
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:  # an int of hundreds of digits (0xfff...)
            seconds = math.inf
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"{value[:40]!r} is not a duration; use e.g. 30s, 10m, 2h or 1d")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        raise ValueError("expected a duration such as 30s, 10m, 2h or 1d")
    if math.isnan(seconds) or seconds <= 0:
        raise ValueError("a duration must be greater than zero")
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"a duration can be at most {format_duration(MAX_DURATION)}")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """A duration as the config writes it: `90d`, `6h`, `10m`, `30s` (the largest whole unit)."""
    seconds = value.total_seconds()
    for unit in ("d", "h", "m", "s"):
        if seconds >= _UNITS[unit] and seconds % _UNITS[unit] == 0:
            return f"{int(seconds // _UNITS[unit])}{unit}"
    return f"{seconds:g}s"


def _within(low: timedelta | None, high: timedelta) -> Callable[[timedelta], timedelta]:
    def check(value: timedelta) -> timedelta:
        if low is not None and value < low:
            raise ValueError(f"{format_duration(value)} is too short; at least {format_duration(low)}")
        if value > high:
            raise ValueError(f"{format_duration(value)} is too long; at most {format_duration(high)}")
        return value

    return check


# `${VAR}` or `${VAR:-default}` somewhere in a value: expanded before validation, so the JSON Schema
# (core/schema.py) lets any value be written this way.
ENV_REF_PATTERN = r"\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}"
DURATION_PATTERN = r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*$"


def _duration_schema(low: timedelta | None, high: timedelta) -> WithJsonSchema:
    """How a duration is written, for the JSON Schema: `30s`, `10m`, `2h`, `1d`, or seconds as a
    number; `x-duration` carries the bounds that `_within` checks, so the reference page shows them."""
    bounds = {"max": format_duration(high)} | ({"min": format_duration(low)} if low is not None else {})
    return WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": DURATION_PATTERN},
                {"type": "number", "exclusiveMinimum": 0, "maximum": high.total_seconds()}
                | ({"minimum": low.total_seconds()} if low is not None else {}),
                {"type": "string", "pattern": ENV_REF_PATTERN},
            ],
            "x-duration": bounds,
        }
    )


SECOND, HOUR, DAY = timedelta(seconds=1), timedelta(hours=1), timedelta(days=1)
Duration = Annotated[timedelta, BeforeValidator(parse_duration), _duration_schema(None, MAX_DURATION)]
# A timeout or grace period: at most an hour.
Timeout = Annotated[Duration, AfterValidator(_within(None, HOUR)), _duration_schema(None, HOUR)]
# A schedule, window or cooldown: 1 s to a year.
Schedule = Annotated[
    Duration, AfterValidator(_within(SECOND, 365 * DAY)), _duration_schema(SECOND, 365 * DAY)
]
# A wait before trying again: at most 30 days (the first backoff step at most a day).
Wait = Annotated[Duration, AfterValidator(_within(None, 30 * DAY)), _duration_schema(None, 30 * DAY)]
FirstWait = Annotated[Duration, AfterValidator(_within(None, DAY)), _duration_schema(None, DAY)]
MAX_BYTES = 1024 * 1024 * 1024  # 1 GiB: the largest body or file `fetch.max_bytes` may allow
MAX_COUNT = 1_000_000  # rate limits and per-hour caps


def url_problem(url: str) -> str | None:
    """Why `url` is not an http(s) URL that a poll or a delivery can use, or None when it is.

    The same words are the config error (`check`, `run`) and a poll's failure (ingest/http.py), so a
    URL that httpx would refuse is refused before anything runs, not in the middle of a poll."""
    if not re.match(r"^https?://[^/\s]+", url, re.IGNORECASE):
        return f"{url[:200]!r} is not an http:// or https:// URL"
    import httpx  # here, not at the top: a config without URLs (`check` on the demo) never needs it

    try:
        parsed = httpx.URL(url)
        host, port = parsed.host, parsed.port
        if not host:
            return f"{url[:200]!r} has no host name"
        if ":" not in host:  # IPv6 literals are not host names
            host.encode("idna")  # what the resolver does with it: empty or 64-character labels fail
    except (httpx.InvalidURL, ValueError) as exc:  # UnicodeError and idna's errors are ValueErrors
        return f"{url[:200]!r} is not a URL that can be fetched: {exc}"
    if port is not None and not 0 < port < 65536:
        return f"{url[:200]!r} has port {port}; a port is 1 to 65535"
    return None


def _fetchable(value: str | None) -> str | None:
    if value is not None:
        problem = url_problem(value)
        if problem is not None:
            raise ValueError(problem)
    return value


_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$")


def _header_value(value: str | None) -> str | None:
    if value is not None and (re.search(r"[\r\n\x00]", value) or len(value) > 8192):
        raise ValueError("a header value cannot hold a line break or NUL, or pass 8192 characters")
    return value


def _headers(values: dict[str, str]) -> dict[str, str]:
    for name, value in values.items():
        if not _TOKEN.match(name):
            raise ValueError(f"{name[:80]!r} is not an HTTP header name")
        _header_value(value)
    return values


def _path(value: Path | None) -> Path | None:
    if value is not None and ("\x00" in str(value) or len(str(value)) > 4096):
        raise ValueError("a path cannot hold a NUL character or pass 4096 characters")
    return value


def _private_allowance(value: bool | list[str]) -> bool | list[str]:
    """`true`/`false`, or a list of networks (CIDR) and host names whose private addresses are allowed."""
    if isinstance(value, bool):
        return value
    for entry in value:
        try:
            ipaddress.ip_network(entry, strict=False)
            continue
        except ValueError:
            pass
        if not re.fullmatch(r"(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?", entry):
            raise ValueError(f"{entry[:80]!r} is neither a network such as 10.20.0.0/16 nor a host name")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FetchSettings(_Model):
    """How feeds are fetched: one shared HTTP client, bounded in time and size, guarded against
    private addresses."""

    # true, or the networks (CIDR) and host names whose private addresses feeds may use; all other
    # private addresses (169.254.169.254, ...) stay refused.
    allow_private_addresses: Annotated[bool | list[str], AfterValidator(_private_allowance)] = Field(
        default=False,
        description="Let feed URLs reach loopback, private, link-local and other non-public addresses:"
        " `true` for all, or a list of networks (CIDR) and host names (`[10.20.0.0/16, intranet.example]`)"
        " whose private addresses are allowed while every other one (169.254.169.254, ...) stays refused."
        " Checked at connect time on every redirect hop.",
    )
    timeout: Timeout = Field(
        default=timedelta(seconds=30), description="Connect and read timeout of each feed request."
    )
    deadline: Timeout | None = Field(
        default=None,
        description="The most one whole fetch may take, every redirect and the body included;"
        " unset is twice `timeout`.",
    )
    max_bytes: int = Field(
        default=15 * 1024 * 1024,
        gt=0,
        le=MAX_BYTES,
        description="Largest feed body, raw and decompressed, or fixture file, in bytes; a larger one"
        " is refused as soon as it passes the limit.",
    )
    user_agent: Annotated[str | None, AfterValidator(_header_value)] = Field(
        default=None,
        description="User-Agent of feed requests; unset is `Newswatch/<version> (+project URL)`.",
    )
    concurrency: int = Field(default=20, gt=0, le=1000, description="Feeds fetched at once.")
    max_redirects: int = Field(
        default=5, ge=0, le=20, description="Redirects followed per fetch (http and https only)."
    )
    backoff: FirstWait = Field(
        default=timedelta(minutes=1),
        description="First wait after a failed poll; it doubles with each further failure, with jitter.",
    )
    max_backoff: Wait = Field(
        default=timedelta(hours=6),
        description="Cap on the backoff and on a server's Retry-After.",
    )
    # The most items one poll processes: the newest by date, or the first in feed order.
    max_items: int = Field(
        default=1000,
        gt=0,
        le=1_000_000,
        description="The most items one poll processes: the newest by date, or the first in feed order"
        " when undated; the rest is counted in the log.",
    )

    @property
    def fetch_deadline(self) -> timedelta:
        """How long one fetch may take in all: `deadline`, else twice `timeout`."""
        return self.deadline if self.deadline is not None else self.timeout * 2


class CleaningSettings(_Model):
    """How article text is cleaned before it is stored (ingest/clean.py, ingest/boilerplate.py)."""

    boilerplate: list[str] = Field(
        default_factory=list,
        description="More boilerplate lines to drop: case-insensitive regular expressions matched"
        " against a whole line, added to the built-in list.",
    )
    replace_default_boilerplate: bool = Field(
        default=False, description="Use only the `boilerplate` patterns, not the built-in list."
    )

    @field_validator("boilerplate")
    @classmethod
    def _regexes(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"{value!r} is not a regular expression: {exc}") from None
        return values


class PipelineSettings(_Model):
    """How a poll's work is done after the fetch (newswatch/pipeline.py)."""

    workers: int | None = Field(
        default=None,
        ge=0,
        le=256,
        description="Worker processes that parse, clean and sign items: unset is one per core, 0 runs"
        " that work in a thread.",
    )
    batch: int = Field(
        default=500,
        gt=0,
        le=100_000,
        description="Items stored per transaction; a shutdown stops a big poll between two batches.",
    )
    process_timeout: Timeout = Field(
        default=timedelta(seconds=60),
        description="Time budget for parsing and cleaning one poll, apart from the fetch deadline;"
        " a feed over it is that poll's failure.",
    )


class DedupSettings(_Model):
    """What makes two texts one story (ingest/dedup.py `confirm`). Candidates come from a MinHash
    LSH index over the articles first seen within `window`; each is then checked on the two texts'
    3-word shingles. docs/concepts.md, "Deduplication", says what each one does."""

    threshold: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Jaccard similarity of the two texts' 3-word shingles at which they are one story.",
    )
    containment: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="A copy holding this share of the other text's shingles (whichever is longer) is"
        " the same story: a truncated copy, or one with an intro added.",
    )
    min_similarity: float = Field(
        default=0.2,
        gt=0,
        le=1,
        description="Below `threshold`, down to this Jaccard, a copy with scattered edits is the same"
        " story when its shared shingles spread over `spread` of the shorter text.",
    )
    spread: float = Field(
        default=0.7,
        gt=0,
        le=1,
        description="Share of the shorter text's stretches that the shared shingles must reach for a"
        " `min_similarity` match (scattered edits, not one shared paragraph).",
    )
    window: Schedule = Field(
        default=timedelta(days=7), description="How far back near-duplicates are looked for."
    )

    @model_validator(mode="before")
    @classmethod
    def _low_threshold(cls, data: Any) -> Any:
        """A threshold under the default min_similarity (set before that setting existed) brings it
        down with it."""
        if isinstance(data, dict) and "min_similarity" not in data:
            threshold = data.get("threshold")
            if isinstance(threshold, int | float) and 0 < threshold < 0.2:
                return {**data, "min_similarity": threshold}
        return data

    @model_validator(mode="after")
    def _ordered(self) -> DedupSettings:
        if self.min_similarity > self.threshold:
            raise ValueError(f"min_similarity {self.min_similarity:g} is above threshold {self.threshold:g}")
        return self


# Below this, retention would be nonsense: `max_per_hour` counts the last hour's alerts.
MIN_RETENTION = timedelta(hours=1)


class RetentionSettings(_Model):
    """How long finished alerts and articles no source carries any more are kept; unset (the
    default) keeps them forever. newswatch/retention.py says exactly what goes and what stays."""

    articles: Annotated[Duration | None, _duration_schema(MIN_RETENTION, MAX_DURATION)] = Field(
        default=None,
        description="Delete articles that no source has carried for this long and that no kept alert"
        " refers to; at least `dedup.window`. Unset keeps them forever.",
    )
    alerts: Annotated[Duration | None, _duration_schema(MIN_RETENTION, MAX_DURATION)] = Field(
        default=None,
        description="Delete sent and dead alerts this long after they finished (once their article has"
        " been quiet as long); at least the `cooldown` of every `on_update` rule. Unset keeps them"
        " forever.",
    )

    @field_validator("articles", "alerts")
    @classmethod
    def _at_least_an_hour(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value < MIN_RETENTION:
            raise ValueError(f"{format_duration(value)} is too short; keep at least 1h (or leave it unset)")
        return value

    @property
    def enabled(self) -> bool:
        """Whether anything is ever pruned."""
        return self.articles is not None or self.alerts is not None


# `full_text: auto` fetches an item's page when the text its feed gave is shorter than this many
# characters (after cleaning); `full_text.short_text` changes it.
SHORT_TEXT = 500
# The longest wait between two requests to one host, whatever `host_delay` or a robots.txt
# Crawl-delay says.
MAX_HOST_DELAY = timedelta(minutes=1)


def _delay(value: object) -> timedelta:
    """A duration that may be zero (`0`, `0s`): no wait."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value == 0:
        return timedelta(0)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is not None and float(match.group(1)) == 0:
            return timedelta(0)
    return parse_duration(value)


FullTextMode = Literal["auto", "always", "never"]
# A duration that may be 0 (no delay), at most MAX_HOST_DELAY.
HostDelay = Annotated[
    timedelta,
    BeforeValidator(_delay),
    AfterValidator(_within(None, MAX_HOST_DELAY)),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": DURATION_PATTERN},
                {"type": "number", "minimum": 0, "maximum": MAX_HOST_DELAY.total_seconds()},
                {"type": "string", "pattern": ENV_REF_PATTERN},
            ],
            "x-duration": {"max": format_duration(MAX_HOST_DELAY)},
        }
    ),
]


class FullTextSettings(_Model):
    """How linked pages are fetched for sources with `full_text: auto` or `always` (ingest/pages.py)."""

    short_text: int = Field(
        default=SHORT_TEXT,
        ge=0,
        le=1_000_000,
        description="`full_text: auto` fetches the page when the item's text, cleaned, is shorter than"
        " this many characters.",
    )
    per_host: int = Field(default=2, gt=0, le=16, description="Page requests at once to one host.")
    host_delay: HostDelay = Field(
        default=timedelta(seconds=1),
        description="Between the starts of two requests to one host (`0`: none; at most 1m); a longer"
        " robots.txt Crawl-delay wins.",
    )


class SourceConfig(_Model):
    """A place articles come from: a feed URL or a folder of article files (exactly one of them)."""

    name: str = Field(
        min_length=1, max_length=NAME_MAX_LENGTH, description="Unique name of the source, as logs show it."
    )
    directory: Annotated[Path | None, AfterValidator(_path)] = Field(
        default=None,
        description="A folder of article files (`*.txt`, `*.md`, searched recursively), relative to the"
        " config file's folder: first line the title, the rest the body, a closing `Topics: a, b` line"
        " the topics.",
    )
    feed: str | None = Field(
        default=None,
        description="An http(s) URL of an RSS 0.9x/1.0/2.0, Atom 0.3/1.0 or JSON Feed 1.x document.",
    )
    every: Schedule = Field(default=timedelta(minutes=15), description="How often the source is polled.")
    enabled: bool = Field(default=True, description="`false` keeps the source configured but not polled.")
    headers: Annotated[dict[str, str], AfterValidator(_headers)] = Field(
        default_factory=dict,
        description='Extra HTTP headers for the feed request, e.g. `{Authorization: "Bearer ${TOKEN}"}`.',
    )
    user_agent: Annotated[str | None, AfterValidator(_header_value)] = Field(
        default=None, description="User-Agent for this feed; unset is `fetch.user_agent`."
    )
    timeout: Timeout | None = Field(
        default=None, description="Per-request timeout for this feed; unset is `fetch.timeout`."
    )
    stale_after: Schedule = Field(
        default=timedelta(days=3),
        description="Feed health: a source with no successful poll, or no new article, for this long is"
        " flagged unhealthy (see `health`).",
    )
    full_text: FullTextMode = Field(
        default="never",
        description="Read each new or changed item's linked page for its text: `auto` when the feed's"
        " text is shorter than `full_text.short_text`, `always`, or `never`. Feed sources only.",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> SourceConfig:
        if (self.directory is None) == (self.feed is None):
            raise ValueError("a source needs exactly one of `directory` or `feed`")
        if self.directory is not None and self.full_text != "never":
            raise ValueError("`full_text` applies to feed sources only")
        return self

    @field_validator("feed")
    @classmethod
    def _http_only(cls, value: str | None) -> str | None:
        return _fetchable(value)

    @property
    def location(self) -> str:
        """Where the source reads from, for display: its feed URL or its folder."""
        return self.feed if self.feed is not None else str(self.directory)


class SmtpSettings(_Model):
    """The SMTP server an email channel sends through."""

    host: str = Field(default="localhost", description="SMTP server host name or address.")
    port: int = Field(default=25, gt=0, lt=65536, description="SMTP server port.")
    starttls: bool = Field(default=False, description="Upgrade the connection with STARTTLS.")
    ssl: bool = Field(default=False, description="Implicit TLS from the first byte (usually port 465).")
    username: str | None = Field(default=None, description="Login name, if the server wants one.")
    password: str | None = Field(
        default=None, description="Login password; write `${VAR}` so it comes from the environment."
    )
    timeout: Timeout = Field(default=timedelta(seconds=30), description="Timeout of each SMTP exchange.")
    ca_file: Path | None = Field(
        default=None,
        description="A PEM file of the CA(s) to trust for TLS (a private or self-signed server"
        " certificate), relative to the config file's folder.",
    )


class EmailSettings(_Model):
    """Send each alert (or digest) as a plain-text and HTML email through an SMTP server."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    to: list[str] = Field(min_length=1, description="Recipient addresses.")
    cc: list[str] = Field(default_factory=list, description="Copy addresses.")
    bcc: list[str] = Field(
        default_factory=list, description="Blind-copy addresses, never shown in the headers."
    )
    sender: str = Field(alias="from", description="The From address.")
    smtp: SmtpSettings = Field(default=SmtpSettings(), description="The SMTP server to send through.")
    templates: Path | None = Field(
        default=None,
        description="A folder whose `email.txt`, `email.html`, `digest.txt` or `digest.html` (Jinja2)"
        " replace the built-in templates, relative to the config file's folder.",
    )


DigestPeriod = Literal["hourly", "daily"]


class RateLimit(_Model):
    """A token bucket: `count` messages per `per`, bursts of up to `burst` (default `count`)."""

    count: int = Field(gt=0, le=MAX_COUNT, description="Messages allowed per `per`.")
    per: Schedule = Field(default=timedelta(minutes=1), description="The period `count` refers to.")
    burst: int | None = Field(
        default=None, gt=0, le=MAX_COUNT, description="Largest burst; unset is `count`."
    )


def _apprise_url(value: str) -> str:
    from core.apprise_url import problem  # imports Apprise: only for a config with an apprise channel

    found = problem(value)
    if found is not None:
        raise ValueError(found)
    return value


AppriseUrl = Annotated[str, AfterValidator(_apprise_url)]
MAX_APPRISE_URLS = 100


class ChannelConfig(_Model):
    """Where alerts go: a webhook, Apprise URLs, an email address list, or the console (exactly one
    of them)."""

    name: str = Field(
        min_length=1, max_length=NAME_MAX_LENGTH, description="Unique name; rules `notify` it by name."
    )
    webhook: str | None = Field(
        default=None, description="An http(s) URL that receives each alert as a signed JSON POST."
    )
    apprise: list[AppriseUrl] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_APPRISE_URLS,
        description="Apprise URLs (tgram://, slack://, ntfy://, matrix://, mailto://, json://, ...): one"
        " message to each; a retry goes only to those that have not taken it yet. Write secrets as"
        " `${VAR}`.",
    )
    templates: Annotated[Path | None, AfterValidator(_path)] = Field(
        default=None,
        description="An apprise channel's folder of templates (apprise_title.txt, apprise_body.txt, ...)"
        " replacing the built-in ones (an email channel's go under `email.templates`).",
    )
    secret: str | list[str] | None = Field(
        default=None,
        description="Standard Webhooks signing key (`whsec_<base64>`), or several while rotating"
        " (`[new, old]`: each message is signed with all). Write `${VAR}`; never put it in the file.",
    )
    secret_file: Path | None = Field(
        default=None,
        description="A file holding the signing key(s), one per line, newest first (instead of `secret`).",
    )
    format: Literal["standard", "slack", "discord", "template"] = Field(
        default="standard",
        description="Webhook body: the Standard Webhooks JSON event, a Slack/Mattermost or Discord"
        " incoming-webhook body, or your own Jinja2 `template`.",
    )
    template: Path | None = Field(
        default=None, description="The Jinja2 body template, with `format: template`."
    )
    content_type: str | None = Field(
        default=None, description="Content-Type of a `format: template` body; unset is application/json."
    )
    timeout: Timeout = Field(
        default=timedelta(seconds=15), description="How long a webhook POST may take before it failed."
    )
    retry: list[Wait] | None = Field(
        default=None,
        max_length=100,
        description="Waits between attempts, replacing the Standard Webhooks schedule (5s, 5m, 30m, 2h,"
        " 5h, 10h, 14h, 20h, 24h); after the last the alert is dead.",
    )
    email: EmailSettings | None = Field(default=None, description="Send alerts as email.")
    console: bool = Field(default=False, description="`true`: print alerts on standard output.")
    digest: DigestPeriod | None = Field(
        default=None,
        description="Gather this channel's alerts into one message per UTC hour or day; a rule's"
        " `digest` wins over it.",
    )
    rate_limit: RateLimit | None = Field(
        default=None,
        description="A token bucket; what goes over it is not dropped but sent in the next digest.",
    )
    # The values the config took from the environment (`${VAR}`) into this channel's Apprise URLs,
    # value -> variable name: what redaction hides (core/apprise_url.py). Set by load_config.
    _url_secrets: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _one_kind(self) -> ChannelConfig:
        kinds = [self.webhook is not None, self.email is not None, self.console, self.apprise is not None]
        if sum(kinds) != 1:
            raise ValueError(
                "a channel needs exactly one of `webhook`, `email`, `apprise` or `console: true`"
            )
        if self.templates is not None and self.apprise is None:
            raise ValueError(
                "`templates` applies to an apprise channel (an email channel's go under `email.templates`)"
            )
        if (self.secret is not None or self.secret_file is not None) and self.webhook is None:
            raise ValueError("`secret` only applies to a webhook channel")
        if self.secret is not None and self.secret_file is not None:
            raise ValueError("give `secret` or `secret_file`, not both")
        if (self.format == "template") != (self.template is not None):
            raise ValueError("`format: template` and `template: <file>` go together")
        if self.format != "standard" and self.webhook is None:
            raise ValueError("`format` only applies to a webhook channel")
        return self

    @property
    def secrets(self) -> list[str]:
        """The signing secrets, newest first (several while a secret is being rotated)."""
        if self.secret is None:
            return []
        return [self.secret] if isinstance(self.secret, str) else list(self.secret)

    @field_validator("webhook")
    @classmethod
    def _http_only(cls, value: str | None) -> str | None:
        return _fetchable(value)

    @field_validator("secret")
    @classmethod
    def _standard_webhooks_key(
        cls, value: str | list[str] | None, info: ValidationInfo
    ) -> str | list[str] | None:
        if value is None:
            return None
        for secret in [value] if isinstance(value, str) else value:
            _checks(info).secret(secret)  # raises ValueError with a readable message
        if isinstance(value, list) and not value:
            raise ValueError("`secret` needs at least one secret")
        return value

    @property
    def kind(self) -> Literal["webhook", "email", "apprise", "console"]:
        """Which kind of channel this is."""
        if self.webhook is not None:
            return "webhook"
        if self.email is not None:
            return "email"
        if self.apprise is not None:
            return "apprise"
        return "console"

    @property
    def url_secrets(self) -> dict[str, str]:
        """The environment values in this channel's Apprise URLs (value -> variable name)."""
        return dict(self._url_secrets)

    def apprise_targets(self) -> list[str]:
        """This channel's Apprise URLs as they may be shown: secrets masked (core/apprise_url.py)."""
        from core.apprise_url import display

        return [display(url, self._url_secrets) for url in self.apprise or []]


def _matchable(value: str, info: ValidationInfo) -> str:
    """`value`, unless normalising leaves nothing of it to match (it would match every article)."""
    if not _checks(info).phrase(value):
        raise ValueError(f"{value!r} has nothing to match once spaces, accents and marks are dropped")
    return value


class PersonConfig(_Model):
    """A person to watch: a full name, other spellings, and whether the last name alone counts."""

    name: str = Field(min_length=1, description="The full name, e.g. `Vladimir Putin`.")
    aliases: list[str] = Field(
        default_factory=list,
        description="Other spellings, transliterations and inflected forms, each matched as a whole.",
    )
    last_name_alone: bool = Field(
        default=True, description="Match the last name on its own; `false` for common surnames."
    )

    @field_validator("name")
    @classmethod
    def _matchable_name(cls, value: str, info: ValidationInfo) -> str:
        return _matchable(value, info)

    @field_validator("aliases")
    @classmethod
    def _matchable_aliases(cls, value: list[str], info: ValidationInfo) -> list[str]:
        return [_matchable(alias, info) for alias in value]


def _person(value: object) -> object:
    return {"name": value} if isinstance(value, str) else value


Person = Annotated[PersonConfig, BeforeValidator(_person, json_schema_input_type=str | PersonConfig)]


class TermConfig(_Model):
    """A topic or keyword: a phrase, or `/regex/`; `case_sensitive` for acronyms such as US."""

    term: str = Field(min_length=1, description="A phrase matched as whole words, or `/regex/` (RE2 syntax).")
    case_sensitive: bool = Field(default=False, description="Match the case as written (`US`, not `us`).")

    @field_validator("term")
    @classmethod
    def _safe_regex(cls, value: str, info: ValidationInfo) -> str:
        if is_regex(value):
            _checks(info).regex(value[1:-1])  # raises ValueError saying what is wrong
        elif not value.strip():
            raise ValueError("a term cannot be blank")
        else:
            _matchable(value, info)
        return value

    @property
    def is_regex(self) -> bool:
        """True for a `/regex/` term."""
        return is_regex(self.term)


def is_regex(term: str) -> bool:
    """A term written as `/pattern/`."""
    return len(term) > 2 and term.startswith("/") and term.endswith("/")


def _term(value: object) -> object:
    return {"term": value} if isinstance(value, str) else value


Term = Annotated[TermConfig, BeforeValidator(_term, json_schema_input_type=str | TermConfig)]
MatchField = Literal["title", "text", "topics"]
MATCH_FIELDS: tuple[MatchField, ...] = ("title", "text", "topics")


class TermGroup(_Model):
    """People, topics and keywords of which any one is enough."""

    people: list[Person] = Field(
        default_factory=list,
        description="People: a name, or `{name, aliases, last_name_alone}`; any one is a hit.",
    )
    topics: list[Term] = Field(
        default_factory=list,
        description="Topics, found in the text and compared whole with the article's tags; any one is a hit.",
    )
    keywords: list[Term] = Field(
        default_factory=list,
        description="Words, phrases or `/regex/` terms, or `{term, case_sensitive}`; any one is a hit.",
    )

    @property
    def empty(self) -> bool:
        """True when the group names nothing."""
        return not (self.people or self.topics or self.keywords)


def _groups(value: object) -> object:
    return [value] if isinstance(value, dict) else value


class RuleExamples(_Model):
    """Texts a rule must (`match`) and must not (`no_match`) fire on; `newswatch check` runs them."""

    match: list[str] = Field(default_factory=list, description="Texts the rule must fire on.")
    no_match: list[str] = Field(default_factory=list, description="Texts the rule must not fire on.")


class RuleConfig(TermGroup):
    """What to watch for and whom to tell: fires when one of its own terms (if any) has a hit, every
    `all` group has one and no `none` group has one, counting only hits in `fields`."""

    name: str = Field(
        min_length=1, max_length=NAME_MAX_LENGTH, description="Unique name, shown in every alert."
    )
    all: list[TermGroup] = Field(
        default_factory=list, description="Groups of terms that must each have a hit too."
    )
    none: Annotated[
        list[TermGroup], BeforeValidator(_groups, json_schema_input_type=TermGroup | list[TermGroup])
    ] = Field(
        default_factory=list, description="A group, or a list of groups, any hit in which vetoes the rule."
    )
    sources: list[str] = Field(
        default_factory=list, description="Only articles from these sources (by name); empty is all."
    )
    fields: list[MatchField] = Field(
        default_factory=lambda: list(MATCH_FIELDS),
        min_length=1,
        description="Where to look: `title`, `text`, `topics`.",
    )
    notify: list[str] = Field(min_length=1, description="The channels (by name) that get the alerts.")
    cooldown: Schedule | None = Field(
        default=None,
        description="With `on_update`: at most one re-alert per article in this time; an update within"
        " it waits and goes out when it ends, with the latest text.",
    )
    max_per_hour: int | None = Field(
        default=None,
        gt=0,
        le=MAX_COUNT,
        description="Alerting articles per hour above which alerts go into the rule's hourly digest"
        " instead (none is dropped).",
    )
    examples: RuleExamples = Field(
        default=RuleExamples(),
        description="Texts the rule must and must not fire on; `newswatch check` fails when one disagrees.",
    )
    digest: DigestPeriod | None = Field(
        default=None, description="Gather this rule's alerts into one message per UTC hour or day."
    )
    on_update: bool = Field(
        default=False,
        description="Alert again when a matched article changes and still matches (a new message with"
        " the new content).",
    )

    @model_validator(mode="after")
    def _has_terms(self) -> RuleConfig:
        if self.empty and not any(not group.empty for group in self.all):
            raise ValueError("a rule needs at least one of `people`, `topics`, `keywords` or `all`")
        for i, group in enumerate(self.all):
            if group.empty:
                raise ValueError(f"all[{i}] names no people, topics or keywords")
        return self


class HttpSettings(_Model):
    """The status/health/metrics endpoint (off unless configured)."""

    listen: str = Field(
        description="host:port to serve `/healthz`, `/readyz`, `/metrics` and the status page on, e.g."
        " `127.0.0.1:8787`. No authentication: keep it on loopback or behind your proxy."
    )

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isascii() or not port.isdigit() or len(port) > 5 or not int(port) < 65536:
            raise ValueError(f"{value[:80]!r} is not host:port, e.g. 127.0.0.1:8787")
        return value

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) to bind."""
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


def _host_port(value: str) -> str:
    host, _, port = value.rpartition(":")
    if not host or not port.isascii() or not port.isdigit() or len(port) > 5 or not int(port) < 65536:
        raise ValueError(f"{value[:80]!r} is not host:port, e.g. 127.0.0.1:8787")
    return value


def _address(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


class WebSubSettings(_Model):
    """WebSub push: subscribe to the hub a feed advertises, and take the hub's pushes at
    `callback_url` (the public base URL a reverse proxy forwards to `listen`)."""

    callback_url: str = Field(
        description="The public base URL hubs reach the callback at, e.g."
        " `https://newswatch.example.org/websub`; each subscription adds a random path of its own."
        " Your reverse proxy forwards it to `listen`."
    )
    listen: Annotated[str, AfterValidator(_host_port)] = Field(
        default="127.0.0.1:8788",
        description="host:port the callback listener binds (`run` and every distributed node);"
        " loopback unless set, as a reverse proxy usually sits in front.",
    )
    fallback_every: Schedule = Field(
        default=timedelta(hours=1),
        description="How often a source is still polled while a hub pushes it (never more often than"
        " its `every`).",
    )
    lease_seconds: int = Field(
        default=864_000,
        ge=60,
        le=365 * 86_400,
        description="The subscription lease asked of the hub, in seconds (10 days by default); the hub"
        " may grant another. Renewed before it ends.",
    )

    @field_validator("callback_url")
    @classmethod
    def _public_base(cls, value: str) -> str:
        _fetchable(value)
        if "?" in value or "#" in value:
            raise ValueError("the callback base URL cannot hold a query or a fragment")
        return value.rstrip("/")

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) the callback listener binds."""
        return _address(self.listen)


class HealthSettings(_Model):
    """Where `source.unhealthy` / `source.recovered` events go."""

    notify: list[str] = Field(
        default_factory=list,
        description="Channels (by name) that get `source.unhealthy` and `source.recovered` events.",
    )


class Config(_Model):
    """A Newswatch config file: where to store, what to poll, what to watch for, whom to tell."""

    database: str = Field(
        default="sqlite:///newswatch.db",
        description="SQLAlchemy URL of the database: `sqlite:///file.db` (relative to the config file's"
        " folder) or `postgresql://user:${PGPASSWORD}@host/db`. The environment variable"
        " NEWSWATCH_DATABASE_URL overrides it.",
    )
    mode: Literal["single", "distributed"] = Field(
        default="single",
        description="`single`: one `newswatch run` schedules in-process. `distributed`: nodes share the"
        " work through procrastinate on PostgreSQL (as `run --distributed`).",
    )
    fetch: FetchSettings = Field(default=FetchSettings(), description="How feeds are fetched.")
    cleaning: CleaningSettings = Field(default=CleaningSettings(), description="How text is cleaned.")
    dedup: DedupSettings = Field(default=DedupSettings(), description="What makes two texts one story.")
    pipeline: PipelineSettings = Field(
        default=PipelineSettings(), description="How a poll's work is done after the fetch."
    )
    full_text: FullTextSettings = Field(
        default=FullTextSettings(),
        description="How linked pages are fetched for sources with `full_text: auto` or `always`.",
    )
    sources: list[SourceConfig] = Field(
        default_factory=list, description="What to poll: feeds and folders of article files."
    )
    channels: list[ChannelConfig] = Field(
        default_factory=list, description="Where alerts go: webhooks, email, the console."
    )
    rules: list[RuleConfig] = Field(
        default_factory=list, description="What to watch for, and which channels to notify."
    )
    http: HttpSettings | None = Field(
        default=None, description="The health, metrics and status-page endpoint; off unless set."
    )
    websub: WebSubSettings | None = Field(
        default=None,
        description="WebSub push: subscribe to the hub a feed advertises and take its pushes; off unless"
        " set.",
    )
    health: HealthSettings = Field(default=HealthSettings(), description="Where feed-health events go.")
    retention: RetentionSettings = Field(
        default=RetentionSettings(),
        description="How long old articles and finished alerts are kept; unset keeps them forever.",
    )
    shutdown_grace: Timeout = Field(
        default=timedelta(seconds=5),
        description="How long SIGTERM waits for in-flight polls and deliveries before it cancels them.",
    )

    @field_validator("database")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not is_database_url(value):  # not echoed: the URL may hold a password
            raise ValueError(
                "is not a database URL; write sqlite:///newswatch.db or postgresql://user@host/db"
            )
        return value

    @model_validator(mode="after")
    def _names_and_references(self) -> Config:
        for kind, items in (("sources", self.sources), ("channels", self.channels), ("rules", self.rules)):
            seen: set[str] = set()
            for item in items:
                if item.name in seen:
                    raise ValueError(f"two {kind} are named {item.name!r}; names must be unique")
                seen.add(item.name)
        return self

    def source(self, name: str) -> SourceConfig:
        """The source called `name`."""
        return next(s for s in self.sources if s.name == name)


# SQLAlchemy's URL grammar (sqlalchemy/engine/url.py, `_parse_url`), checked without importing
# SQLAlchemy, which costs a third of a second: `check` opens no database and stays quick. The
# engine parses the URL again when it connects.
_DATABASE_URL = re.compile(
    r"""
    (?P<name>[\w\+]+)://
    (?:(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@)?
    (?:(?:\[(?P<ipv6host>[^/\?]+)\]|(?P<ipv4host>[^/:\?]+))?(?::(?P<port>[^/\?]*))?)?
    (?:/(?P<database>[^\?]*))?
    (?:\?(?P<query>.*))?
    """,
    re.X,
)


def is_database_url(value: str) -> bool:
    """Whether SQLAlchemy's `make_url` reads `value` (a scheme, and a port that is a number)."""
    match = _DATABASE_URL.match(value)
    if match is None:
        return False
    port = match.group("port")
    if port is not None:  # an empty port (`host:/db`) is refused too
        try:
            int(port)
        except ValueError:
            return False
    return True


def config_path(cli_value: str | os.PathLike[str] | None) -> Path:
    """Which config file to read: `--config`, else $NEWSWATCH_CONFIG, else config/newswatch.yaml."""
    if cli_value:
        return Path(cli_value)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    return DEFAULT_CONFIG


@dataclass(frozen=True)
class Checks:
    """The checks of config values that need the code that uses them: the matcher's regex and phrase
    rules (alerts/rules.py, alerts/normalize.py) and the webhook secret format (alerts/signing.py).
    The application passes them in (newswatch/settings.py), so this model never imports upwards.
    Each raises ValueError with a readable message; `phrase` returns what is left to match."""

    regex: Callable[[str], object]
    phrase: Callable[[str], str]
    secret: Callable[[str], object]


def _checks(info: ValidationInfo) -> Checks:
    checks = info.context.get("checks") if isinstance(info.context, dict) else None
    if not isinstance(checks, Checks):
        raise RuntimeError("Config is validated through load_config(..., checks=...) only")
    return checks


def load_config(path: Path, environ: Mapping[str, str] | None = None, *, checks: Checks) -> Config:
    """Read, expand and validate the config file at `path`; raise ConfigError saying what to fix."""
    env = os.environ if environ is None else environ
    raw = _read_yaml(path)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping (database:, sources:, ...)")
    _refuse_bombs(path, raw)
    substituted: list[Substitution] = []
    raw = _expand_env(raw, env, (), substituted)
    if env.get(DATABASE_ENV):
        raw["database"] = env[DATABASE_ENV]
    try:
        config = Config.model_validate(raw, context={"checks": checks})
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_describe(exc, raw)}") from None
    _check_references(path, config)
    config = _resolve_paths(config, path.parent, checks, from_env=bool(env.get(DATABASE_ENV)))
    _note_url_secrets(config, substituted)
    return config


def _note_url_secrets(config: Config, substituted: list[Substitution]) -> None:
    """Tell each apprise channel which of its URLs' text came from the environment (to redact)."""
    for i, channel in enumerate(config.channels):
        if channel.apprise is not None:
            channel._url_secrets = {
                value: name for where, name, value in substituted if where[:3] == ("channels", i, "apprise")
            }


def require_sources(path: Path, config: Config) -> None:
    """Refuse a config with no sources (an empty file, say): `run` would watch nothing, `check` pass."""
    if not config.sources:
        raise ConfigError(f"{path} has no sources; see config/newswatch.yaml for an example")


def _read_yaml(path: Path) -> Any:
    """The file parsed by the safe loader (plain YAML only: no `!!python/...` tags), not expanded."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: refused: larger than {MAX_CONFIG_BYTES // (1024 * 1024)} MB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        detail = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise ConfigError(f"{path}: cannot read config file: {detail}") from None
    try:
        return yaml.load(text, Loader=SafeLoader)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        tag = re.search(r"tag '([^']*)'", exc.problem or "")
        if tag:
            refused = f"YAML tag {tag.group(1)!r} is not allowed; write plain values"
            raise ConfigError(f"{where}: {refused}") from None
        raise ConfigError(f"{where}: YAML error: {exc.problem or exc.context}") from None
    except (ValueError, OverflowError) as exc:  # whatever the constructor still lets through
        raise ConfigError(f"{path}: YAML error: cannot read a value: {str(exc).split(';')[0]}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        detail = exc.problem or exc.context or "cannot parse"
        if exc.problem and exc.context and exc.context_mark:
            opened = exc.context_mark
            detail += f" ({exc.context} at line {opened.line + 1}, column {opened.column + 1})"
        raise ConfigError(f"{where}: YAML syntax error: {detail}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: YAML syntax error: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise ConfigError(f"{path}: refused: nested more than {MAX_NESTING} levels deep") from None


def _refuse_bombs(path: Path, raw: dict[str, Any]) -> None:
    """Refuse, before anything is expanded or copied, a document whose aliases would make more than
    MAX_ALIAS_NODES extra nodes (a "billion laughs"), that refers to itself, or is nested too deep.

    The safe loader shares one object for each alias, so the document is small in memory; what it
    would expand to is counted once per distinct object (memoised), in time linear in the file."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(value: Any, depth: int) -> int:
        if not isinstance(value, dict | list):
            return 1
        key = id(value)
        if key in sizes:
            return sizes[key]
        if key in open_:
            raise ConfigError(f"{path}: refused: an alias refers to the node that contains it")
        if depth > MAX_NESTING:
            raise ConfigError(f"{path}: refused: nested more than {MAX_NESTING} levels deep")
        open_.add(key)
        children = value.values() if isinstance(value, dict) else value
        total = 1 + sum(size(child, depth + 1) for child in children)
        open_.discard(key)
        sizes[key] = total
        return total

    expanded = size(raw, 0)
    distinct = len(sizes) + _scalars(raw, set())
    if expanded - distinct > MAX_ALIAS_NODES:
        raise ConfigError(
            f"{path}: refused: its aliases (*name) would expand to {expanded:,} nodes; aliases may add"
            f" at most {MAX_ALIAS_NODES:,}"
        )


def _scalars(value: Any, seen: set[int]) -> int:
    """The scalars written in the document (each aliased mapping or list counted once)."""
    if id(value) in seen:
        return 0
    seen.add(id(value))
    children = value.values() if isinstance(value, dict) else value
    return sum(_scalars(c, seen) if isinstance(c, dict | list) else 1 for c in children)


# One `${VAR}` expanded: where in the document (key path), the variable's name, the value put in.
Substitution = tuple[tuple[str | int, ...], str, str]


def _expand_env(
    value: Any, env: Mapping[str, str], where: tuple[str | int, ...], found: list[Substitution]
) -> Any:
    """`value` with every `${VAR}` (or `${VAR:-default}`) expanded; each expansion noted in `found`."""
    if isinstance(value, dict):
        return {k: _expand_env(v, env, (*where, k), found) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, env, (*where, i), found) for i, v in enumerate(value)]
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                found.append((where, name, env[name]))
                return env[name]
            if default is not None:
                found.append((where, name, default))
                return default
            raise ConfigError(
                f"{_key_path(where)}: environment variable {name} is not set"
                f" (set it, or write ${{{name}:-default}})"
            )

        return _ENV_REF.sub(substitute, value)
    return value


def _key_path(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _describe(exc: ValidationError, raw: dict[str, Any]) -> str:
    problems = []
    for error in exc.errors():
        loc = tuple(p for p in error["loc"] if not _is_pydantic_tag(p))
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        problems.append(f"{_key_path(loc)}{_item_name(loc, raw)}: {message}")
    return "; ".join(problems)


def _is_pydantic_tag(part: object) -> bool:
    return isinstance(part, str) and ("function-" in part or part.startswith("constrained-"))


def _item_name(loc: tuple[Any, ...], raw: dict[str, Any]) -> str:
    """Name the source, channel or rule an error is in, so a user finds it without counting."""
    if len(loc) < 2 or loc[0] not in ("sources", "channels", "rules") or not isinstance(loc[1], int):
        return ""
    try:
        name = raw[loc[0]][loc[1]].get("name")
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""
    return f" ({str(loc[0])[:-1]} {name!r})" if isinstance(name, str) else ""


def _check_references(path: Path, config: Config) -> None:
    channels = {c.name for c in config.channels}
    sources = {s.name for s in config.sources}
    for i, rule in enumerate(config.rules):
        for j, name in enumerate(rule.sources):
            if name not in sources:
                known = ", ".join(sorted(sources)) or "none defined"
                raise ConfigError(
                    f"{path}: rules[{i}].sources[{j}]: rule {rule.name!r} is scoped to unknown source"
                    f" {name!r} (sources: {known})"
                )
        for j, name in enumerate(rule.notify):
            if name not in channels:
                known = ", ".join(sorted(channels)) or "none defined"
                raise ConfigError(
                    f"{path}: rules[{i}].notify[{j}]: rule {rule.name!r} notifies unknown channel"
                    f" {name!r} (channels: {known})"
                )
    for j, name in enumerate(config.health.notify):
        if name not in channels:
            raise ConfigError(f"{path}: health.notify[{j}]: unknown channel {name!r}")
    _check_retention(path, config)


def _check_retention(path: Path, config: Config) -> None:
    """Retention shorter than what dedup or a cooldown looks back over would let a story alert twice.
    A cooldown looks back only for an `on_update` rule (it spaces out re-alerts; alerts/throttle.py)."""
    articles, alerts = config.retention.articles, config.retention.alerts
    window = config.dedup.window
    if articles is not None and articles < window:
        raise ConfigError(
            f"{path}: retention.articles: {format_duration(articles)} is shorter than dedup.window"
            f" ({format_duration(window)}); a copy of a pruned story would alert again"
        )
    for i, rule in enumerate(config.rules):
        if alerts is None or rule.cooldown is None or not rule.on_update:
            continue
        if alerts < rule.cooldown:
            raise ConfigError(
                f"{path}: retention.alerts: {format_duration(alerts)} is shorter than rules[{i}].cooldown"
                f" of rule {rule.name!r} ({format_duration(rule.cooldown)}), which spaces its on_update"
                " re-alerts from the last alert sent"
            )


def _resolve_paths(config: Config, base: Path, checks: Checks, *, from_env: bool) -> Config:
    sources = []
    for i, source in enumerate(config.sources):
        if source.directory is not None:
            try:
                folder = (base / source.directory).resolve()
            except (OSError, ValueError, RuntimeError) as exc:  # a name too long, a symlink loop
                detail = getattr(exc, "strerror", None) or exc
                raise ConfigError(
                    f"sources[{i}].directory (source {source.name!r}): cannot use it: {detail}"
                ) from None
            source = source.model_copy(update={"directory": folder})
        sources.append(source)
    database = config.database
    if not from_env:
        database = resolve_sqlite_path(database, base)
    channels = [_resolve_channel(c, base, checks) for c in config.channels]
    return config.model_copy(update={"sources": sources, "database": database, "channels": channels})


def _resolve_channel(channel: ChannelConfig, base: Path, checks: Checks) -> ChannelConfig:
    """Make a channel's file paths absolute and read its secrets file (never logged, never echoed)."""
    update: dict[str, Any] = {}
    if channel.template is not None:
        update["template"] = (base / channel.template).resolve()
    if channel.templates is not None:
        update["templates"] = (base / channel.templates).resolve()
    if channel.email is not None:
        smtp, templates = channel.email.smtp, channel.email.templates
        if smtp.ca_file is not None or templates is not None:
            email_update: dict[str, Any] = {}
            if smtp.ca_file is not None:
                email_update["smtp"] = smtp.model_copy(update={"ca_file": (base / smtp.ca_file).resolve()})
            if templates is not None:
                email_update["templates"] = (base / templates).resolve()
            update["email"] = channel.email.model_copy(update=email_update)
    if channel.secret_file is not None:
        path = (base / channel.secret_file).resolve()
        where = f"channel {channel.name!r}: secret_file {path}"
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{where}: cannot read: {type(exc).__name__}") from None
        secrets = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
        if not secrets:
            raise ConfigError(f"{where}: holds no secret")
        for number, secret in enumerate(secrets, 1):
            try:
                checks.secret(secret)
            except ValueError as exc:
                raise ConfigError(f"{where}: secret {number}: {exc}") from None
        update["secret_file"] = path
        update["secret"] = secrets
    return channel.model_copy(update=update) if update else channel


def resolve_sqlite_path(url: str, base: Path) -> str:
    """Make a relative SQLite file path absolute against `base` (the config file's folder)."""
    match = re.match(r"^(sqlite(?:\+\w+)?):///(?!/)(.+)$", url)
    if not match or match.group(2).startswith(":memory:"):
        return url
    return f"{match.group(1)}:///{(base / match.group(2)).resolve()}"

"""The data passed between alert stages: Hit -> Match -> Alert."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class TermKind(StrEnum):
    PERSON = "person"
    TOPIC = "topic"
    KEYWORD = "keyword"


@dataclass(frozen=True)
class Hit:
    """One term of a rule found in one field of an article, as it was written there."""

    term: str  # the term as configured, e.g. "Vladimir Putin"
    kind: TermKind
    surface: str  # the words in the article, e.g. "Putin's" -> "Putin"
    field: str  # title, text or topics
    snippet: str
    # Where in the field, as written: characters [start, end) of the title or text, or the tag's
    # index (i, i + 1) in topics. Not part of a hit's identity, nor of its JSON.
    start: int = dataclasses.field(default=0, compare=False)
    end: int = dataclasses.field(default=0, compare=False)

    def as_dict(self) -> dict[str, Any]:
        # By hand: dataclasses.asdict deep-copies every value, 5% of ingest time in the profile.
        return {
            "term": self.term,
            "kind": self.kind,
            "surface": self.surface,
            "field": self.field,
            "snippet": self.snippet,
        }


@dataclass(frozen=True)
class Match:
    """A rule that an article satisfied, with every hit that made it so."""

    rule: str
    article_id: int
    hits: tuple[Hit, ...]


@dataclass(frozen=True)
class Alert:
    """One alert ready to send to one channel."""

    id: int
    message_id: str
    rule: str
    channel: str
    attempts: int
    matched: list[dict[str, Any]]
    article: dict[str, Any]
    created_at: str
    batch: str | None = None  # the digest it waits for, if any
    # The targets of a channel with several (apprise URLs) that already took this message: a retry
    # goes only to the others.
    delivered: tuple[str, ...] = ()

    def event(self) -> dict[str, Any]:
        """The webhook event body (Standard Webhooks style: type, timestamp, data)."""
        return {
            "type": "article.matched",
            "timestamp": self.created_at,
            "data": {"rule": self.rule, "matched": self.matched, "article": self.article},
        }


@dataclass(frozen=True)
class Digest:
    """Several alerts for one channel sent as one message (a digest period, or rate-limit overflow)."""

    message_id: str
    channel: str
    batch: str
    alerts: tuple[Alert, ...]
    created_at: str

    @property
    def attempts(self) -> int:
        return max((a.attempts for a in self.alerts), default=0)

    @property
    def delivered(self) -> tuple[str, ...]:
        """The targets every alert of the digest was delivered to (a retry skips only those)."""
        if not self.alerts:
            return ()
        common = set(self.alerts[0].delivered).intersection(*(a.delivered for a in self.alerts[1:]))
        return tuple(t for t in self.alerts[0].delivered if t in common)

    def event(self) -> dict[str, Any]:
        """The webhook event body for a digest: every alert's rule, hits and article."""
        return {
            "type": "article.digest",
            "timestamp": self.created_at,
            "data": {
                "channel": self.channel,
                "period": self.batch,
                "count": len(self.alerts),
                "alerts": [{"rule": a.rule, "matched": a.matched, "article": a.article} for a in self.alerts],
            },
        }

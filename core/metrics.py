"""Prometheus metrics: one registry, the metric objects, and the few calls the pipeline makes."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Metric,
    disable_created_metrics,
    generate_latest,
)

# The *_created samples only add noise for one long-running process.
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry()

POLLS = Counter(
    "newswatch_polls",
    "Polls of a source, by outcome (ok, not_modified, error).",
    ["source", "outcome"],
    registry=REGISTRY,
)
# By outcome, not by source: a histogram per source costs about 4 KB (40 MB at 10,000 sources).
POLL_SECONDS = Histogram(
    "newswatch_poll_duration_seconds",
    "How long one poll of a source took (fetch, clean, store, match), by outcome.",
    ["outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
    registry=REGISTRY,
)
ARTICLES_STORED = Counter(
    "newswatch_articles_stored",
    "Articles stored, by source and kind (new, updated).",
    ["source", "kind"],
    registry=REGISTRY,
)
DUPLICATES_MERGED = Counter(
    "newswatch_duplicates_merged", "Duplicate articles merged, by dedup level.", ["level"], registry=REGISTRY
)
RULE_MATCHES = Counter("newswatch_rule_matches", "Articles a rule matched.", ["rule"], registry=REGISTRY)
DELIVERIES = Counter(
    "newswatch_deliveries",
    "Delivery attempts, by channel and resulting alert state (sent, failed, dead).",
    ["channel", "state"],
    registry=REGISTRY,
)
ALERTS = Gauge(
    "newswatch_alerts",
    "Alerts in the outbox, by channel and state (read at scrape time).",
    ["channel", "state"],
    registry=REGISTRY,
)
DELIVERY_LATENCY = Histogram(
    "newswatch_delivery_latency_seconds",
    "From the match being stored to the channel acknowledging the alert.",
    ["channel"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 86400),
    registry=REGISTRY,
)
STAGE_SECONDS = Counter(
    "newswatch_stage_seconds",
    "Seconds spent in each pipeline stage (fetch, process, store, match, deliver), summed over polls"
    " and workers: where a node's time goes.",
    ["stage"],
    registry=REGISTRY,
)
PAGES = Counter(
    "newswatch_pages",
    "Linked pages wanted for their full text, by outcome (used; kept_feed_text: not fetched or not"
    " usable, the item kept its feed's text).",
    ["outcome"],
    registry=REGISTRY,
)
WEBSUB_CALLBACKS = Counter(
    "newswatch_websub_callbacks",
    "Requests on the WebSub callback, by kind (verification, push) and outcome (confirmed, refused,"
    " stored, bad_signature, unknown, too_large, failed).",
    ["kind", "outcome"],
    registry=REGISTRY,
)
WEBSUB_REQUESTS = Counter(
    "newswatch_websub_requests",
    "Subscription requests sent to WebSub hubs, by mode (subscribe, unsubscribe) and outcome"
    " (accepted, failed).",
    ["mode", "outcome"],
    registry=REGISTRY,
)
OUTBOX_DEPTH = Gauge(
    "newswatch_outbox_depth", "Alerts waiting to be sent (pending or failed).", registry=REGISTRY
)
OLDEST_PENDING = Gauge(
    "newswatch_outbox_oldest_pending_age_seconds",
    "Age of the oldest alert still waiting to be sent (0 when none).",
    registry=REGISTRY,
)


def poll_done(source: str, outcome: str, seconds: float, new: int = 0, updated: int = 0) -> None:
    """Record one finished poll."""
    POLLS.labels(source, outcome).inc()
    POLL_SECONDS.labels(outcome).observe(seconds)
    if new:
        ARTICLES_STORED.labels(source, "new").inc(new)
    if updated:
        ARTICLES_STORED.labels(source, "updated").inc(updated)


def push_done(source: str, new: int = 0, updated: int = 0) -> None:
    """Record the articles one WebSub push stored."""
    if new:
        ARTICLES_STORED.labels(source, "new").inc(new)
    if updated:
        ARTICLES_STORED.labels(source, "updated").inc(updated)


def websub_callback(kind: str, outcome: str) -> None:
    """Record one request on the WebSub callback."""
    WEBSUB_CALLBACKS.labels(kind, outcome).inc()


def websub_request(mode: str, outcome: str) -> None:
    """Record one subscription request sent to a hub."""
    WEBSUB_REQUESTS.labels(mode, outcome).inc()


def stage_time(stage: str, seconds: float) -> None:
    """Add `seconds` spent in pipeline `stage`."""
    STAGE_SECONDS.labels(stage).inc(max(seconds, 0.0))


def stage_seconds() -> dict[str, float]:
    """Seconds per stage so far (for `python -m bench.profile`)."""
    totals: dict[str, float] = {}
    for family in STAGE_SECONDS.collect():
        for sample in family.samples:
            if sample.name.endswith("_total"):
                totals[sample.labels["stage"]] = sample.value
    return totals


def pages_done(used: int, kept_feed_text: int) -> None:
    """Record a poll's full-text pages: used, and wanted but not used."""
    if used:
        PAGES.labels("used").inc(used)
    if kept_feed_text:
        PAGES.labels("kept_feed_text").inc(kept_feed_text)


def duplicate_merged(level: str) -> None:
    """Record one duplicate merged at dedup `level` (for the dedup stage to call)."""
    DUPLICATES_MERGED.labels(level).inc()


def rule_matched(rule: str) -> None:
    """Record one article matched by `rule`."""
    RULE_MATCHES.labels(rule).inc()


def delivery_done(channel: str, state: str, latency: float | None = None) -> None:
    """Record one delivery attempt and, when sent, how long after the match it arrived."""
    DELIVERIES.labels(channel, state).inc()
    if latency is not None:
        DELIVERY_LATENCY.labels(channel).observe(max(latency, 0.0))


def set_outbox(counts: dict[tuple[str, str], int], depth: int, oldest_age: float) -> None:
    """Set the outbox gauges from a fresh read of the database."""
    ALERTS.clear()
    for (channel, state), count in counts.items():
        ALERTS.labels(channel, state).set(count)
    OUTBOX_DEPTH.set(depth)
    OLDEST_PENDING.set(oldest_age)


def exposition(node: str | None = None) -> bytes:
    """The registry in the Prometheus text format; with `node`, every sample labelled `node="…"`
    (a cluster's nodes each serve their own counters, and a scrape of all of them stays apart)."""
    if node is None:
        return generate_latest(REGISTRY)
    return generate_latest(_Labelled(node))


class _Labelled:
    """The registry's families, each sample with a `node` label added."""

    def __init__(self, node: str) -> None:
        self.node = node

    def collect(self) -> Iterator[Metric]:
        for family in REGISTRY.collect():
            labelled = Metric(family.name, family.documentation, family.type, family.unit)
            for sample in family.samples:
                labelled.samples.append(sample._replace(labels={**sample.labels, "node": self.node}))
            yield labelled

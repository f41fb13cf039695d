"""The pure middle of delivery: retry waits, Retry-After, token buckets, digest periods, payloads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts import payloads
from alerts.channels.webhook import parse_retry_after
from alerts.delivery import RETRY_SCHEDULE, period_start, retry_delay
from alerts.ratelimit import next_token_at, take
from core.config import RateLimit

EVENT = {
    "type": "article.matched",
    "timestamp": "2026-11-25T09:00:00+00:00",
    "data": {
        "rule": "kremlin",
        "matched": [{"surface": "Putin"}],
        "article": {"title": "A <b> & c", "url": "http://x/1", "source": "wire"},
    },
}


def test_the_default_schedule_is_standard_webhooks_with_bounded_jitter() -> None:
    seconds = [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]
    assert [d.total_seconds() for d in RETRY_SCHEDULE] == seconds
    for attempt, base in enumerate(seconds, 1):
        wait = retry_delay(attempt)
        assert wait is not None and base <= wait.total_seconds() <= base * 1.1
    assert retry_delay(len(seconds) + 1) is None  # then dead


def test_retry_after_replaces_the_scheduled_wait_but_not_the_last_retry() -> None:
    assert retry_delay(2, RETRY_SCHEDULE, 2.0) == timedelta(seconds=2)
    assert retry_delay(len(RETRY_SCHEDULE) + 1, RETRY_SCHEDULE, 2.0) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), (" 120 ", 120.0), ("Wed, 25 Nov 2026 09:00:30 GMT", 30.0), ("soon", None), (None, None)],
)
def test_retry_after_reads_seconds_and_dates(header: str | None, expected: float | None) -> None:
    now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC).timestamp()
    assert parse_retry_after(header, now) == expected


def test_a_token_bucket_allows_the_burst_then_one_per_interval() -> None:
    limit = RateLimit(count=2, per=timedelta(minutes=1))
    start = datetime(2026, 11, 25, tzinfo=UTC)
    bucket = None
    taken = []
    for _ in range(3):
        ok, bucket = take(bucket, limit, start)
        taken.append(ok)
    assert taken == [True, True, False]
    assert next_token_at(bucket, limit, start) == start + timedelta(seconds=30)
    assert take(bucket, limit, start + timedelta(seconds=29))[0] is False
    assert take(bucket, limit, start + timedelta(seconds=30))[0] is True


def test_periods_start_on_the_hour_and_at_midnight_utc() -> None:
    now = datetime(2026, 11, 25, 9, 47, 12, tzinfo=UTC)
    assert period_start("hourly", now) == datetime(2026, 11, 25, 9, tzinfo=UTC)
    assert period_start("daily", now) == datetime(2026, 11, 25, tzinfo=UTC)


def test_slack_escapes_and_links() -> None:
    body = payloads.slack(EVENT)
    assert body["text"] == "[kremlin] A <b> & c"
    assert body["blocks"][1]["text"]["text"].startswith("<http://x/1|A &lt;b&gt; &amp; c>")


def test_discord_never_pings_anyone() -> None:
    body = payloads.discord(EVENT)
    assert body["allowed_mentions"] == {"parse": []}
    assert body["embeds"][0]["url"] == "http://x/1"

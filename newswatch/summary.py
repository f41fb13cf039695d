"""The line `run --once` ends with: what the run polled, stored and sent, for the person who ran it."""

from __future__ import annotations

from datetime import datetime

from core import dates
from newswatch.service import RunReport


def run_summary(report: RunReport, pending: int, last_sent: datetime | None, now: datetime) -> str:
    """One line: sources polled and failed, articles new and updated, duplicates merged, alerts sent
    and pending. A run that found nothing new says when the last alert went out, and where to look."""
    sources = len(report.outcomes)
    polled = f"{report.polled} of {sources}" if report.polled != sources else f"{sources}"
    line = (
        f"polled {polled} source{'' if sources == 1 else 's'}, {report.failed} failed;"
        f" articles: {report.new} new, {report.updated} updated, {report.merged} duplicates merged;"
        f" alerts: {report.delivery.sent} sent, {pending} pending"
    )
    if report.delivery.dead:
        line += f", {report.delivery.dead} dead"
    if report.new or report.updated or report.delivery.sent:
        return line
    if last_sent is None:
        return f"{line}. Nothing new, and no alert has gone out yet"
    went = dates.local_and_ago(last_sent, now)
    return f"{line}. Nothing new: the last alert went out {went}; see `newswatch alerts`"

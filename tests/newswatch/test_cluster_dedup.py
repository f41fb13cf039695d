"""Near-duplicates across nodes: two services on one database (two nodes of a cluster, each with its
own in-memory index) polling copies of one story at the same moment store one article and queue one
alert, with every copy a sighting of it. On PostgreSQL the store lock serialises their batches."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from core.config import Config
from core.db import AlertRow, ArticleRow, Database, SightingRow
from newswatch.service import PollOutcome, Service
from newswatch.settings import CONTEXT
from tests.conftest import HttpServer, Served

STORY = (
    "Ukrainian and Russian negotiators met in Istanbul on Tuesday for a third round of talks. "
    "Officials from both sides described the meeting as constructive but said no agreement had been "
    "reached on a ceasefire. Vladimir Putin was not present, and Volodymyr Zelenskyy said he would "
    "only meet the Russian leader once a framework deal was ready for signature. Diplomats said the "
    "next round could take place in Geneva before the end of the month if both delegations agree."
)
EDITS = (
    {},
    {"Tuesday": "Wednesday"},
    {"constructive": "useful"},
    {"Geneva": "Vienna", "month": "year"},
)


def feed(number: int) -> bytes:
    text = STORY
    for old, new in EDITS[number].items():
        text = text.replace(old, new)
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Outlet</title>'
        f"<item><guid>outlet{number}-1</guid><title>Talks in Istanbul ({number})</title>"
        f"<link>http://outlet{number}.example/talks</link><description>{text}</description>"
        "</item></channel></rss>"
    ).encode()


def test_copies_polled_on_two_nodes_at_once_are_one_article_and_one_alert(
    http_server: HttpServer, db: Database
) -> None:
    for n in range(len(EDITS)):
        http_server.routes[f"/feed{n}"] = Served(feed(n))
    http_server.routes["/warm"] = Served(
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>W</title><item><guid>w</guid>'
        b"<title>Weather</title><description>Rain is expected over the coast.</description>"
        b"</item></channel></rss>"
    )
    config = Config.model_validate(
        {
            "fetch": {"allow_private_addresses": True, "timeout": "5s"},
            "sources": [{"name": f"outlet{n}", "feed": http_server.url(f"/feed{n}")} for n in range(4)]
            + [{"name": "weather", "feed": http_server.url("/warm")}],
            "channels": [{"name": "hook", "webhook": http_server.url("/hook")}],
            "rules": [{"name": "kremlin", "people": ["Vladimir Putin"], "notify": ["hook"]}],
        },
        context=CONTEXT,
    )

    async def nodes() -> list[PollOutcome]:
        # Two nodes, each with its own index, each polling half of the outlets, all at once.
        async with Service(config, db) as one, Service(config, db) as two:
            # Both nodes are running already: each has loaded its index before the copies arrive.
            for node in (one, two):
                assert (await node.poll(config.sources[4])).ok
            polls = [(one if n % 2 == 0 else two).poll(config.sources[n]) for n in range(4)]
            return list(await asyncio.gather(*polls))

    outcomes = asyncio.run(nodes())
    assert all(o.ok for o in outcomes), outcomes
    assert sum(o.new for o in outcomes) == 1 and sum(o.merged for o in outcomes) == 3
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(ArticleRow)) == 2  # the story, the weather
        hows = sorted(session.scalars(select(SightingRow.how).where(SightingRow.source != "weather")))
        assert hows == ["first", "near", "near", "near"]
        assert session.scalar(select(func.count()).select_from(AlertRow)) == 1

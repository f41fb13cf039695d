"""`on_update`: an updated article queued again while its previous alert is being delivered."""

from __future__ import annotations

import asyncio

from alerts.outbox import listing
from core.db import Database
from newswatch.service import Service
from tests.conftest import HttpServer, Served, Workspace, one_story_rss


def test_an_update_queued_during_delivery_of_the_old_message_is_still_sent(
    workspace: Workspace, http_server: HttpServer, webhook_secret: str
) -> None:
    http_server.routes["/rss.xml"] = Served(one_story_rss("Vladimir Putin spoke."))
    workspace.write_config(
        f"""\
fetch: {{allow_private_addresses: true}}
sources: [{{name: wire, feed: "{http_server.url("/rss.xml")}"}}]
channels:
  - name: slack
    webhook: {http_server.url("/hook")}
    secret: {webhook_secret}
rules:
  - name: kremlin
    people: [Vladimir Putin]
    notify: [slack]
    on_update: true
"""
    )
    config = workspace.load_config()
    service = Service(config, Database(config.database))
    http_server.post_delay = 1.0  # the first message is still in flight when the update is stored

    async def go() -> None:
        async with service:
            await service.poll(config.sources[0])
            delivery = asyncio.create_task(service.deliver())
            while not http_server.received:
                await asyncio.sleep(0.02)
            http_server.routes["/rss.xml"] = Served(one_story_rss("Vladimir Putin spoke again, at length."))
            assert (await service.poll(config.sources[0])).alerts == 1
            await delivery

    asyncio.run(go())
    first = http_server.received[0].headers["webhook-id"]
    with service.db.session() as session:
        [alert] = listing(session)
    assert alert["message_id"] != first
    # The old message's 200 does not count for the new one: the new one is still pending, or (the
    # drain claims its next page after marking the first) it went out as a message of its own.
    if alert["status"] == "sent":
        assert [r.headers["webhook-id"] for r in http_server.received] == [first, alert["message_id"]]
    else:
        assert alert["status"] == "pending" and len(http_server.received) == 1

    http_server.post_delay = 0.0

    async def deliver() -> None:
        async with service:
            await service.deliver()

    asyncio.run(deliver())
    assert len(http_server.received) == 2
    assert http_server.received[1].headers["webhook-id"] == alert["message_id"]
    assert b"at length" in http_server.received[1].body
    with service.db.session() as session:
        assert [a["status"] for a in listing(session)] == ["sent"]

"""Webhook bodies: the Standard Webhooks JSON event, or the same event shaped for Slack, Discord or
a user's Jinja2 template. Pure functions over the event dict, so every kind of message fits each."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, StrictUndefined, TemplateError

from core.errors import DeliveryError

SLACK_BLOCKS_MAX = 50
DISCORD_EMBEDS_MAX = 10


def encode(value: Any) -> bytes:
    """Compact UTF-8 JSON, as sent on the wire."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _items(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The (rule, matched, article) entries an event carries: one for an alert, many for a digest."""
    data = event.get("data", {})
    if event.get("type") == "article.digest":
        return list(data.get("alerts", []))
    if "article" in data:
        return [data]
    return []


def summary(event: dict[str, Any]) -> str:
    """One line saying what the event is."""
    items = _items(event)
    if event.get("type") == "article.digest":
        return f"Newswatch digest: {len(items)} alerts"
    if items:
        return f"[{items[0]['rule']}] {items[0]['article']['title']}"
    return str(event.get("data", {}).get("message", "Newswatch test event"))


def _found(item: dict[str, Any]) -> str:
    return ", ".join(sorted({str(hit["surface"]) for hit in item.get("matched", [])}))


def _escape_mrkdwn(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack(event: dict[str, Any]) -> dict[str, Any]:
    """A Slack (or Mattermost) incoming-webhook message: `text` for notifications, blocks to read."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{_escape_mrkdwn(summary(event))}*"}}
    ]
    for item in _items(event)[: SLACK_BLOCKS_MAX - 1]:
        article = item["article"]
        title = _escape_mrkdwn(str(article["title"]))
        link = f"<{article['url']}|{title}>" if article.get("url") else title
        text = f"{link}\n_{_escape_mrkdwn(str(article['source']))}_ · rule *{item['rule']}*"
        if found := _found(item):
            text += f" · {_escape_mrkdwn(found)}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    return {"text": summary(event), "blocks": blocks}


def discord(event: dict[str, Any]) -> dict[str, Any]:
    """A Discord webhook message: `content` plus one embed per article (Discord allows ten)."""
    embeds = []
    for item in _items(event)[:DISCORD_EMBEDS_MAX]:
        article = item["article"]
        embed: dict[str, Any] = {
            "title": str(article["title"])[:256],
            "description": f"{article['source']} · rule {item['rule']} · {_found(item)}"[:4096],
        }
        if article.get("url"):
            embed["url"] = article["url"]
        embeds.append(embed)
    return {"content": summary(event)[:2000], "embeds": embeds, "allowed_mentions": {"parse": []}}


_environment = Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def render_template(path: Path, event: dict[str, Any]) -> bytes:
    """The user's Jinja2 template rendered with `event`, `type`, `data` and `items` (a list)."""
    try:
        template = _environment.from_string(path.read_text(encoding="utf-8"))
        text = template.render(
            event=event, type=event.get("type"), data=event.get("data"), items=_items(event)
        )
    except (OSError, UnicodeDecodeError, TemplateError) as exc:
        raise DeliveryError(f"template {path.name}: {type(exc).__name__}: {exc}", retryable=False) from None
    return text.encode()


def body(event: dict[str, Any], fmt: str, template: Path | None = None) -> bytes:
    """The request body for `event` in the channel's format."""
    if fmt == "slack":
        return encode(slack(event))
    if fmt == "discord":
        return encode(discord(event))
    if fmt == "template":
        assert template is not None
        return render_template(template, event)
    return encode(event)

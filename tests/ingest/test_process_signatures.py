"""The CPU stage signs a poll's items in one bulk call: the same signatures as one at a time."""

from __future__ import annotations

from ingest.dedup import fingerprint, signature
from ingest.models import ContentKind, RawItem
from ingest.process import Job, process

LONG = (
    "Officials in Lisbon said on Tuesday that 214 residents had been evacuated after the river burst"
    " its banks, and that the flood defences would be reviewed by the end of March."
)


def test_a_poll_is_signed_in_bulk_as_one_at_a_time() -> None:
    items = tuple(
        RawItem("desk", f"item-{i}", f"<p>{text}</p>", ContentKind.HTML, title=f"T{i}")
        for i, text in enumerate([LONG, "Too short to sign.", LONG.replace("Lisbon", "Porto")])
    )
    done = process(Job("desk", items=items))
    assert [p.article.key for p in done.fresh] == ["item-0", "item-1", "item-2"]
    for prepared in done.fresh:
        article = prepared.article
        assert prepared.signature == signature(article.text)
        assert prepared.text_hash == fingerprint(article.title, article.text)
    assert done.fresh[1].signature is None and done.fresh[0].signature is not None

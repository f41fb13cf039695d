"""Storage of articles, their sightings, and each source's poll state.

Each cleaned article is looked up at three levels before it becomes a new article: identity (the
same source item, or the same canonical link), exact content (the same normalised text), and
near-duplicate content (MinHash + LSH). A match on any level is recorded as a sighting of the
existing article, so the outbox key (rule, article, channel) keeps alerts at one per story.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import numpy as np
from sqlalchemy import JSON, ColumnElement, and_, false, func, insert, select, text, update
from sqlalchemy.orm import Session

from core.db import ArticleRow, SightingRow, SourceHealth, SourceState, utcnow
from ingest.dedup import (
    EMPTY,
    NUM_PERM,
    Decision,
    NearDuplicateIndex,
    confirm,
    fingerprint,
    longer_of,
    prime,
    signature,
    signatures,
)
from ingest.models import Article
from ingest.process import Prepared

FIRST, LINK, EXACT, NEAR = "first", "link", "exact", "near"
_T = TypeVar("_T")


@dataclass(frozen=True)
class Stored:
    """An article that was new, changed or seen again in this poll, with its database id.

    `merged` says the item was a duplicate of an article already stored (a new sighting of it).
    """

    id: int
    article: Article
    is_new: bool
    merged: bool = False
    how: str = FIRST


def store_articles(
    session: Session,
    articles: Iterable[Article],
    now: datetime,
    index: NearDuplicateIndex | None = None,
) -> list[Stored]:
    """Store cleaned articles of one or more sources (a convenience over `store_batch` for callers
    that did not go through the CPU stage): fingerprints and signatures are computed here."""
    by_source: dict[str, list[Prepared]] = {}
    for article in articles:
        prepared = Prepared(article, "", fingerprint(article.title, article.text), signature(article.text))
        by_source.setdefault(article.source, []).append(prepared)
    stored: list[Stored] = []
    for source, items in by_source.items():
        stored.extend(store_batch(session, source, items, now, index))
    return stored


def store_batch(
    session: Session,
    source: str,
    items: Sequence[Prepared],
    now: datetime,
    index: NearDuplicateIndex | None = None,
) -> list[Stored]:
    """Store one source's new and changed items in bulk: new articles, updates of changed ones, and
    duplicates recorded as sightings of the stored article. Unchanged items are left alone and not
    returned. `index` enables near-duplicate merging, and is kept current.

    Each dedup level is one query for the whole batch (identity, link, exact text); the near level is
    the in-memory LSH index. The decisions are then made in feed order, in memory, exactly as storing
    the items one at a time would make them (tests/ingest/reference_store.py is that slow path, and
    tests/ingest/test_store_batch.py holds the two to the same results), and the rows go in with a
    few bulk statements. Nothing is committed here: the caller's transaction holds the batch."""
    batch = _Batch(session, source, items, now, index)
    try:
        for item in items:
            batch.decide(item)
        return batch.write()
    except BaseException:
        if index is not None:  # the batch's provisional entries must not outlive it
            for art in batch.provisional.values():
                index.remove(-art.seq)
                if art.id is not None:
                    index.remove(art.id)
        raise


@dataclass(eq=False)
class _Art:
    """An article the batch refers to: a stored row (`id`) or one this batch creates (`seq`)."""

    id: int | None
    seq: int
    source: str
    item_key: str
    content_hash: str
    text_hash: str | None
    first_seen_at: datetime
    published_at: datetime | None
    fill: Prepared | None = None  # new content to write (a new article, or a changed one)
    longer: Prepared | None = None  # a copy containing this article, whose longer text replaces its text

    @property
    def rank(self) -> tuple[int, int]:
        """Stored rows in id order, then the batch's new articles in the order they were made."""
        return (0, self.id) if self.id is not None else (1, self.seq)

    @property
    def index_id(self) -> int:
        """The id in the LSH index: the row id, or a provisional negative one until the insert (ties
        between candidates are broken by `rank`, not by this id)."""
        return self.id if self.id is not None else -self.seq


@dataclass(eq=False)
class _Sight:
    """A sighting the batch refers to: a stored row (`id`) or one this batch creates (`seq`)."""

    id: int | None
    seq: int
    art: _Art
    url: str | None
    how: str = FIRST
    similarity: float | None = None
    raw_hash: str | None = None
    touched: bool = False
    containment: float | None = None
    checked: str | None = None

    @property
    def rank(self) -> tuple[int, int]:
        return (0, self.id) if self.id is not None else (1, self.seq)


class _Batch:
    """The state of one `store_batch` call: what the database held, and what the batch decided."""

    def __init__(
        self,
        session: Session,
        source: str,
        items: Sequence[Prepared],
        now: datetime,
        index: NearDuplicateIndex | None,
    ) -> None:
        self.session, self.source, self.now, self.index = session, source, now, index
        self.seq = 0
        self.stored: list[tuple[_Art, Article, bool, bool, str]] = []
        self.sights: dict[str, _Sight] = {}  # item key -> this source's sighting
        self.new_sights: list[_Sight] = []
        self.by_url: dict[str, dict[_Sight, tuple[int, int]]] = {}
        self.by_text: dict[str, dict[_Art, tuple[int, int]]] = {}
        self.arts: dict[int, _Art] = {}  # stored rows by id
        self.provisional: dict[int, _Art] = {}  # the batch's new articles by seq
        # The near level: each item's candidates, looked up for the whole batch at once, and what
        # the index holds since: stored rows re-indexed in this batch (their lookups are stale), and
        # which item's signature stands for which article (`within` found the pairs among items).
        self.position = -1
        self.from_index: list[list[tuple[int, float]]] = [[] for _ in items]
        self.from_batch: list[list[tuple[int, float]]] = [[] for _ in items]
        self.texts: dict[int, tuple[str, str]] = {}  # stored candidates' (text, title) by id
        self.moved: set[int] = set()
        self.stands: dict[int, _Art] = {}  # item position -> the article its signature stands for
        self.entry: dict[_Art, int] = {}  # article -> the item position whose signature stands for it
        self._load(items)
        self._load_near(items)

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def _art(self, row: Any) -> _Art:
        art = self.arts.get(row.id)
        if art is None:
            art = _Art(
                row.id, 0, row.source, row.item_key, row.content_hash, row.text_hash,
                row.first_seen_at, row.published_at,
            )  # fmt: skip
            self.arts[row.id] = art
        return art

    def _load(self, items: Sequence[Prepared]) -> None:
        """One query per dedup level for the whole batch: this source's sightings of the batch's keys,
        the sightings of its links, and the articles with its text fingerprints."""
        keys = list(dict.fromkeys(item.article.key for item in items))
        sighted = (
            SightingRow.id.label("sid"),
            SightingRow.item_key.label("key"),
            SightingRow.url.label("at"),
        )
        for part in _chunks(keys):
            of_keys = (
                select(*sighted, *_ART_COLUMNS)
                .join(ArticleRow, ArticleRow.id == SightingRow.article_id)
                .where(SightingRow.source == self.source, SightingRow.item_key.in_(part))
            )
            for row in self.session.execute(of_keys):
                sight = _Sight(row.sid, 0, self._art(row), row.at)
                self.sights[row.key] = sight
                self._index_url(sight)
        urls = list(
            dict.fromkeys(i.article.url for i in items if i.article.url and is_story_link(i.article.url))
        )
        for part in _chunks(urls):
            of_links = (
                select(*sighted, *_ART_COLUMNS)
                .join(ArticleRow, ArticleRow.id == SightingRow.article_id)
                .where(SightingRow.url.in_(part))
            )
            for row in self.session.execute(of_links):
                if not any(s.id == row.sid for s in self.by_url.get(row.at, {})):
                    self._index_url(_Sight(row.sid, 0, self._art(row), row.at))
        hashes = list(dict.fromkeys(item.text_hash for item in items))
        for part in _chunks(hashes):
            same_text = select(*_ART_COLUMNS).where(ArticleRow.text_hash.in_(part))
            for article in self.session.execute(same_text):
                self._index_text(self._art(article))
        for art in self.arts.values():  # rows reached by a key or a link but not by their text
            self._index_text(art)

    def _load_near(self, items: Sequence[Prepared]) -> None:
        """The near level's lookups for the whole batch, and the text of every stored candidate."""
        if self.index is None or not items:
            return
        sigs = np.full((len(items), NUM_PERM), EMPTY, dtype=np.uint32)
        for position, item in enumerate(items):
            if item.signature is not None:
                sigs[position] = item.signature
        self.from_index = self.index.query_many(sigs, self.now)
        self.from_batch = self.index.within(sigs)
        wanted = sorted({article for found in self.from_index for article, _ in found})
        for part in _chunks(wanted):
            query = select(*_ART_COLUMNS, ArticleRow.text, ArticleRow.title).where(ArticleRow.id.in_(part))
            for row in self.session.execute(query):
                self._art(row)
                self.texts[row.id] = (row.text, row.title)
        # Shingled in bulk for the checks: the batch's texts and the candidates'.
        asked = {i for i, found in enumerate(self.from_index) if found}
        asked |= {i for i, found in enumerate(self.from_batch) if found}
        asked |= {earlier for found in self.from_batch for earlier, _ in found}
        prime([items[i].article.text for i in sorted(asked)] + [text for text, _ in self.texts.values()])

    def _index_url(self, sight: _Sight) -> None:
        if sight.url is not None:
            self.by_url.setdefault(sight.url, {})[sight] = sight.rank

    def _index_text(self, art: _Art) -> None:
        if art.text_hash is not None:
            self.by_text.setdefault(art.text_hash, {})[art] = art.rank

    def decide(self, item: Prepared) -> None:
        self.position += 1
        article = item.article
        sight = self.sights.get(article.key)
        if sight is not None:
            sight.touched, sight.raw_hash = True, item.raw_hash or sight.raw_hash
            if article.url and article.url != sight.url:
                if sight.url is not None:
                    self.by_url.get(sight.url, {}).pop(sight, None)
                sight.url = article.url
                self._index_url(sight)
            art = sight.art
            owns = art.source == article.source and art.item_key == article.key
            if not owns or art.content_hash == article.content_hash:
                return  # a duplicate seen again, or an unchanged item: nothing to do
            self._refill(art, item)
            self.stored.append((art, article, False, False, FIRST))
            return
        match = self._duplicate(item)
        if match is not None:
            art, how, score, decision = match
            self._sight(art, item, how, score, decision)
            self.stored.append((art, article, False, True, how))
            return
        art = _Art(
            None, self._next(), article.source, article.key, article.content_hash, None,
            self.now, None,
        )  # fmt: skip
        self.provisional[art.seq] = art
        self._refill(art, item)
        self._sight(art, item, FIRST, None)
        self.stored.append((art, article, True, False, FIRST))

    def _sight(
        self, art: _Art, item: Prepared, how: str, similarity: float | None, decision: Decision | None = None
    ) -> None:
        sight = _Sight(None, self._next(), art, item.article.url, how, similarity, item.raw_hash or None)
        if decision is not None:
            sight.containment, sight.checked = decision.containment, decision.check
        self.sights[item.article.key] = sight
        self.new_sights.append(sight)
        self._index_url(sight)

    def _refill(self, art: _Art, item: Prepared) -> None:
        if art.text_hash is not None:
            self.by_text.get(art.text_hash, {}).pop(art, None)
        art.fill, art.content_hash, art.text_hash = item, item.article.content_hash, item.text_hash
        art.longer = None
        self._index_text(art)
        self._reindex(art, item)

    def _reindex(self, art: _Art, item: Prepared) -> None:
        """Index `art` under `item`'s signature (this batch's item at `position`)."""
        if self.index is None:
            return
        if art.id is not None:
            self.moved.add(art.id)
        before = self.entry.pop(art, None)
        if before is not None:
            del self.stands[before]
        if item.signature is None:
            self.index.remove(art.index_id)
        else:
            self.index.add(art.index_id, item.signature, art.first_seen_at)
            self.entry[art], self.stands[self.position] = self.position, art

    def _duplicate(self, item: Prepared) -> tuple[_Art, str, float | None, Decision | None] | None:
        article = item.article
        if is_story_link(article.url):
            assert article.url is not None
            seen = self.by_url.get(article.url)
            if seen:
                return min(seen.items(), key=lambda pair: pair[1])[0].art, LINK, None, None
        same = self.by_text.get(item.text_hash)
        if same:
            return min(same.items(), key=lambda pair: pair[1])[0], EXACT, 1.0, None
        if self.index is None or item.signature is None:
            return None
        return self._near(item)

    def _near(self, item: Prepared) -> tuple[_Art, str, float | None, Decision | None] | None:
        """Candidates by estimate, then rank (stored ids, then the batch's new articles); the first
        that `confirm` finds to be the same story wins."""
        assert self.index is not None
        ranked: list[tuple[float, tuple[int, int], _Art]] = []
        for article_id, estimate in self.from_index[self.position]:
            if article_id in self.moved:
                continue  # re-indexed in this batch: found through `stands` if at all
            if article_id not in self.texts:
                self.index.remove(article_id)  # indexed in a transaction that was rolled back
                continue
            art = self.arts[article_id]
            ranked.append((-estimate, art.rank, art))
        for earlier, estimate in self.from_batch[self.position]:
            standing = self.stands.get(earlier)
            if standing is not None:
                ranked.append((-estimate, standing.rank, standing))
        ranked.sort(key=lambda entry: entry[:2])
        article = item.article
        for _estimate, _rank, art in ranked:
            text, title = self._text(art)
            decision = confirm(text, title, article.text, article.title, self.index.rules)
            if not decision.same:
                continue
            if longer_of(text, article.text, decision, self.index.rules):
                art.longer = item
                if art.text_hash is not None:
                    self.by_text.get(art.text_hash, {}).pop(art, None)
                art.text_hash = item.text_hash
                self._index_text(art)
                self._reindex(art, item)
            return art, NEAR, decision.similarity, decision
        return None

    def _text(self, art: _Art) -> tuple[str, str]:
        """An article's latest (text, title) in this batch."""
        longer = art.longer
        if art.fill is not None:
            title = art.fill.article.title
            return (longer.article.text if longer is not None else art.fill.article.text), title
        text, title = self.texts[art.id] if art.id is not None else ("", "")
        return (longer.article.text if longer is not None else text), title

    def write(self) -> list[Stored]:
        """The bulk statements: new articles (ids back in order), changed ones, and sightings."""
        new = [art for art in self.provisional.values()]
        if new:
            rows = [{**_columns(art, self.now), "source": art.source, "item_key": art.item_key,
                     "first_seen_at": art.first_seen_at} for art in new]  # fmt: skip
            statement = insert(ArticleRow).returning(ArticleRow.id, sort_by_parameter_order=True)
            ids = self.session.execute(statement, rows).scalars().all()
            for art, article_id in zip(new, ids, strict=True):
                art.id = article_id
                indexed = art.longer or art.fill
                if self.index is not None and indexed is not None and indexed.signature is not None:
                    self.index.remove(-art.seq)
                    self.index.add(article_id, indexed.signature, art.first_seen_at)
        changed = [{"id": art.id, **_columns(art, self.now)} for art in self.arts.values() if art.fill]
        if changed:
            self.session.execute(update(ArticleRow), changed)
        lengthened = [
            {"id": art.id, **_longer_columns(art.longer, self.now)}
            for art in self.arts.values()
            if art.longer is not None and art.fill is None
        ]
        if lengthened:
            self.session.execute(update(ArticleRow), lengthened)
        touched = [
            {"id": s.id, "url": s.url, "raw_hash": s.raw_hash, "last_seen_at": self.now}
            for s in self.sights.values()
            if s.id is not None and s.touched
        ]
        if touched:
            self.session.execute(update(SightingRow), touched)
        if self.new_sights:
            rows = [
                {
                    "article_id": s.art.id, "source": self.source, "item_key": key, "url": s.url,
                    "how": s.how, "similarity": s.similarity, "raw_hash": s.raw_hash,
                    "containment": s.containment, "checked": s.checked,
                    "first_seen_at": self.now, "last_seen_at": self.now,
                }
                for key, s in self.sights.items()
                if s.id is None
            ]  # fmt: skip
            self.session.execute(insert(SightingRow), rows)
        result = []
        for art, article, is_new, merged, how in self.stored:
            assert art.id is not None
            result.append(Stored(art.id, article, is_new=is_new, merged=merged, how=how))
        return result


# What the batch needs of a stored article to decide about it (not its text).
_ART_COLUMNS = (
    ArticleRow.id, ArticleRow.source, ArticleRow.item_key, ArticleRow.content_hash,
    ArticleRow.text_hash, ArticleRow.first_seen_at, ArticleRow.published_at,
)  # fmt: skip


def _columns(art: _Art, now: datetime) -> dict[str, Any]:
    """The content columns of an article row from the batch's latest version of it."""
    assert art.fill is not None
    article = art.fill.article
    sig = art.fill.signature
    columns = {
        "url": article.url,
        "title": article.title,
        "text": article.text,
        "summary": article.summary,
        "topics": list(article.topics),
        "html": article.html,
        "language": article.language,
        "text_source": article.text_source,
        "page_error": article.page_error,
        "author": article.author,
        "published_at": article.published_at or art.published_at or now,
        "updated_at": now,
        "content_hash": article.content_hash,
        "text_hash": art.fill.text_hash,
        "signature": list(sig) if sig is not None else None,
    }
    if art.longer is not None:
        columns.update(_longer_columns(art.longer, now))
    return columns


def _longer_columns(item: Prepared, now: datetime) -> dict[str, Any]:
    """The columns a longer copy replaces: the text, and what is computed from it."""
    sig = item.signature
    return {
        "text": item.article.text,
        "text_source": item.article.text_source,
        "text_hash": item.text_hash,
        "signature": list(sig) if sig is not None else None,
        "updated_at": now,
    }


def is_story_link(url: str | None) -> bool:
    """A bare home-page link says nothing about which story it is (some feeds link every item there)."""
    return url is not None and urlsplit(url).path not in ("", "/")


def _chunks(values: Sequence[_T], size: int = 500) -> Iterator[Sequence[_T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


# The PostgreSQL advisory lock that serialises the store stage across a cluster's nodes.
STORE_LOCK = 0x4E57_5354  # "NWST"


def lock_store(session: Session) -> None:
    """On PostgreSQL, take the cluster-wide store lock for this transaction (released at its end).

    Several nodes storing at once would each miss the near-duplicates the others are storing: with
    the lock, a batch's dedup sees every article committed before it, and `refresh_index` brings
    this node's index up to date with them. Fetching, parsing, cleaning and signatures stay
    parallel; only the short batched store waits. On SQLite, a write that changes nothing takes the
    database's write lock now, before the batch reads, for the same reason (two services on one file)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": STORE_LOCK})
    elif dialect == "sqlite":
        session.execute(update(SourceState).where(false()).values(failures=SourceState.failures))


def refresh_index(session: Session, index: NearDuplicateIndex, after: int, now: datetime) -> int:
    """Add to `index` the articles other nodes (or processes) stored since article id `after`, within
    the window; return the new high-water id. Ids only grow while the store lock is held, so no row
    committed under it is missed. (A copy whose text another node changed keeps its old signature
    here until this node restarts: updates are rare and the exact and link levels are SQL.)"""
    query = select(ArticleRow.id, ArticleRow.signature, ArticleRow.first_seen_at).where(
        ArticleRow.id > after, ArticleRow.first_seen_at >= now - index.window
    )
    high = after
    for article_id, sig, seen_at in session.execute(query.order_by(ArticleRow.id)):
        high = max(high, article_id)
        if sig is not None and article_id not in index:
            index.add(article_id, sig, seen_at)
    if high == after:  # nothing new in the window: still move past rows outside it
        newest = session.scalar(select(func.max(ArticleRow.id)))
        high = max(after, newest or 0)
    return high


def load_index(session: Session, index: NearDuplicateIndex, now: datetime) -> NearDuplicateIndex:
    """Fill `index` from the signatures of articles first seen within its window (at start);
    articles stored before signatures existed get theirs computed and saved here."""
    since = ArticleRow.first_seen_at >= now - index.window
    # SQL NULL (not JSON null, a text too short to sign): stored before signatures, or by a version
    # whose signatures compare with nothing now (migration 0011).
    legacy = select(ArticleRow).where(since, ArticleRow.text_hash.is_(None) | ArticleRow.signature.is_(None))
    rows = list(session.scalars(legacy.execution_options(yield_per=500)))
    for start in range(0, len(rows), 500):
        part = rows[start : start + 500]
        for row, sig in zip(part, signatures([row.text for row in part]), strict=True):
            row.text_hash = row.text_hash or fingerprint(row.title, row.text)
            # JSON null, not SQL NULL: a short text is not signed again at every start.
            row.signature = sig.tolist() if (sig != EMPTY).any() else JSON.NULL  # type: ignore[assignment]
    session.flush()
    # Only the three columns the index needs, streamed: not every article's text at once.
    query = select(ArticleRow.id, ArticleRow.signature, ArticleRow.first_seen_at).where(
        since, ArticleRow.signature.is_not(None)
    )
    for article_id, sig, seen_at in session.execute(query.execution_options(yield_per=1000)):
        if sig is not None:  # a JSON null is not SQL NULL on every backend
            index.add(article_id, sig, seen_at)
    return index


def seen_again(session: Session, source: str, keys: Iterable[str], now: datetime) -> None:
    """Record that `source` still carries these items (found unchanged, so not stored again): their
    sightings' `last_seen_at` is what retention keeps an article by."""
    for of_items in _sightings_of(source, list(keys)):
        session.execute(
            update(SightingRow)
            .where(of_items)
            .values(last_seen_at=now)
            .execution_options(synchronize_session=False)
        )


def _sightings_of(source: str, keys: Sequence[str]) -> Iterator[ColumnElement[bool]]:
    """Conditions that pick `source`'s sightings of `keys`, each with at most 500 keys in its IN list."""
    for start in range(0, len(keys), 500):
        yield and_(SightingRow.source == source, SightingRow.item_key.in_(keys[start : start + 500]))


def recent_articles(session: Session, limit: int) -> list[ArticleRow]:
    """The newest stored articles, newest first."""
    query = select(ArticleRow).order_by(ArticleRow.published_at.desc(), ArticleRow.id.desc())
    return list(session.scalars(query.limit(limit)))


def article_dict(row: ArticleRow) -> dict[str, Any]:
    """The public JSON shape of an article (`articles --json` and the webhook payload)."""
    return {
        "id": row.id,
        "title": row.title,
        "url": row.url,
        "source": row.source,
        "published_at": row.published_at.isoformat(),
        "first_seen_at": row.first_seen_at.isoformat(),
        "topics": list(row.topics),
        "summary": row.summary,
        "text": row.text,
        "html": row.html,
        "language": row.language,
        "text_source": row.text_source,
        "page_error": row.page_error,
        "author": row.author,
        "sources": [
            {
                "source": s.source,
                "url": s.url,
                "seen_at": s.first_seen_at.isoformat(),
                "how": s.how,
                **({"similarity": s.similarity} if s.similarity is not None else {}),
                **({"containment": s.containment} if s.containment is not None else {}),
                **({"check": s.checked} if s.checked is not None else {}),
            }
            for s in row.sightings
        ],
    }


def source_state(session: Session, name: str, location: str, now: datetime | None = None) -> SourceState:
    """The stored state of a source, created on first use.

    Backoff and health belong to where a source reads from, not only to its name: when its `feed:`
    or `directory:` changes, its failures, retry window, validators, moves and 410 mark are dropped,
    and its health is tracked afresh from now (an open unhealthy flag stays, so `recovered` follows)."""
    state = session.get(SourceState, name)
    if state is None:
        state = SourceState(name=name, location=location, failures=0, articles_seen=0)
        session.add(state)
    elif state.location != location:
        state.failures = 0
        state.retry_not_before = None
        state.next_poll_at = None
        state.disabled = False
        state.etag = state.last_modified = state.current_url = None
        state.last_error = None
        state.last_status = None
        state.http_status = None
        state.last_success_at = None
        health = session.get(SourceHealth, name)
        if health is not None:
            health.tracked_since = now or utcnow()
    state.location = location
    return state

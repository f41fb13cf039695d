"""The schema, the one engine/session factory, and schema upgrades through Alembic."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    text,
)
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker
from sqlalchemy.types import TypeDecorator

from core.config import NAME_MAX_LENGTH
from core.errors import ConfigError

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 0x6E776D696772  # the PostgreSQL advisory lock key held while migrating


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


# What no backend stores: NUL (PostgreSQL text cannot hold it; SQLite can, so the backends would
# differ) and lone surrogates (no UTF-8 exists for one: both drivers raise UnicodeEncodeError).


def error_reason(exc: SQLAlchemyError) -> str:
    """The database's own message for `exc` (its driver's error), on one line: psycopg's span several."""
    return " ".join(str(getattr(exc, "orig", None) or exc).split())


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use timezone-aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}  # noqa: RUF012


class SourceState(Base):
    """What Newswatch remembers about each source between polls."""

    __tablename__ = "sources"

    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH), primary_key=True)
    location: Mapped[str] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    last_polled_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_status: Mapped[str | None] = mapped_column(String(40))
    last_error: Mapped[str | None] = mapped_column(Text)
    next_poll_at: Mapped[datetime | None]
    failures: Mapped[int] = mapped_column(Integer, default=0)
    articles_seen: Mapped[int] = mapped_column(Integer, default=0)
    feed_url: Mapped[str | None] = mapped_column(Text)  # the configured URL the fields below apply to
    current_url: Mapped[str | None] = mapped_column(Text)  # where a 301/308 moved it
    http_status: Mapped[int | None] = mapped_column(Integer)
    retry_not_before: Mapped[datetime | None]  # Retry-After or backoff: no poll before this
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)  # 410 Gone
    # The last poll that read the feed's items (not a 304, not a failure): the sightings last seen
    # then are the items the feed still carries, which retention never prunes.
    items_read_at: Mapped[datetime | None]


class ArticleRow(Base):
    """One stored article; (source, item_key) is the identity of the item it came from.

    Its title and text are indexed for search outside the model (migration 0015, ingest/search.py):
    on SQLite the FTS5 table `articles_fts`, on PostgreSQL the table `article_search`, both kept in
    step by triggers on this table. A migration that rebuilds this table on SQLite (batch mode)
    drops those triggers and must create them again."""

    __tablename__ = "articles"
    __table_args__ = (
        UniqueConstraint("source", "item_key", name="uq_articles_source_item"),
        Index("ix_articles_published_at", "published_at"),
        Index("ix_articles_first_seen_at", "first_seen_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    item_key: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text, default="")
    topics: Mapped[list[Any]] = mapped_column(JSON, default=list)
    published_at: Mapped[datetime]
    first_seen_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    content_hash: Mapped[str] = mapped_column(String(64))
    # Dedup: a fingerprint of the normalised text (exact level) and a MinHash signature (near level).
    text_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    signature: Mapped[list[Any] | None] = mapped_column(JSON)
    html: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str | None] = mapped_column(String(16))
    # Where `text` came from: the feed item (`feed`) or its linked page (`page`, full_text), and why
    # a page that was wanted was not used (robots.txt, a refused address, too large, ...).
    text_source: Mapped[str] = mapped_column(String(10), default="feed", server_default="feed")
    page_error: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(Text)  # from the page's metadata
    sightings: Mapped[list[SightingRow]] = relationship(
        back_populates="article", lazy="selectin", order_by="SightingRow.id", passive_deletes=True
    )


class SightingRow(Base):
    """One source item seen as (part of) an article: the first one, and every merged duplicate."""

    __tablename__ = "sightings"
    __table_args__ = (
        UniqueConstraint("source", "item_key", name="uq_sightings_source_item"),
        Index("ix_sightings_url", "url"),
        Index("ix_sightings_article_id", "article_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    item_key: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    how: Mapped[str] = mapped_column(String(20))  # first, link, exact or near: why it joined the article
    similarity: Mapped[float | None] = mapped_column(Float)  # exact shingle Jaccard (near, exact)
    # Near duplicates: the share of the shorter text's shingles found in the other, and the check
    # that confirmed the merge (jaccard, containment or spread; see ingest.dedup.confirm).
    containment: Mapped[float | None] = mapped_column(Float)
    checked: Mapped[str | None] = mapped_column(String(20))
    # The item exactly as its source last gave it (ingest.store.raw_hash): unchanged -> not cleaned again.
    raw_hash: Mapped[str | None] = mapped_column(String(64))
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    article: Mapped[ArticleRow] = relationship(back_populates="sightings")


class AlertRow(Base):
    """The outbox: one row per (rule, article, channel), written with the match, drained by delivery."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("rule", "article_id", "channel", name="uq_alerts_rule_article_channel"),
        Index("ix_alerts_status_due", "status", "next_attempt_at"),
        Index("ix_alerts_status_sent", "status", "sent_at"),
        Index("ix_alerts_article_id", "article_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message_id: Mapped[str] = mapped_column(String(100))
    matched: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # The digest this alert waits for (e.g. "channel:hourly:2026-11-25T04:00"), or None: sent alone.
    batch: Mapped[str | None] = mapped_column(String(300))
    # The drain sending this alert now (alerts/delivery.py), and until when its claim holds: a drain
    # that dies leaves the claim to lapse, and the alert goes back to every drain.
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_until: Mapped[datetime | None]
    # For a channel with several targets (apprise URLs): those that took the current message, shown
    # masked (core/apprise_url.py); a retry goes only to the others. None: none yet.
    delivered_to: Mapped[list[str] | None] = mapped_column(JSON)


class PollRow(Base):
    """One poll of one source, for the status page: its outcome and error. Only the newest
    `POLLS_KEPT` of each source are kept (newswatch/pipeline.py trims them as it writes)."""

    __tablename__ = "polls"
    __table_args__ = (Index("ix_polls_source_id", "source", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    started_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(40))  # ok, not modified, error, gone
    http_status: Mapped[int | None] = mapped_column(Integer)
    new_articles: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class DeliveryAttemptRow(Base):
    """One attempt to deliver an alert, written with its outcome (alerts/outbox.py); deleted with it."""

    __tablename__ = "delivery_attempts"
    __table_args__ = (Index("ix_delivery_attempts_alert_id", "alert_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(20))  # sent, failed, dead
    error: Mapped[str | None] = mapped_column(Text)


class NodeRow(Base):
    """A node of a distributed cluster (`run --distributed`, `worker`) and its last heartbeat."""

    __tablename__ = "nodes"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    role: Mapped[str] = mapped_column(String(40))  # scheduler, worker
    queues: Mapped[str] = mapped_column(String(200))
    http: Mapped[str | None] = mapped_column(String(200))  # where it serves /healthz, if it does
    started_at: Mapped[datetime]
    last_heartbeat: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(40))  # running, standby, stopped


class ChannelStateRow(Base):
    """What delivery remembers per channel: disabled after a 410, and its rate-limit bucket."""

    __tablename__ = "channel_state"

    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH), primary_key=True)
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    tokens: Mapped[float | None]
    tokens_at: Mapped[datetime | None]


class WebSubRow(Base):
    """A WebSub subscription (newswatch/websub.py): one per source and hub topic, found by the
    unguessable `token` that ends its callback URL. `pending` is what was asked of the hub and not
    yet verified: the callback confirms a verification of intent only for that."""

    __tablename__ = "websub_subscriptions"
    __table_args__ = (Index("ix_websub_source", "source"),)

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    hub: Mapped[str] = mapped_column(Text)
    topic: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(200))  # hub.secret: the HMAC key of the pushes
    # requested, subscribed, failed, denied, expired, unsubscribing
    state: Mapped[str] = mapped_column(String(20))
    pending: Mapped[str | None] = mapped_column(String(20))  # subscribe, unsubscribe
    requested_at: Mapped[datetime | None]
    verified_at: Mapped[datetime | None]
    lease_seconds: Mapped[int | None] = mapped_column(Integer)  # as the hub granted it
    expires_at: Mapped[datetime | None]
    renew_at: Mapped[datetime | None]
    failures: Mapped[int] = mapped_column(Integer, default=0)
    retry_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    pushes: Mapped[int] = mapped_column(Integer, default=0)
    last_push_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


def normalize_url(url: str) -> str:
    """Send plain `postgresql://` (and `postgres://`) URLs to psycopg 3, the driver we ship."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


class SourceHealth(Base):
    """Feed health per source: since when it is tracked and whether it is flagged unhealthy."""

    __tablename__ = "source_health"

    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH), primary_key=True)
    tracked_since: Mapped[datetime]
    unhealthy_since: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)


def make_engine(url: str) -> Engine:
    """The engine for `url`; SQLite gets WAL, foreign keys and a busy timeout."""
    url = normalize_url(url)
    options: dict[str, Any] = {"pool_pre_ping": True} if url.startswith("postgresql") else {}
    try:
        engine = create_engine(url, future=True, **options)
    except (ArgumentError, ImportError) as exc:
        raise ConfigError(f"database: cannot use {url!r}: {exc}") from None
    except ValueError as exc:  # a URL SQLAlchemy cannot take apart (`x://::::`); it may hold a password
        raise ConfigError(f"database: the URL cannot be read: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # NORMAL under WAL syncs at checkpoints, not at every commit: a power cut can lose the last
    # transactions, never corrupt the file. That is safe here because a poll's articles, raw hashes,
    # matches, outbox rows and source state (its validators) commit together: a lost transaction
    # leaves the source as it was before that poll, so the next poll reads the feed again and stores
    # the same items, exactly once. A lost "sent" mark re-sends an alert with the same webhook-id,
    # which receivers deduplicate (Standard Webhooks).
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (safe to run on every start)."""
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Nodes starting together must not race to create the same tables.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
    except OperationalError as exc:
        raise ConfigError(f"database: cannot open {engine.url!r}: {error_reason(exc)}") from None


class Database:
    """An upgraded database and its session factory: the one way into storage."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(url)
        upgrade(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with self._sessions.begin() as session:
            yield session

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()

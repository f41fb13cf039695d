"""Full-text search: an index over every article's title and text, kept in step by triggers, and
built here for the articles stored before it (in batches, with a progress bar on a terminal).

SQLite: `articles_fts`, an FTS5 external-content table over articles (tokenizer `unicode61
remove_diacritics 2`), with triggers on insert, update and delete. They index the title and text
with the letters of FOLDS folded (what unaccent folds on PostgreSQL and unicode61 does not), and
only letters become letters, so a snippet's word positions stay those of the stored text.
PostgreSQL: the text search configuration `newswatch_search` (`simple`, with `unaccent` when the
extension can be created; hyphenated compounds are left out and punctuation is read as a space, so
`Jean-Luc`, `U.S.` and `3.14` are their words and numbers on both backends), and `article_search`:
a `search` tsvector per article (title weighted A, text B), set by triggers on articles, with a GIN
index; a row goes with its article (ON DELETE CASCADE).

A later migration that rebuilds `articles` on SQLite (batch mode: create, copy, drop, rename) drops
its triggers with the old table and must create them again (see `_sqlite_triggers`).

Revision ID: 0015
Revises: 0016
Create Date: 2026-12-03
"""

import logging
import sys
from collections.abc import Callable, Iterator, Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

revision: str = "0015"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("newswatch.migrate")

BATCH = 2000

# A copy of ingest.search.FOLDS as of this revision (the index is built with these; a test holds
# the two equal, so a change there comes with a migration that rebuilds the index).
FOLDS: tuple[tuple[str, str], ...] = (
    ("Æ", "AE"), ("æ", "ae"), ("Ð", "D"), ("ð", "d"), ("Ø", "O"), ("ø", "o"), ("Þ", "TH"), ("þ", "th"),
    ("ß", "ss"), ("ẞ", "SS"), ("Đ", "D"), ("đ", "d"), ("Ħ", "H"), ("ħ", "h"), ("ı", "i"),
    ("Ŀ", "L"), ("ŀ", "l"), ("Ł", "L"), ("ł", "l"), ("Œ", "OE"), ("œ", "oe"), ("Ŧ", "T"), ("ŧ", "t"),
    ("Ё", "Е"), ("ё", "е"),
    ("Ά", "Α"), ("Έ", "Ε"), ("Ή", "Η"), ("Ί", "Ι"), ("Ό", "Ο"), ("Ύ", "Υ"), ("Ώ", "Ω"), ("Ϊ", "Ι"),
    ("Ϋ", "Υ"), ("ά", "α"), ("έ", "ε"), ("ή", "η"), ("ί", "ι"), ("ό", "ο"), ("ύ", "υ"), ("ώ", "ω"),
    ("ϊ", "ι"), ("ϋ", "υ"), ("ΐ", "ι"), ("ΰ", "υ"),
)  # fmt: skip

PG_CONFIG = "newswatch_search"

# PostgreSQL's parser keeps `U.S.`, `3.14`, `2024-12-03`, an e-mail address or a URL as one token
# where FTS5 (and the query language) see the words and numbers in them; with punctuation read as
# a space it sees them the same way. ASCII punctuation, then the typographic kind: a parser in a C
# locale would read those as letters.
PUNCTUATION = "[!-/:-@[-`{-~’‘“”«»–—…]"


def folded(value: str) -> str:
    """The SQL expression of `value` (a column) with FOLDS applied: as it is when it is ASCII (as many
    characters as bytes: most text, checked in one pass), else replace() calls in subqueries 15 deep
    at most (SQLite's parser stack overflows at about 25), each referring to the one before once."""
    chunks = [FOLDS[start : start + 15] for start in range(0, len(FOLDS), 15)]
    query = ""
    for chunk in chunks:
        replaced = "v" if query else value
        for letter, into in chunk:
            replaced = f"replace({replaced}, '{letter}', '{into}')"
        query = f"SELECT {replaced} AS v" + (f" FROM ({query})" if query else "")
    return f"CASE WHEN length({value}) = length(CAST({value} AS BLOB)) THEN {value} ELSE ({query}) END"


def _sqlite_triggers() -> list[str]:
    def fts(row: str) -> str:
        return f"{row}.id, {folded(f'{row}.title')}, {folded(f'{row}.text')}"

    remove = f"INSERT INTO articles_fts(articles_fts, rowid, title, text) VALUES ('delete', {fts('old')});"
    add = f"INSERT INTO articles_fts(rowid, title, text) VALUES ({fts('new')});"
    changed = "old.title IS NOT new.title OR old.text IS NOT new.text"
    return [
        f"CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN {add} END",
        f"CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN {remove} END",
        f"CREATE TRIGGER articles_fts_update AFTER UPDATE OF title, text ON articles WHEN {changed}"
        f" BEGIN {remove} {add} END",
    ]


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _upgrade_sqlite(bind)
    elif bind.dialect.name == "postgresql":
        _upgrade_postgresql(bind)


def _upgrade_sqlite(bind: Connection) -> None:
    op.execute(
        "CREATE VIRTUAL TABLE articles_fts USING fts5(title, text, content='articles',"
        " content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
    )
    fill = sa.text(
        f"INSERT INTO articles_fts(rowid, title, text) SELECT id, {folded('title')}, {folded('text')}"
        " FROM articles WHERE id > :low AND id <= :high"
    )
    built = _backfill(bind, lambda low, high: bind.execute(fill, {"low": low, "high": high}))
    if built:
        op.execute("INSERT INTO articles_fts(articles_fts) VALUES ('optimize')")
    for trigger in _sqlite_triggers():
        op.execute(trigger)


def _upgrade_postgresql(bind: Connection) -> None:
    unaccent = _unaccent_schema(bind)
    op.execute(f"CREATE TEXT SEARCH CONFIGURATION {PG_CONFIG} (COPY = pg_catalog.simple)")
    # The whole of a hyphenated word (`jean-luc`) would take a position of its own before its parts,
    # so the phrase "said jean" would not find "said Jean-Luc"; its parts are enough.
    op.execute(f"ALTER TEXT SEARCH CONFIGURATION {PG_CONFIG} DROP MAPPING FOR asciihword, hword, numhword")
    if unaccent is not None:
        op.execute(
            f"ALTER TEXT SEARCH CONFIGURATION {PG_CONFIG} ALTER MAPPING FOR word, hword_part, numword,"
            f' hword_numpart WITH "{unaccent}".unaccent, simple'
        )
    else:
        log.warning(
            "the PostgreSQL extension unaccent is not available (or may not be created by this user):"
            " search on this database does not fold accents (café is not found by cafe)"
        )
    schema = bind.execute(sa.text("SELECT current_schema()")).scalar_one()
    config, table = f'"{schema}".{PG_CONFIG}', f'"{schema}".article_search'

    def words(column: str) -> str:
        return f"regexp_replace(coalesce({column}, ''), '{PUNCTUATION}', ' ', 'g')"

    def vector(row: str) -> str:
        return (
            f"setweight(to_tsvector('{config}'::regconfig, {words(row + 'title')}), 'A')"
            f" || setweight(to_tsvector('{config}'::regconfig, {words(row + 'text')}), 'B')"
        )

    # The vectors live in a narrow table of their own, stored in the row up to 8 kB (not TOASTed):
    # ranking and filtering read one small row per candidate instead of an article's row and its
    # TOAST chunks (measured 4.5x faster per candidate at 100,000 articles, bench/search.py).
    op.execute(
        "CREATE TABLE article_search (article_id integer PRIMARY KEY REFERENCES articles (id)"
        " ON DELETE CASCADE, search tsvector NOT NULL) WITH (toast_tuple_target = 8160)"
    )
    op.execute(
        "CREATE FUNCTION newswatch_article_search() RETURNS trigger LANGUAGE plpgsql AS $$"
        f" BEGIN INSERT INTO {table} (article_id, search) VALUES (NEW.id, {vector('NEW.')})"
        " ON CONFLICT (article_id) DO UPDATE SET search = EXCLUDED.search; RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER articles_search_insert AFTER INSERT ON articles"
        " FOR EACH ROW EXECUTE FUNCTION newswatch_article_search()"
    )
    op.execute(
        "CREATE TRIGGER articles_search_update AFTER UPDATE OF title, text ON articles FOR EACH ROW"
        " WHEN (OLD.title IS DISTINCT FROM NEW.title OR OLD.text IS DISTINCT FROM NEW.text)"
        " EXECUTE FUNCTION newswatch_article_search()"
    )
    fill = sa.text(
        f"INSERT INTO article_search (article_id, search) SELECT id, {vector('')} FROM articles"
        " WHERE id > :low AND id <= :high"
    )
    _backfill(bind, lambda low, high: bind.execute(fill, {"low": low, "high": high}))
    op.execute("CREATE INDEX ix_article_search ON article_search USING gin (search)")
    op.execute("ANALYZE article_search")


def _unaccent_schema(bind: Connection) -> str | None:
    """The schema of the unaccent extension, created here if the server has it and allows it."""
    available = bind.execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'unaccent'")
    ).scalar()
    if available:
        try:
            with bind.begin_nested():  # a refusal must not abort the migration's transaction
                bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS unaccent"))
        except sa.exc.DBAPIError as exc:
            log.warning("cannot create the extension unaccent: %s", " ".join(str(exc.orig).split()))
    schema: str | None = bind.execute(
        sa.text(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
            " WHERE e.extname = 'unaccent'"
        )
    ).scalar()
    return schema


def _backfill(bind: Connection, index: Callable[[int, int], object]) -> int:
    """Index the stored articles in batches of ids; a progress bar on standard error when it is a
    terminal. Returns how many articles there were."""
    total = bind.execute(sa.text("SELECT count(*) FROM articles")).scalar_one()
    if not total:
        return 0
    log.info("building the search index for %d stored articles", total)
    done = 0
    with _progress(total) as advance:
        for low, high, count in _id_batches(bind):
            index(low, high)
            done += count
            advance(count)
    log.info("search index built for %d articles", done)
    return int(total)


def _id_batches(bind: Connection) -> Iterator[tuple[int, int, int]]:
    """(after id, up to id, rows) for consecutive batches of BATCH articles, in id order."""
    low = 0
    edge = sa.text(
        "SELECT max(id), count(*) FROM (SELECT id FROM articles WHERE id > :low ORDER BY id LIMIT :n) AS b"
    )
    while True:
        high, count = bind.execute(edge, {"low": low, "n": BATCH}).one()
        if not count:
            return
        yield low, int(high), int(count)
        low = int(high)


class _progress:
    """`advance(n)` per batch: a rich progress bar on standard error if it is a terminal, else nothing."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.bar: object | None = None

    def __enter__(self) -> Callable[[int], None]:
        if not sys.stderr.isatty():
            return lambda n: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        bar.start()
        task = bar.add_task("building the search index", total=self.total)
        self.bar = bar
        return lambda n: bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()  # type: ignore[attr-defined]


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for trigger in ("articles_fts_insert", "articles_fts_delete", "articles_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS articles_fts")
    elif bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS articles_search_update ON articles")
        op.execute("DROP TRIGGER IF EXISTS articles_search_insert ON articles")
        op.execute("DROP FUNCTION IF EXISTS newswatch_article_search()")
        op.execute("DROP TABLE IF EXISTS article_search")
        op.execute(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {PG_CONFIG}")
        # The unaccent extension stays: other things on this server may use it.

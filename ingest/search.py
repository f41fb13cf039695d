"""Full-text search over stored articles: one small query language, two backends.

The language (`newswatch articles --search`, the status page's filter):

    putin kyiv          both words, anywhere in the title or text (no OR)
    "prime minister"    a phrase: these words, in this order, next to each other
    -sport              not this word (or -"a phrase"); a search needs one word it looks for
    zelensk*            a prefix (at least two letters); also at the end of a phrase: "prime min*"

AND alone in capitals is allowed (every word must match anyway); OR and NOT are refused with a hint.

Words are what is left between anything that is not a letter or a digit, so `Jean-Luc`, `U.S.` and
`O'Brien` are the phrases "jean luc", "u s" and "o brien", on both backends alike. Nothing the user
typed reaches the database's own query syntax: `parse` keeps only words (letters and digits) and the
four forms above, and `fts5_match` and `tsquery` write the backend's syntax from those.

Case and accents do not matter: SQLite indexes with FTS5's `unicode61 remove_diacritics 2` tokenizer
(é -> e), PostgreSQL with the `newswatch_search` text search configuration (the `simple` one, plus
the `unaccent` dictionary when the server has that extension). Letters that Unicode does not compose
from a base letter and an accent (ł, ø, ß, æ, œ, đ, ё, Greek tonos...) are folded by `FOLDS` on SQLite,
in the triggers that keep the index in step (migration 0015) and in the query, as `unaccent` folds
them on PostgreSQL: `Łódź` is found by `lodz`, `Straße` by `strasse`, `Лёша` by `леша` on both.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    bindparam,
    column,
    func,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.orm import Session

from core.db import AlertRow, ArticleRow, SightingRow
from core.errors import ConfigError

# The text search configuration migration 0015 creates on PostgreSQL.
PG_CONFIG = "newswatch_search"

MAX_QUERY = 500  # characters
MAX_TERMS = 32
MIN_PREFIX = 2  # letters before a `*`: a one-letter prefix would read most of the index

# Where a snippet's matches start and end (private-use characters, which news text does not carry);
# `spans` and `marked` turn them into what a caller shows.
MARK_START, MARK_END = "\ue000", "\ue001"
SNIPPET_WORDS = 24

# Letters SQLite's unicode61 tokenizer keeps as they are and PostgreSQL's unaccent folds. Migration
# 0015 holds a copy in its triggers: changing this list needs a migration that rebuilds the index
# (tests/ingest/test_search.py holds the two equal).
FOLDS: tuple[tuple[str, str], ...] = (
    ("Æ", "AE"), ("æ", "ae"), ("Ð", "D"), ("ð", "d"), ("Ø", "O"), ("ø", "o"), ("Þ", "TH"), ("þ", "th"),
    ("ß", "ss"), ("ẞ", "SS"), ("Đ", "D"), ("đ", "d"), ("Ħ", "H"), ("ħ", "h"), ("ı", "i"),
    ("Ŀ", "L"), ("ŀ", "l"), ("Ł", "L"), ("ł", "l"), ("Œ", "OE"), ("œ", "oe"), ("Ŧ", "T"), ("ŧ", "t"),
    ("Ё", "Е"), ("ё", "е"),
    ("Ά", "Α"), ("Έ", "Ε"), ("Ή", "Η"), ("Ί", "Ι"), ("Ό", "Ο"), ("Ύ", "Υ"), ("Ώ", "Ω"), ("Ϊ", "Ι"),
    ("Ϋ", "Υ"), ("ά", "α"), ("έ", "ε"), ("ή", "η"), ("ί", "ι"), ("ό", "ο"), ("ύ", "υ"), ("ώ", "ω"),
    ("ϊ", "ι"), ("ϋ", "υ"), ("ΐ", "ι"), ("ΰ", "υ"),
)  # fmt: skip
_FOLD_TABLE = str.maketrans(dict(FOLDS))

# Other search languages' operators, written alone and in capitals: AND is what a search does anyway;
# OR and NOT would silently become words to look for, so they are refused with what to write instead.
_OPERATORS = {
    "AND": "",
    "OR": "OR is not part of the search language: run one search per alternative (or use a prefix*)",
    "NOT": "NOT is not part of the search language: put a minus before the word to exclude (-word)",
}

_WORD = re.compile(r"[^\W_]+")  # letters and digits: what both backends' tokenizers keep


class SearchError(ConfigError):
    """A search that cannot be run as written (a usage error: exit code 2)."""


@dataclass(frozen=True)
class Term:
    """A word or a phrase (its words in order), perhaps a prefix (its last word), perhaps excluded."""

    words: tuple[str, ...]
    prefix: bool = False
    exclude: bool = False


@dataclass(frozen=True)
class Query:
    """A parsed search: every term that is not excluded, and none of those that are."""

    terms: tuple[Term, ...]

    @property
    def included(self) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if not t.exclude)

    @property
    def excluded(self) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if t.exclude)


def parse(query: str) -> Query:
    """The terms of `query`; SearchError (one clear line) when there is nothing to look for in it."""
    if len(query) > MAX_QUERY:
        raise SearchError(f"the search is too long ({len(query)} characters; at most {MAX_QUERY})")
    query = unicodedata.normalize("NFC", query)
    terms: list[Term] = []
    position = 0
    while position < len(query):
        char = query[position]
        if char.isspace():
            position += 1
            continue
        exclude = char == "-" and position + 1 < len(query) and not query[position + 1].isspace()
        if exclude:
            position += 1
        if query[position] == '"':
            end = query.find('"', position + 1)
            end = len(query) if end < 0 else end  # an unclosed quote runs to the end
            raw = query[position + 1 : end]
            position = end + 1
            if position < len(query) and query[position] == "*":  # "prime min"*
                raw += "*"
                position += 1
        else:
            end = position
            while end < len(query) and not query[end].isspace() and query[end] != '"':
                end += 1
            raw = query[position:end]
            position = end
            if not exclude and raw in _OPERATORS:
                if _OPERATORS[raw]:
                    raise SearchError(_OPERATORS[raw])
                continue
        term = _term(raw, exclude)
        if term is not None:
            terms.append(term)
    if len(terms) > MAX_TERMS:
        raise SearchError(f"the search has too many terms ({len(terms)}; at most {MAX_TERMS})")
    parsed = Query(tuple(terms))
    if not parsed.included:
        if parsed.excluded:
            raise SearchError(f"{query!r} only excludes: add a word to look for")
        raise SearchError(f"{query!r} has no word to look for (letters or digits)")
    return parsed


def _term(raw: str, exclude: bool) -> Term | None:
    words = tuple(_WORD.findall(raw))
    if not words:
        return None
    prefix = raw.rstrip().endswith("*") and raw.rstrip()[-2:-1].isalnum()
    if prefix and len(words[-1]) < MIN_PREFIX:
        raise SearchError(f"a prefix needs at least {MIN_PREFIX} letters: {raw.strip()!r}")
    return Term(words, prefix, exclude)


def fold(word: str) -> str:
    """`word` with the letters of FOLDS folded, as SQLite's index holds them."""
    return word.translate(_FOLD_TABLE)


def fts5_match(query: Query) -> str:
    """The FTS5 MATCH expression of `query`: every word a quoted string (folded as the index is)."""

    def phrase(term: Term) -> str:
        quoted = " + ".join('"' + fold(word).replace('"', '""') + '"' for word in term.words)
        return quoted + (" *" if term.prefix else "")

    expression = " AND ".join(phrase(t) for t in query.included)
    if query.excluded:
        expression = f"({expression})" + "".join(f" NOT {phrase(t)}" for t in query.excluded)
    return expression


def tsquery(query: Query) -> str:
    """The to_tsquery text of `query` (`&`, `!`, `<->`, `:*`); its operands are words of letters and
    digits only, which the tsquery syntax has no operator among."""

    def phrase(term: Term) -> str:
        words = list(term.words)
        if term.prefix:
            words[-1] += ":*"
        joined = " <-> ".join(words)
        return f"({joined})" if len(words) > 1 else joined

    parts = [phrase(t) for t in query.included] + [f"!{phrase(t)}" for t in query.excluded]
    return " & ".join(parts)


@dataclass(frozen=True)
class Hit:
    """A found article, its rank (higher first; None when listing without a search), and the text
    around the match with MARK_START/MARK_END around each matching word ("" without a search)."""

    article: ArticleRow
    score: float | None
    snippet: str


def search_articles(
    session: Session,
    query: str | None,
    *,
    since: datetime | None = None,
    source: str | None = None,
    rule: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> list[Hit]:
    """Articles matching `query`, best first, each with a snippet around the match; without a query,
    the newest articles. `since`: published at or after; `source`: seen in that source (also as a
    duplicate); `rule`: matched by that rule (it has an alert from it). SearchError for a query
    `parse` refuses.

    Relevance ranks the newest WINDOW matches (or `limit + offset`, if more): a word found in most
    articles would otherwise cost a score for each of them, where these cost a few thousand row reads
    at most on either backend (bench/search.py). A search that matches more sees its newest matches;
    more words, a phrase or `since` reach older ones. (`matching` is the condition alone, for a list
    in another order.)"""
    parsed = parse(query) if query is not None and query.strip() else None
    if parsed is None:
        newest = (
            select(ArticleRow)
            .where(*(ArticleRow.id.in_(ids) for ids in _filters(since, source, rule)))
            .order_by(ArticleRow.published_at.desc(), ArticleRow.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return [Hit(row, None, "") for row in session.scalars(newest)]
    window = max(WINDOW, limit + offset)
    filters = _filters(since, source, rule)
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        ranked, snippets = _sqlite(session, parsed, filters, window, limit, offset)
    elif dialect == "postgresql":
        ranked, snippets = _postgresql(session, parsed, filters, window, limit, offset)
    else:  # pragma: no cover - the two backends Newswatch supports
        raise SearchError(f"search is not available on {dialect}")
    rows = {row.id: row for row in session.scalars(select(ArticleRow).where(ArticleRow.id.in_(ranked)))}
    return [Hit(rows[i], score, snippets.get(i, "")) for i, score in ranked.items() if i in rows]


# How many of the newest matches relevance ranks (bench/search.py, 100,000 articles on PostgreSQL:
# p99 CPU 36 ms with 200, 44 ms with 500; a word in every article costs the same as a rare one).
WINDOW = 200


def _filters(since: datetime | None, source: str | None, rule: str | None) -> list[Select[Any]]:
    """The article ids each filter allows, as subqueries."""
    filters: list[Select[Any]] = []
    if since is not None:
        filters.append(select(ArticleRow.id).where(ArticleRow.published_at >= since))
    if source is not None:
        filters.append(select(SightingRow.article_id).where(SightingRow.source == source))
    if rule is not None:
        filters.append(select(AlertRow.article_id).where(AlertRow.rule == rule))
    return filters


_FTS = table("articles_fts", column("rowid", Integer))
# `+rowid`: checked on each match, not handed to FTS5 as a list of rowids to look up one at a time.
_FTS_ROWID: ColumnElement[int] = literal_column("+articles_fts.rowid", Integer)


def _sqlite(
    session: Session,
    query: Query,
    filters: list[Select[Any]],
    window: int,
    limit: int,
    offset: int,
) -> tuple[dict[int, float], dict[int, str]]:
    """The newest `window` matches by rowid (FTS5 reads its index in rowid order), ranked with bm25
    (a title word weighs four text words); then snippets for the page's rows only."""
    match = text("articles_fts MATCH :match").bindparams(match=fts5_match(query))
    where: list[Any] = [match, *(_FTS_ROWID.in_(ids) for ids in filters)]
    floor = session.scalar(
        select(_FTS.c.rowid).where(*where).order_by(_FTS.c.rowid.desc()).limit(1).offset(window - 1)
    )
    if floor is not None:
        where.append(_FTS.c.rowid >= floor)
    score: ColumnElement[Any] = literal_column("bm25(articles_fts, 4.0, 1.0)")
    ranking = (
        select(_FTS.c.rowid, score.label("score"))
        .where(*where)
        .order_by(score, _FTS.c.rowid.desc())
        .limit(limit)
        .offset(offset)
    )
    ranked = {row.rowid: -float(row.score) for row in session.execute(ranking)}
    if not ranked:
        return ranked, {}
    snippet: ColumnElement[Any] = literal_column(
        f"snippet(articles_fts, 1, '{MARK_START}', '{MARK_END}', '…', {SNIPPET_WORDS})"
    )
    around = select(_FTS.c.rowid, snippet).where(match, _FTS.c.rowid.in_(list(ranked)))
    return ranked, {rowid: text_ for rowid, text_ in session.execute(around)}


_VECTORS = table("article_search", column("article_id", Integer), column("search"))


def _postgresql(
    session: Session,
    query: Query,
    filters: list[Select[Any]],
    window: int,
    limit: int,
    offset: int,
) -> tuple[dict[int, float], dict[int, str]]:
    """The newest `window` matches (the GIN index, or the newest rows checked one by one, whichever
    the planner finds cheaper for this query's words), ranked with ts_rank (title words weigh A,
    text words B); then ts_headline for the page's rows only."""
    # Plan each search for its own words: a plan cached for "some query" cannot tell a word in every
    # article (read the newest rows) from a rare one (ask the index).
    session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    config: ColumnElement[Any] = literal_column(f"'{PG_CONFIG}'::regconfig")
    tsq = func.to_tsquery(config, bindparam("tsq"))
    vectors = _VECTORS.c
    candidates = (
        select(vectors.article_id, vectors.search)
        .where(vectors.search.op("@@")(tsq), *(vectors.article_id.in_(ids) for ids in filters))
        .order_by(vectors.article_id.desc())
        .limit(window)
        .subquery("candidates")
    )
    score = func.ts_rank(candidates.c.search, tsq, 1)
    ranking = (
        select(candidates.c.article_id, score.label("score"))
        .order_by(score.desc(), candidates.c.article_id.desc())
        .limit(limit)
        .offset(offset)
    )
    parameters: dict[str, Any] = {"tsq": tsquery(query)}
    ranked = {row.article_id: float(row.score) for row in session.execute(ranking, parameters)}
    if not ranked:
        return ranked, {}
    options = (
        f'StartSel="{MARK_START}", StopSel="{MARK_END}", MaxWords={SNIPPET_WORDS},'
        f' MinWords={SNIPPET_WORDS // 2}, MaxFragments=1, FragmentDelimiter=" … "'
    )
    headline = func.ts_headline(config, ArticleRow.text, tsq, literal_column(f"'{options}'"))
    around = select(ArticleRow.id, ArticleRow.text, headline.label("snippet")).where(
        ArticleRow.id.in_(list(ranked))
    )
    snippets = {row.id: _ellipsis(row.snippet, row.text) for row in session.execute(around, parameters)}
    return ranked, snippets


def matching(query: str, dialect: str) -> ColumnElement[bool]:
    """A condition on ArticleRow: the article matches `query` (SearchError if `parse` refuses it),
    on `dialect` ("sqlite" or "postgresql"). For a caller with its own order and count (a list
    newest first, with its total): every match, unranked."""
    parsed = parse(query)
    if dialect == "sqlite":
        match = text("articles_fts MATCH :match").bindparams(
            bindparam("match", fts5_match(parsed), unique=True)
        )
        return ArticleRow.id.in_(select(_FTS.c.rowid).where(match))
    config: ColumnElement[Any] = literal_column(f"'{PG_CONFIG}'::regconfig")
    tsq = func.to_tsquery(config, bindparam("tsq", tsquery(parsed), unique=True))
    return ArticleRow.id.in_(select(_VECTORS.c.article_id).where(_VECTORS.c.search.op("@@")(tsq)))


def _ellipsis(snippet: str, whole: str) -> str:
    """ts_headline's fragment with `…` where it cuts the text, as FTS5's snippet() writes it."""
    words = _WORD.findall(snippet.replace(MARK_START, "").replace(MARK_END, ""))
    if not words:
        return snippet
    every = _WORD.findall(whole)
    out = snippet.strip()
    if every[: len(words[:3])] != words[:3]:
        out = "…" + out
    if every[-len(words[-3:]) :] != words[-3:]:
        out += "…"
    return out


def spans(snippet: str) -> list[tuple[str, bool]]:
    """The snippet as (text, is a match) pieces, for a caller that styles the matches (HTML, rich)."""
    pieces: list[tuple[str, bool]] = []
    for n, chunk in enumerate(snippet.split(MARK_START)):
        if n == 0:
            if chunk:
                pieces.append((chunk, False))
            continue
        matched, _, rest = chunk.partition(MARK_END)
        if matched:
            pieces.append((matched, True))
        if rest:
            pieces.append((rest, False))
    return pieces


def marked(snippet: str, start: str = "**", end: str = "**") -> str:
    """The snippet as plain text with `start`/`end` around each match (`--json`: **word**)."""
    return "".join(f"{start}{piece}{end}" if match else piece for piece, match in spans(snippet))

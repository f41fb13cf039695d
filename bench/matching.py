"""Matching speed: articles/s against 10 ... 100,000 terms, Aho-Corasick matcher vs regex alternation.

Run: python -m bench.matching [--quick]
Articles are ~3 KB of synthetic prose; rules have 10 terms each. Two corpora:
- same hits (the target's figure): the same articles at every size, each holding about five
  occurrences of the 10 terms of the first rule; the terms added at larger sizes never occur in
  them. Every size finds the same hits, so the cost per article relative to 10 terms is the price
  of watching more terms (target: within 1.5x).
- same density: about 1% of words are drawn from all the watched terms, so with more terms an
  article matches more rules (1 at 10 terms, ~5 at 100,000). The output grows with the terms; this
  shows what each extra match costs.
A regex alternation of the same terms is measured on the same-hits articles in the same process.
"""

from __future__ import annotations

import argparse
import random
import re
import string
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import ahocorasick
import ahocorasick_rs
import daachorse

from alerts.rules import Matcher
from core.config import RuleConfig
from ingest.models import Article
from newswatch.settings import CONTEXT

ARTICLE_CHARS = 3000
TERMS_PER_RULE = 10
SIZES = (10, 1_000, 10_000, 100_000)
# Terms are drawn from this many words, none of them in the prose, so that 100,000 terms are mostly
# distinct words and a term is found only where an article was given it.
VOCABULARY = 150_000
PROSE_WORDS = 5_000


def _words(rnd: random.Random, count: int) -> list[str]:
    words = {
        "".join(rnd.choice(string.ascii_lowercase) for _ in range(rnd.randint(4, 10))).capitalize()
        for _ in range(count)
    }
    return sorted(words)


def _terms(rnd: random.Random, vocabulary: list[str], count: int) -> list[str]:
    terms: dict[str, None] = {}
    while len(terms) < count:
        terms[" ".join(rnd.sample(vocabulary, rnd.randint(1, 2)))] = None
    return list(terms)


def _articles(rnd: random.Random, prose: list[str], terms: list[str], count: int) -> list[Article]:
    """`count` articles of prose in which about 1% of words are one of `terms`."""
    articles = []
    for i in range(count):
        words: list[str] = []
        while sum(len(w) + 1 for w in words) < ARTICLE_CHARS:
            words.append(rnd.choice(terms) if rnd.random() < 0.01 else rnd.choice(prose))
        text = " ".join(words)[:ARTICLE_CHARS]
        articles.append(Article("bench", str(i), " ".join(words[:8]), text, "", (), None, None, ""))
    return articles


def _rules(terms: list[str]) -> list[RuleConfig]:
    return [
        RuleConfig.model_validate(
            {"name": f"rule{i}", "keywords": terms[i : i + TERMS_PER_RULE], "notify": ["desk"]},
            context=CONTEXT,
        )
        for i in range(0, len(terms), TERMS_PER_RULE)
    ]


@dataclass(frozen=True)
class Corpus:
    """Prose words, and terms whose first rule's worth are the ones the same-hits articles hold."""

    prose: list[str]
    terms: list[str]


def corpus(largest: int, seed: int = 5) -> Corpus:
    """Seeded prose and `largest` terms; no term shares a word with the prose or with the first rule."""
    rnd = random.Random(seed)
    prose = _words(rnd, PROSE_WORDS)
    vocabulary = sorted(set(_words(rnd, VOCABULARY)) - set(prose))
    first = _terms(rnd, vocabulary, TERMS_PER_RULE)
    taken = {word for term in first for word in term.split()}
    rest = _terms(rnd, [w for w in vocabulary if w not in taken], largest - TERMS_PER_RULE)
    return Corpus(prose, first + rest)


@dataclass(frozen=True)
class Size:
    """The figures at one number of terms."""

    terms: int
    build: float  # seconds to build the matcher (the rules are validated beforehand)
    rate: float  # articles/s on the same-hits articles
    matches: float  # rule matches per same-hits article
    dense_rate: float  # articles/s on the same-density articles
    dense_matches: float  # rule matches per same-density article
    regex: float | None  # articles/s of one regex alternation on the same-hits articles


def measure(data: Corpus, sizes: Sequence[int], rounds: int, regex_up_to: int = max(SIZES)) -> list[Size]:
    """Every figure at every size (articles generated once, seeded).

    The matchers are timed in interleaved rounds, each a pass over the articles at every size, and
    each keeps its best round: a burst of load from elsewhere on a shared machine then hits one
    round of every size alike instead of all the rounds of one size.
    """
    rnd = random.Random(7)
    same_hits = _articles(rnd, data.prose, data.terms[:TERMS_PER_RULE], 200)
    matchers, builds, dense = {}, {}, {}
    for size in sizes:
        rules = _rules(data.terms[:size])  # validating the config is not the matcher's build
        started = time.perf_counter()
        matchers[size] = Matcher(rules)
        builds[size] = time.perf_counter() - started
        dense[size] = _articles(rnd, data.prose, data.terms[:size], 200)
    best: dict[tuple[int, bool], float] = {}
    for _ in range(rounds):
        for size, matcher in matchers.items():
            for is_dense, articles in ((False, same_hits), (True, dense[size])):
                started = time.perf_counter()
                for article in articles:
                    matcher.match(article)
                elapsed = time.perf_counter() - started
                best[size, is_dense] = min(best.get((size, is_dense), elapsed), elapsed)
    return [
        Size(
            size,
            builds[size],
            len(same_hits) / best[size, False],
            _matches(matcher, same_hits),
            len(dense[size]) / best[size, True],
            _matches(matcher, dense[size]),
            # The baseline is timed on its own (one alternation of 100,000 terms takes minutes).
            _rate(partial(_scan, _regex(data.terms[:size])), same_hits, 1.0) if size <= regex_up_to else None,
        )
        for size, matcher in matchers.items()
    ]


def _matches(matcher: Matcher, articles: list[Article]) -> float:
    return sum(len(matcher.match(article)) for article in articles) / len(articles)


def _rate(run: Callable[[Article], object], articles: list[Article], budget: float) -> float:
    """Articles per second: the best of three rounds over `articles` (the machine may be shared)."""
    best = 0.0
    for _ in range(3):
        done, started = 0, time.perf_counter()
        while True:
            run(articles[done % len(articles)])
            done += 1
            elapsed = time.perf_counter() - started
            if elapsed >= budget / 3 or done >= len(articles) * 2:
                break
        best = max(best, done / elapsed)
    return best


def _regex(terms: list[str]) -> re.Pattern[str]:
    words = "|".join(r"\s+".join(re.escape(w) for w in t.split()) for t in terms)
    return re.compile(r"(?<!\w)(?:" + words + r")(?!\w)", re.IGNORECASE)


def _scan(pattern: re.Pattern[str], article: Article) -> object:
    return [pattern.findall(article.title), pattern.findall(article.text)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (rougher figures)")
    args = parser.parse_args()
    budget, rounds = (0.5, 5) if args.quick else (2.0, 20)
    print(f"articles: {ARTICLE_CHARS} chars of synthetic prose; {TERMS_PER_RULE} terms per rule")
    print(
        f"{'':>8} {'':>8} | {'same hits':^35} | {'same density':^35} |"
        f"\n{'terms':>8} {'build s':>8} | {'art/s':>9} {'matches':>8} {'cost vs 10':>11} {'regex':>6}"
        f" | {'art/s':>9} {'matches':>8} {'cost vs 10':>11} {'per match':>9}"
    )
    data = corpus(max(SIZES))
    results = measure(data, SIZES, rounds)
    base = results[0]
    for size in results:
        regex = f"{size.regex:,.1f}" if size.regex is not None else "-"
        # What one more rule match costs: same matcher, the dense articles' extra matches.
        extra = size.dense_matches - size.matches
        per_match = (1 / size.dense_rate - 1 / size.rate) / extra * 1e6 if extra > 0.5 else None
        print(
            f"{size.terms:>8,} {size.build:>8.2f} | {size.rate:>9,.0f} {size.matches:>8.1f}"
            f" {base.rate / size.rate:>10.2f}x {regex:>6}"
            f" | {size.dense_rate:>9,.0f} {size.dense_matches:>8.1f}"
            f" {base.dense_rate / size.dense_rate:>10.2f}x"
            f" {f'{per_match:.0f} us' if per_match is not None else '-':>9}"
        )
    _compare_libraries(data.terms, _articles(random.Random(9), data.prose, data.terms, 200), budget)


def _compare_libraries(terms: list[str], articles: list[Article], budget: float) -> None:
    """Raw search speed of three Aho-Corasick libraries at 100,000 phrases (why daachorse)."""
    phrases = [t.lower() for t in terms]
    texts = [a.text.lower() for a in articles]
    as_articles = [Article("", "", "", t, "", (), None, None, "") for t in texts]
    started = time.perf_counter()
    daac = daachorse.DoubleArrayAhoCorasick([phrase.encode() for phrase in phrases])
    daac_build = time.perf_counter() - started
    started = time.perf_counter()
    rs = ahocorasick_rs.AhoCorasick(phrases, matchkind=ahocorasick_rs.MatchKind.Standard)
    rs_build = time.perf_counter() - started
    started = time.perf_counter()
    py = ahocorasick.Automaton()
    for i, phrase in enumerate(phrases):
        py.add_word(phrase, i)
    py.make_automaton()
    py_build = time.perf_counter() - started
    # Each as the matcher would call it: daachorse on the UTF-8 bytes (ASCII here: no offsets to move).
    daac_rate = _rate(lambda a: daac.find_overlapping(a.text.encode()), as_articles, budget)
    rs_rate = _rate(lambda a: rs.find_matches_as_indexes(a.text, overlapping=True), as_articles, budget)
    py_rate = _rate(lambda a: list(py.iter(a.text)), as_articles, budget)
    print(f"\nraw automaton search at {len(phrases):,} phrases (overlapping matches):")
    print(f"  daachorse       build {daac_build:.2f} s, {daac_rate:>9,.0f} texts/s")
    print(f"  ahocorasick-rs  build {rs_build:.2f} s, {rs_rate:>9,.0f} texts/s")
    print(f"  pyahocorasick   build {py_build:.2f} s, {py_rate:>9,.0f} texts/s")


if __name__ == "__main__":
    main()

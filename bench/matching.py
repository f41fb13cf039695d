"""Matching speed: articles/s against 10 ... 100,000 terms, Aho-Corasick matcher vs regex alternation.

Run: python -m bench.matching [--quick]
Prints, per term count, the matcher's articles/s and build time, a regex-alternation baseline measured
in the same process, and the matcher's cost per article relative to 10 terms (target: within 1.5x).
Articles are ~3 KB of synthetic prose, each holding a few of the watched terms.
"""

from __future__ import annotations

import argparse
import random
import re
import string
import time
from collections.abc import Callable

import ahocorasick
import ahocorasick_rs

from alerts.rules import Matcher
from ingest.models import Article
from newswatch.config import RuleConfig

ARTICLE_CHARS = 3000
TERMS_PER_RULE = 10
SIZES = (10, 1_000, 10_000, 100_000)
# Terms are drawn from this many words, so that 100,000 terms are mostly distinct words and an
# article matches about as many rules at every size (a smaller vocabulary makes terms share words,
# and the output, not the search, grows with the terms).
VOCABULARY = 150_000


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
            {"name": f"rule{i}", "keywords": terms[i : i + TERMS_PER_RULE], "notify": ["desk"]}
        )
        for i in range(0, len(terms), TERMS_PER_RULE)
    ]


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (rougher figures)")
    args = parser.parse_args()
    budget = 0.5 if args.quick else 2.0
    rnd = random.Random(5)
    vocabulary = _words(rnd, VOCABULARY)
    prose = _words(rnd, 5_000)
    all_terms = _terms(rnd, vocabulary, max(SIZES))
    print(
        f"articles: {ARTICLE_CHARS} chars of synthetic prose, ~1% of words watched terms;"
        f" {TERMS_PER_RULE} terms per rule"
    )
    print(
        f"{'terms':>8} {'matcher art/s':>14} {'build s':>8} {'cost vs 10':>11}"
        f" {'regex art/s':>12} {'speed-up':>9}"
    )
    base_cost = 0.0
    for size in SIZES:
        terms = all_terms[:size]
        rules = _rules(terms)
        articles = _articles(rnd, prose, terms, 200)
        started = time.perf_counter()
        matcher = Matcher(rules)
        build = time.perf_counter() - started
        rate = _rate(matcher.match, articles, budget)
        base_cost = base_cost or 1 / rate
        pattern = _regex(terms)

        def scan(article: Article, pattern: re.Pattern[str] = pattern) -> object:
            return [pattern.findall(article.title), pattern.findall(article.text)]

        regex_rate = _rate(scan, articles, budget)
        print(
            f"{size:>8,} {rate:>14,.0f} {build:>8.2f} {(1 / rate) / base_cost:>10.2f}x"
            f" {regex_rate:>12,.1f} {rate / regex_rate:>8.0f}x"
        )
    _compare_libraries(all_terms, _articles(rnd, prose, all_terms, 200), budget)


def _compare_libraries(terms: list[str], articles: list[Article], budget: float) -> None:
    """Raw search speed of the two Aho-Corasick libraries at 100,000 phrases (why ahocorasick-rs)."""
    phrases = [t.lower() for t in terms]
    texts = [a.text.lower() for a in articles]
    started = time.perf_counter()
    rs = ahocorasick_rs.AhoCorasick(phrases, matchkind=ahocorasick_rs.MatchKind.Standard)
    rs_build = time.perf_counter() - started
    started = time.perf_counter()
    py = ahocorasick.Automaton()
    for i, phrase in enumerate(phrases):
        py.add_word(phrase, i)
    py.make_automaton()
    py_build = time.perf_counter() - started
    as_articles = [Article("", "", "", t, "", (), None, None, "") for t in texts]
    rs_rate = _rate(lambda a: rs.find_matches_as_indexes(a.text, overlapping=True), as_articles, budget)
    py_rate = _rate(lambda a: list(py.iter(a.text)), as_articles, budget)
    print(f"\nraw automaton search at {len(phrases):,} phrases (overlapping matches):")
    print(f"  ahocorasick-rs  build {rs_build:.2f} s, {rs_rate:>9,.0f} texts/s")
    print(f"  pyahocorasick   build {py_build:.2f} s, {py_rate:>9,.0f} texts/s")


if __name__ == "__main__":
    main()

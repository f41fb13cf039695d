"""Watch rules compiled for matching, and matching an article against them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from alerts.models import Hit, TermKind
from ingest.models import Article
from newswatch.config import RuleConfig

SNIPPET_CHARS = 60
# A term matches whole words: no letter, digit or underscore may touch either end.
_BEFORE = r"(?<!\w)"
_AFTER = r"(?!\w)"


@dataclass(frozen=True)
class Term:
    """One way of naming what a rule watches: a phrase and the configured term it stands for."""

    phrase: str
    term: str
    kind: TermKind
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class CompiledRule:
    name: str
    terms: tuple[Term, ...]
    notify: tuple[str, ...]


def compile_rules(rules: list[RuleConfig]) -> list[CompiledRule]:
    """Every rule with its terms expanded (full names, last names, aliases) and compiled once."""
    return [CompiledRule(rule.name, tuple(_expand(rule)), tuple(rule.notify)) for rule in rules]


def _expand(rule: RuleConfig) -> list[Term]:
    terms: list[Term] = []
    for person in rule.people:
        phrases = [person.name, *person.aliases]
        words = person.name.split()
        if person.last_name_alone and len(words) > 1:
            phrases.append(words[-1])
        terms += [_term(p, person.name, TermKind.PERSON) for p in dict.fromkeys(phrases)]
    terms += [_term(t, t, TermKind.TOPIC) for t in rule.topics]
    terms += [_term(k, k, TermKind.KEYWORD) for k in rule.keywords]
    return terms


def _term(phrase: str, term: str, kind: TermKind) -> Term:
    words = [re.escape(w) for w in phrase.split()]
    pattern = re.compile(_BEFORE + r"\s+".join(words) + _AFTER, re.IGNORECASE)
    return Term(phrase, term, kind, pattern)


def match_article(rule: CompiledRule, article: Article) -> list[Hit]:
    """Every hit of `rule` in the article's title, text and topics (empty: the rule did not fire)."""
    hits: list[Hit] = []
    seen: set[tuple[str, str]] = set()
    fields = (("title", article.title), ("text", article.text))
    for term in rule.terms:
        for field, value in fields:
            found = term.pattern.search(value)
            if found and (term.term, field) not in seen:
                seen.add((term.term, field))
                hits.append(Hit(term.term, term.kind, found.group(0), field, _snippet(value, found)))
        for topic in article.topics:
            if term.pattern.fullmatch(topic) and (term.term, "topics") not in seen:
                seen.add((term.term, "topics"))
                hits.append(Hit(term.term, term.kind, topic, "topics", topic))
    return hits


def _snippet(text: str, found: re.Match[str]) -> str:
    start = max(0, found.start() - SNIPPET_CHARS)
    end = min(len(text), found.end() + SNIPPET_CHARS)
    prefix = "…" if start else ""
    suffix = "…" if end < len(text) else ""
    return prefix + " ".join(text[start:end].split()) + suffix

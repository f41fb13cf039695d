"""Watch rules: compiled once into one matcher over every rule's terms, then evaluated per article.

A rule fires when its scope allows the article (`sources`), its own people/topics/keywords (if any)
have a hit, every `all` group has a hit and no `none` group has one, counting only hits in `fields`.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import pairwise
from typing import Any, NamedTuple

import re2

from alerts.automaton import PhraseIndex, grouped
from alerts.models import Hit, Match, TermKind
from alerts.normalize import Normalized, normalize, normalize_phrase, normalize_phrases
from core.config import RuleConfig, TermConfig, TermGroup
from ingest.models import Article

SNIPPET_CHARS = 60
OWN = 0  # group number of a rule's own any-of terms; `all` groups are 1..n, `none` groups -1..-m
TEXT_FIELDS = ("title", "text")
REGEX_MAX_MEMORY = 8 << 20


def check_regex(pattern: str) -> None:
    """Raise ValueError unless `pattern` compiles under RE2 (linear time: no backreferences etc.)."""
    _compile_regex(pattern, case_sensitive=False)


def _compile_regex(pattern: str, *, case_sensitive: bool) -> Any:
    options = re2.Options()
    options.case_sensitive = case_sensitive
    options.max_mem = REGEX_MAX_MEMORY
    options.log_errors = False  # RE2 would print to stderr; the error is raised instead
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        raise ValueError(f"/{pattern}/ is not a safe regular expression (RE2 syntax): {reason}") from None


class Term(NamedTuple):
    """One searchable phrase of one rule, and the configured term it stands for."""

    rule: int
    group: int
    term: str  # as configured: "Vladimir Putin" (also for the alias "Putin")
    kind: TermKind
    phrase: str  # as written ("Putin"; the phrase table normalises it), or the regex pattern
    case_sensitive: bool = False
    regex: Any = None


@dataclass(frozen=True)
class CompiledRule:
    name: str
    notify: tuple[str, ...]
    sources: frozenset[str]
    fields: frozenset[str]
    all_groups: int
    none_groups: int
    has_own: bool
    cooldown: timedelta | None
    max_per_hour: int | None
    config: RuleConfig = field(repr=False, compare=False)

    @property
    def matcher(self) -> Matcher:
        """A matcher for this rule alone (for tests and examples; the service uses one for all)."""
        return Matcher([self.config])


@dataclass(frozen=True)
class Verdict:
    """Whether one rule fired on one article, the hits that count, and why, in a sentence."""

    rule: str
    fired: bool
    hits: tuple[Hit, ...]
    reason: str


def compile_rules(rules: Sequence[RuleConfig]) -> list[CompiledRule]:
    """Every rule's settings, compiled (terms are compiled by Matcher, across all rules at once)."""
    return [
        CompiledRule(
            name=rule.name,
            notify=tuple(rule.notify),
            sources=frozenset(rule.sources),
            fields=frozenset(rule.fields),
            all_groups=len(rule.all),
            none_groups=len(rule.none),
            has_own=not rule.empty,
            cooldown=rule.cooldown,
            max_per_hour=rule.max_per_hour,
            config=rule,
        )
        for rule in rules
    ]


def match_article(rule: CompiledRule, article: Article) -> list[Hit]:
    """Every hit of `rule` in the article (empty: the rule did not fire)."""
    verdict = rule.matcher.explain(article)[0]
    return list(verdict.hits) if verdict.fired else []


class Matcher:
    """All rules' terms in one Aho-Corasick index (plus case-sensitive and regex terms); build once."""

    def __init__(self, rules: Sequence[RuleConfig]) -> None:
        with _cycle_collection_paused():
            self.rules = compile_rules(rules)
            self.terms: list[Term] = [t for i, rule in enumerate(rules) for t in _expand(i, rule)]
            folded, cased = _PhraseTable(casefold=True), _PhraseTable(casefold=False)
            self._regexes: list[tuple[int, Term]] = []
            for number, term in enumerate(self.terms):
                if term.regex is not None:
                    self._regexes.append((number, term))
                else:
                    (cased if term.case_sensitive else folded).add(number, term.phrase)
            self._tables = [table.build() for table in (folded, cased) if table.added]
        # The normalised forms an article's text is searched in: case-folded, and as written.
        self._casings = {table.casefold for table in self._tables} | ({False} if self._regexes else set())

    def match(self, article: Article, article_id: int = 0) -> list[Match]:
        """The rules the article fires, each with its hits."""
        found = self._find(article)
        matches = []
        for index, numbers in sorted(self._by_rule(found).items()):
            hits, refusal = self._judge(index, article, numbers, found)
            if refusal is None:
                matches.append(Match(self.rules[index].name, article_id, hits))
        return matches

    def explain(self, article: Article) -> list[Verdict]:
        """For every rule, whether it fired on the article and why (or why not)."""
        found = self._find(article)
        by_rule = self._by_rule(found)
        verdicts = []
        for index, rule in enumerate(self.rules):
            hits, refusal = self._judge(index, article, by_rule.get(index, []), found)
            terms = ", ".join(dict.fromkeys(f"{hit.term!r} ({hit.field})" for hit in hits))
            verdicts.append(Verdict(rule.name, refusal is None, hits, refusal or f"matched {terms}"))
        return verdicts

    def _by_rule(self, found: dict[int, list[Hit]]) -> dict[int, list[int]]:
        by_rule: dict[int, list[int]] = defaultdict(list)
        for number in found:
            by_rule[self.terms[number].rule].append(number)
        return by_rule

    def _find(self, article: Article) -> dict[int, list[Hit]]:
        """Hits per term number: the first occurrence of the term in each field."""
        found: dict[int, list[Hit]] = {}

        def add(number: int, name: str, surface: str, snippet: str, span: tuple[int, int]) -> None:
            hits = found.setdefault(number, [])
            if not hits or hits[-1].field != name:  # fields come one after the other
                term = self.terms[number]
                hits.append(Hit(term.term, term.kind, surface, name, snippet, *span))

        for name, value in zip(TEXT_FIELDS, (article.title, article.text), strict=True):
            texts = {casefold: normalize(value, casefold=casefold) for casefold in self._casings}
            for table in self._tables:
                norm = texts[table.casefold]
                for phrase, (start, end) in first_places(list(table.index.find(norm.text))).items():
                    surface, snippet, span = _surface(norm, start, end)
                    for number in table.terms[phrase]:
                        add(number, name, surface, snippet, span)
            for number, term in self._regexes:
                result = term.regex.search(texts[False].text)
                if result and result.end() > result.start():
                    add(number, name, *_surface(texts[False], result.start(), result.end()))
        for index, tag in enumerate(article.topics):
            for table in self._tables:
                found_phrase = table.by_phrase.get(normalize_phrase(tag, casefold=table.casefold))
                for number in table.terms[found_phrase] if found_phrase is not None else ():
                    add(number, "topics", tag, tag, (index, index + 1))
            for number, term in self._regexes:
                if term.regex.fullmatch(normalize_phrase(tag, casefold=False)):
                    add(number, "topics", tag, tag, (index, index + 1))
        return found

    def _judge(
        self, index: int, article: Article, numbers: list[int], found: dict[int, list[Hit]]
    ) -> tuple[tuple[Hit, ...], str | None]:
        """The hits of rule `index` that count, and why it does not fire (None: it fires)."""
        rule = self.rules[index]
        by_group: dict[int, list[Hit]] = {}
        for number in numbers:
            hits = [hit for hit in found[number] if hit.field in rule.fields]
            if hits:
                by_group.setdefault(self.terms[number].group, []).extend(hits)
        positive = one_per_place(
            [hit for group, hits in sorted(by_group.items()) if group >= 0 for hit in hits]
        )
        if rule.sources and article.source not in rule.sources:
            return positive, f"source {article.source!r} is not in `sources`"
        if rule.has_own and OWN not in by_group:
            return positive, "none of its people, topics or keywords appear"
        for group in range(1, rule.all_groups + 1):
            if group not in by_group:
                return positive, f"nothing from all[{group - 1}] appears"
        for group in range(1, rule.none_groups + 1):
            if -group in by_group:
                veto = by_group[-group][0]
                return positive, f"vetoed by none: {veto.term!r} in {veto.field}"
        return positive, None


@contextmanager
def _cycle_collection_paused() -> Iterator[None]:
    """No cycle collection while a matcher is built: the build allocates a few objects per term and
    frees none, so the collector would walk the growing heap over and over for nothing (a third of
    the build at 100,000 terms). Reference counting still frees what is dropped."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _PhraseTable:
    """Distinct normalised phrases, the terms each stands for, and one index over them."""

    def __init__(self, casefold: bool) -> None:
        self.casefold = casefold  # phrases and texts case-folded, or matched as written
        self.added: list[tuple[int, str]] = []  # (term number, phrase as written) until `build`
        self.by_phrase: dict[str, int] = {}
        self.terms: list[list[int]] = []
        self.index = PhraseIndex([])

    def add(self, number: int, phrase: str) -> None:
        self.added.append((number, phrase))

    def build(self) -> _PhraseTable:
        """Normalise the added phrases (all at once: 100,000 take a fraction of a second) and index them."""
        phrases = normalize_phrases([phrase for _, phrase in self.added], casefold=self.casefold)
        terms = grouped(phrases, [number for number, _ in self.added])
        self.by_phrase = {phrase: slot for slot, phrase in enumerate(terms)}
        self.terms = list(terms.values())
        self.added = []
        self.index = PhraseIndex(list(self.by_phrase))
        return self


def _expand(rule_index: int, rule: RuleConfig) -> Iterable[Term]:
    groups: list[tuple[int, TermGroup]] = [(OWN, rule)]
    groups += [(i + 1, group) for i, group in enumerate(rule.all)]
    groups += [(-(i + 1), group) for i, group in enumerate(rule.none)]
    for number, group in groups:
        for person in group.people:
            names = [person.name, *person.aliases]
            words = person.name.split()
            if person.last_name_alone and len(words) > 1:
                names.append(words[-1])
            for name in dict.fromkeys(names):
                yield Term(rule_index, number, person.name, TermKind.PERSON, name)
        for kind, terms in ((TermKind.TOPIC, group.topics), (TermKind.KEYWORD, group.keywords)):
            for term in terms:
                yield _term(rule_index, number, kind, term)


def _term(rule_index: int, group: int, kind: TermKind, config: TermConfig) -> Term:
    if config.is_regex:
        pattern = config.term[1:-1]
        regex = _compile_regex(pattern, case_sensitive=config.case_sensitive)
        return Term(rule_index, group, config.term, kind, config.term, config.case_sensitive, regex)
    return Term(rule_index, group, config.term, kind, config.term, config.case_sensitive)


def _surface(norm: Normalized, start: int, end: int) -> tuple[str, str, tuple[int, int]]:
    """The words as written in the article, a one-line snippet around them, and where they are."""
    begin, finish = norm.span(start, end)
    text = norm.source
    left = max(0, begin - SNIPPET_CHARS)
    right = min(len(text), finish + SNIPPET_CHARS)
    prefix = "…" if left else ""
    suffix = "…" if right < len(text) else ""
    return text[begin:finish], prefix + " ".join(text[left:right].split()) + suffix, (begin, finish)


def first_places(finds: Sequence[tuple[int, int, int]]) -> dict[int, tuple[int, int]]:
    """Where each phrase is first found, from `finds` (phrase, start, end) in the order they end:
    the first place where it stands on its own if it does somewhere ("Putin" in "Putin said"), else
    its first place inside a longer find ("Putin" in "Vladimir Putin"). In the order they end."""
    first: dict[int, tuple[int, int]] = {}
    for phrase, start, end in finds:
        first.setdefault(phrase, (start, end))
    inside = _inside_longer(finds)
    if not inside:  # the usual case: no find is part of a longer one
        return first
    alone: dict[int, tuple[int, int]] = {}
    for number, (phrase, start, end) in enumerate(finds):
        if number not in inside:
            alone.setdefault(phrase, (start, end))
    places = {phrase: alone.get(phrase, place) for phrase, place in first.items()}
    ends = {(start, end): number for number, (_, start, end) in reversed(list(enumerate(finds)))}
    return dict(sorted(places.items(), key=lambda item: ends[item[1]]))


def _inside_longer(finds: Sequence[tuple[int, int, int]]) -> set[int]:
    """The numbers of the finds that lie within a longer find (same start or end included)."""
    inside: set[int] = set()
    order = sorted(range(len(finds)), key=lambda n: (finds[n][1], -finds[n][2]))
    reach = -1  # the furthest end of the finds that start before the current one
    group_start, group_end = -1, -1  # the current start and the longest find that starts there
    for number in order:
        _, start, end = finds[number]
        if start != group_start:
            reach = max(reach, group_end)
            group_start, group_end = start, end
        if reach >= end or group_end > end:
            inside.add(number)
    return inside


def one_per_place(hits: Sequence[Hit]) -> tuple[Hit, ...]:
    """`hits` with each place in a field named once: of hits that overlap there ("Vladimir Putin",
    and the alias "Putin" inside it), the longest is kept (the first of equally long ones). Order kept.
    """
    by_field: dict[str, list[int]] = defaultdict(list)
    for number, hit in enumerate(hits):
        by_field[hit.field].append(number)
    dropped: set[int] = set()
    for numbers in by_field.values():
        ordered = sorted(numbers, key=lambda n: (hits[n].start, hits[n].end))
        if all(hits[a].end <= hits[b].start for a, b in pairwise(ordered)):
            continue  # the usual case: nothing overlaps
        kept: list[Hit] = []
        for number in sorted(numbers, key=lambda n: hits[n].start - hits[n].end):  # longest first
            hit = hits[number]
            if any(k.start < hit.end and hit.start < k.end for k in kept):
                dropped.add(number)
            else:
                kept.append(hit)
    return tuple(hit for number, hit in enumerate(hits) if number not in dropped)


def check_examples(rules: Sequence[RuleConfig]) -> list[str]:
    """Each rule example that disagrees with its rule, as a sentence (empty: all agree)."""
    problems = []
    for rule in rules:
        # Examples are about the words: drop the source scope, keep fields, put the text everywhere.
        matcher = Matcher([rule.model_copy(update={"sources": []})])
        for expected, texts in ((True, rule.examples.match), (False, rule.examples.no_match)):
            for text in texts:
                article = Article("example", "example", text, text, "", (), None, None, "")
                verdict = matcher.explain(article)[0]
                if verdict.fired is not expected:
                    want = "match" if expected else "not match"
                    problems.append(f"rule {rule.name!r} should {want} {text!r}: {verdict.reason}")
    return problems


def notes(rules: Sequence[RuleConfig]) -> list[str]:
    """Settings that are valid but do nothing, as sentences for `newswatch check`."""
    return [
        f"rule {rule.name!r}: `cooldown` only spaces out the re-alerts of `on_update: true`;"
        " without it an article alerts once per rule anyway"
        for rule in rules
        if rule.cooldown is not None and not rule.on_update
    ]

"""The boilerplate list: whole lines that are page furniture, and tails cut off a story's last line.

Patterns are case-insensitive regular expressions matched against a whole (whitespace-normalised)
line. The defaults are listed here in one place; `cleaning.boilerplate` in the config adds to them
(or replaces them with `cleaning.replace_default_boilerplate: true`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DEFAULT_LINES: tuple[str, ...] = (
    r"advert(isement)?s?",
    r"(sponsored|promoted)( content| story| post)?",
    r"(\(|\[)?ad(\)|\])?",
    # Calls to action: "..., click here for more information." and the like.
    r".*\bclick here\b.*",
    r"(share|tweet|email|print|save)( this)?( article| story| page)?( on \w+)?[.:!]?",
    r"share (this|on) .{0,60}",
    r"(subscribe|sign up|register)( now| today| for free| here)?( to| for)? .{0,60}(newsletter|updates|"
    r"alerts|subscription|account|free)\b.{0,40}",
    r"follow us on .{0,80}",
    r"(read more|continue reading|read the full (story|article)|more on this story)"
    r"( (here|at|on) .{0,40})?\W*",
)
# Cut from the end of the last line: "... Continue reading →", "[…] Read more".
DEFAULT_TAILS: tuple[str, ...] = (r"\s*(\[?…\]?|\.\.\.)?\s*(read more|continue reading)\W*$",)
# A closing footer line whose comma-separated values become the article's topics.
TOPICS_FOOTER = re.compile(r"^\s*(topics|tags|filed under)\s*:\s*(?P<values>.*)$", re.IGNORECASE)


@dataclass(frozen=True)
class Boilerplate:
    """A compiled boilerplate list: whole-line patterns and last-line tails."""

    lines: tuple[re.Pattern[str], ...]
    tails: tuple[re.Pattern[str], ...]

    def is_furniture(self, line: str) -> bool:
        """Whether a whole line is page furniture (an `Advert` slot, a share prompt...)."""
        return any(pattern.fullmatch(line.strip()) for pattern in self.lines)

    def strip(self, lines: Sequence[str]) -> list[str]:
        """`lines` without furniture lines, and with a "Read more"-style tail cut off the last one."""
        kept = [line for line in lines if not self.is_furniture(line)]
        while kept:
            last = kept[-1]
            for pattern in self.tails:
                last = pattern.sub("", last)
            last = last.rstrip()
            if last:
                kept[-1] = last
                break
            kept.pop()
        return kept


def compile_boilerplate(extra: Iterable[str] = (), *, replace_defaults: bool = False) -> Boilerplate:
    """The default list plus `extra` line patterns (or `extra` alone), compiled case-insensitively."""
    sources = [*(() if replace_defaults else DEFAULT_LINES), *extra]
    return Boilerplate(
        tuple(re.compile(p, re.IGNORECASE) for p in sources),
        tuple(re.compile(p, re.IGNORECASE) for p in DEFAULT_TAILS),
    )


DEFAULT = compile_boilerplate()

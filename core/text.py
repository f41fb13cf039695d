"""Text as every database backend can store it: a plain function with no database import, so the
process stage's worker processes do not load SQLAlchemy for it."""

from __future__ import annotations

import re

_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def storable_text(text: str) -> str:
    """`text` as every backend stores it: NUL dropped, each lone surrogate (JSON's "\\ud800") made
    U+FFFD, the replacement character."""
    if _UNSTORABLE.search(text) is None:
        return text
    return _UNSTORABLE.sub(lambda found: "" if found[0] == "\x00" else "\ufffd", text)

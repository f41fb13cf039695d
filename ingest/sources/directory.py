"""The fixture source: a folder of article files (the `seeds/` folder out of the box)."""

from __future__ import annotations

import logging
from pathlib import Path

from core.db import storable_text
from core.errors import SourceError
from ingest.models import ContentKind, RawItem

log = logging.getLogger(__name__)

PATTERNS = ("*.txt", "*.md")


def read_directory(source: str, folder: Path, *, max_bytes: int) -> list[RawItem]:
    """Every article file below `folder`, keyed by its path; unreadable files are logged and skipped."""
    if not folder.is_dir():
        raise SourceError(source, f"folder {folder} does not exist or is not a folder")
    items = []
    paths = sorted({p for pattern in PATTERNS for p in folder.rglob(pattern)})
    for path in paths:
        relative = path.relative_to(folder).as_posix()
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        try:
            size = path.stat().st_size
            if size > max_bytes:
                log.warning(
                    "skipping file larger than fetch.max_bytes",
                    extra={"source": source, "file": relative, "bytes": size},
                )
                continue
            content = path.read_bytes().decode("utf-8", errors="replace")
        except OSError as exc:
            log.warning("cannot read file: %s", exc, extra={"source": source, "file": relative})
            continue
        # A file name that is not UTF-8 reaches Python with lone surrogates, which no backend stores.
        key = storable_text(f"file:{relative}")
        items.append(RawItem(source=source, key=key, content=content, kind=ContentKind.FIXTURE, url=None))
    return items

"""The fixture source: a folder of article files (the `seeds/` folder out of the box)."""

from __future__ import annotations

import fnmatch
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from core.errors import SourceError
from core.text import storable_text
from ingest.models import ContentKind, RawItem

log = logging.getLogger(__name__)

PATTERNS = ("*.txt", "*.md")


class FolderError(SourceError):
    """A folder source that cannot be read, whole or in part: the poll fails, naming the path and
    the OS error (an unreadable folder is not an empty one)."""


def article_files(source: str, folder: Path) -> list[Path]:
    """The article files below `folder` (hidden files and folders left out), sorted; raises
    FolderError when the folder, or any folder below it, is missing or cannot be listed."""
    try:
        is_folder = folder.is_dir()
    except (OSError, ValueError) as exc:  # a name too long, ...
        raise FolderError(
            source, f"cannot read folder {folder}: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    if not is_folder:
        raise FolderError(source, f"folder {folder} does not exist or is not a folder")

    def refuse(exc: OSError) -> None:
        where = exc.filename if exc.filename is not None else folder
        raise FolderError(source, f"cannot read folder {where}: {exc.strerror or exc}")

    found = []
    for root, folders, files in os.walk(folder, onerror=refuse):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        found += [
            Path(root, name)
            for name in files
            if not name.startswith(".") and any(fnmatch.fnmatchcase(name, p) for p in PATTERNS)
        ]
    return sorted(found)


def read_directory(source: str, folder: Path, *, max_bytes: int) -> list[RawItem]:
    """Every article file below `folder`, keyed by its path and dated by its modification time. A
    folder that cannot be listed or a file that cannot be read fails the poll (FolderError); a file
    over `max_bytes` is skipped."""
    items = []
    for path in article_files(source, folder):
        relative = path.relative_to(folder).as_posix()
        try:
            stat = path.stat()
            size = stat.st_size
            if size > max_bytes:
                log.warning(
                    "skipping file larger than fetch.max_bytes",
                    extra={"source": source, "file": relative, "bytes": size},
                )
                continue
            content = path.read_bytes().decode("utf-8", errors="replace")
        except FileNotFoundError:  # removed since the folder was listed (an editor saving, say)
            continue
        except OSError as exc:
            raise FolderError(source, f"cannot read file {path}: {exc.strerror or exc}") from None
        # A file name that is not UTF-8 reaches Python with lone surrogates, which no backend stores.
        key = storable_text(f"file:{relative}")
        # A file says nothing of when it was published; when it was last written is the best guess
        # (not the time of the poll, which would make every fixture look brand new).
        published = datetime.fromtimestamp(stat.st_mtime, UTC)
        items.append(
            RawItem(
                source=source,
                key=key,
                content=content,
                kind=ContentKind.FIXTURE,
                url=None,
                published_at=published,
            )
        )
    return items

"""The fixture-folder source: files become items keyed by their path, stored on every backend."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from core.db import ArticleRow, Database
from ingest.boilerplate import compile_boilerplate
from ingest.clean import clean
from ingest.sources.directory import read_directory
from ingest.store import store_articles


def test_a_file_name_that_is_not_utf8_is_read_and_stored(tmp_path: Path, db: Database) -> None:
    folder = tmp_path / "seeds"
    folder.mkdir()
    name = os.fsencode(folder) + b"/caf\xe9.txt"  # Latin-1 bytes: not UTF-8
    with open(name, "wb") as file:
        file.write(b"Putin visits\nVladimir Putin visited the port on Tuesday.\n")
    [item] = read_directory("seeds", folder, max_bytes=1_000_000)
    assert item.key == "file:caf\ufffd.txt"
    article = clean(item, compile_boilerplate([]))
    with db.session() as session:
        [stored] = store_articles(session, [article], datetime(2026, 11, 29, tzinfo=UTC))
    assert stored.is_new


def test_a_file_is_published_when_it_was_last_written_not_when_it_was_polled(
    tmp_path: Path, db: Database
) -> None:
    folder = tmp_path / "seeds"
    folder.mkdir()
    path = folder / "story.txt"
    path.write_text("Port reopens\nThe port reopened on Tuesday.\n", encoding="utf-8")
    written = datetime(2026, 3, 18, 6, 45, tzinfo=UTC)
    os.utime(path, (written.timestamp(), written.timestamp()))
    [item] = read_directory("seeds", folder, max_bytes=1_000_000)
    assert item.published_at == written
    article = clean(item, compile_boilerplate([]))
    polled = datetime(2026, 11, 29, tzinfo=UTC)
    with db.session() as session:
        [stored] = store_articles(session, [article], polled)
        row = session.get(ArticleRow, stored.id)
        assert row is not None
        assert row.published_at == written and row.first_seen_at == polled

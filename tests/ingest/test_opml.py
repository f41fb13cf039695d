"""OPML import and export through the CLI, against a real config file (no database is opened)."""

from __future__ import annotations

from newswatch.settings import load_config
from tests.conftest import Workspace

CONFIG = """# the desk's config
sources:
  - name: desk   # the fixture folder
    directory: ../seeds
  - name: wire
    feed: https://wire.example/rss
channels:
  - name: terminal
    console: true
"""

OPML = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>Subscriptions</title></head><body>
  <outline text="World">
    <outline type="rss" text="Wire again" xmlUrl="https://wire.example/rss"/>
    <outline type="rss" text="Le Monde: International" xmlUrl="https://lemonde.example/international/rss"/>
    <outline type="rss" title="Wire" xmlUrl="https://other.example/atom"/>
    <outline type="rss" text="Local file" xmlUrl="file:///etc/passwd"/>
  </outline>
</body></opml>"""


def test_import_appends_new_feeds_keeping_comments_and_export_writes_them(bare_workspace: Workspace) -> None:
    bare_workspace.write_config(CONFIG)
    opml = bare_workspace.root / "feeds.opml"
    opml.write_bytes(OPML)
    result = bare_workspace.cli("sources", "import", str(opml))
    assert result.returncode == 0, result.stderr
    assert "imported 2 feed sources" in result.stdout
    text = bare_workspace.config.read_text(encoding="utf-8")
    assert text.startswith("# the desk's config") and "# the fixture folder" in text
    config = load_config(bare_workspace.config)
    assert [(s.name, s.feed) for s in config.sources] == [
        ("desk", None),
        ("wire", "https://wire.example/rss"),
        ("le-monde-international", "https://lemonde.example/international/rss"),
        ("wire-2", "https://other.example/atom"),
    ]
    assert [c.name for c in config.channels] == ["terminal"]

    again = bare_workspace.cli("sources", "import", str(opml))
    assert again.returncode == 0 and "nothing to import" in again.stdout

    exported = bare_workspace.cli("sources", "export")
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.count("<outline ") == 3
    assert 'xmlUrl="https://lemonde.example/international/rss"' in exported.stdout

    out = bare_workspace.root / "out.opml"
    assert bare_workspace.cli("sources", "export", "-o", str(out)).returncode == 0
    fresh = bare_workspace.root / "fresh"
    fresh.mkdir()
    other = Workspace(fresh, bare_workspace.env)
    other.write_config("# a fresh config: no sources yet\n")
    assert other.cli("sources", "import", str(out)).returncode == 0
    assert [s.feed for s in load_config(other.config).sources] == [
        "https://wire.example/rss",
        "https://lemonde.example/international/rss",
        "https://other.example/atom",
    ]


def test_import_of_a_file_that_is_not_opml_is_a_one_line_error(bare_workspace: Workspace) -> None:
    bare_workspace.write_config(CONFIG)
    bad = bare_workspace.root / "feeds.opml"
    bad.write_bytes(b"<html>nope</html>")
    result = bare_workspace.cli("sources", "import", str(bad))
    assert result.returncode == 2
    assert "not an OPML file" in result.stderr and "Traceback" not in result.stderr
    assert bare_workspace.config.read_text(encoding="utf-8") == CONFIG

"""`newswatch check` reports a feed the address guard refuses for certain (an IP address or localhost
that fetch.allow_private_addresses does not allow), in the words the poll would fail with."""

from __future__ import annotations

import pytest

from newswatch.cli import main
from tests.conftest import Workspace

CONFIG = """\
{fetch}
sources:
  - name: local
    feed: {feed}
channels:
  - name: terminal
    console: true
rules:
  - name: r
    keywords: [election]
    notify: [terminal]
"""


@pytest.mark.parametrize(
    ("feed", "fetch", "refused"),
    [
        ("http://127.0.0.1:8000/feed.xml", "", "127.0.0.1"),
        ("http://localhost:8000/feed.xml", "", "127.0.0.1"),
        ("http://[::1]:8000/feed.xml", "", "::1"),
        ("http://10.1.2.3/feed.xml", "fetch: {allow_private_addresses: [127.0.0.1]}", "10.1.2.3"),
        ("http://127.0.0.1:8000/feed.xml", "fetch: {allow_private_addresses: [127.0.0.1]}", None),
        ("http://127.0.0.1:8000/feed.xml", "fetch: {allow_private_addresses: true}", None),
        ("http://localhost:8000/feed.xml", "fetch: {allow_private_addresses: [localhost]}", None),
        ("http://10.1.2.3/feed.xml", "fetch: {allow_private_addresses: [10.0.0.0/8]}", None),
        ("http://93.184.215.14/feed.xml", "", None),  # a public address
        ("https://example.org/rss.xml", "", None),  # a name: known only when resolved, at poll time
    ],
)
def test_check_refuses_a_feed_at_an_address_the_guard_refuses(
    bare_workspace: Workspace,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    feed: str,
    fetch: str,
    refused: str | None,
) -> None:
    path = bare_workspace.write_config(CONFIG.format(feed=feed, fetch=fetch))
    monkeypatch.setenv("NEWSWATCH_DATABASE_URL", bare_workspace.env["NEWSWATCH_DATABASE_URL"])
    code = main(["-c", str(path), "check"])
    err = capsys.readouterr().err
    if refused is None:
        assert code == 0, err
        assert "non-public" not in err
    else:
        assert code == 2
        assert "source 'local': " in err and f"non-public address {refused};" in err
        assert "fetch.allow_private_addresses" in err

"""Config: loading, defaults, `${VAR}`, relative paths, and errors a person can act on (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import config_path, parse_duration
from core.errors import ConfigError
from newswatch.settings import load_config
from tests.conftest import ROOT, Workspace

GOOD = """\
database: sqlite:///data/nw.db
sources:
  - name: desk
    directory: ../seeds
    every: 1m
channels:
  - name: hook
    webhook: ${HOOK_URL:-http://127.0.0.1:9/hook}
    secret: ${SECRET}
rules:
  - name: r
    people: [Vladimir Putin]
    notify: [hook]
"""
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_demo_config_in_the_repo_is_valid() -> None:
    config = load_config(ROOT / "config" / "newswatch.yaml", environ={})
    assert [s.name for s in config.sources] == ["desk"]
    assert config.sources[0].directory == ROOT / "seeds"
    assert config.database == f"sqlite:///{ROOT / 'config' / 'newswatch.db'}"


def test_paths_are_relative_to_the_config_and_env_is_expanded(bare_workspace: Workspace) -> None:
    config = load_config(bare_workspace.write_config(GOOD), environ={"SECRET": SECRET})
    assert config.sources[0].directory == bare_workspace.seeds
    assert config.database == f"sqlite:///{bare_workspace.root / 'config' / 'data' / 'nw.db'}"
    assert config.channels[0].secret == SECRET
    assert config.channels[0].webhook == "http://127.0.0.1:9/hook"
    assert config.sources[0].every.total_seconds() == 60


def test_database_env_overrides(bare_workspace: Workspace) -> None:
    environ = {"SECRET": SECRET, "NEWSWATCH_DATABASE_URL": "sqlite:////tmp/other.db"}
    assert load_config(bare_workspace.write_config(GOOD), environ).database == "sqlite:////tmp/other.db"


def test_full_text_is_off_by_default_and_its_settings_read(bare_workspace: Workspace) -> None:
    text = (
        "full_text: {short_text: 800, per_host: 1, host_delay: 0}\n"
        "sources:\n  - {name: a, feed: 'https://a.example/rss'}\n"
        "  - {name: b, feed: 'https://b.example/rss', full_text: auto}\n"
    )
    config = load_config(bare_workspace.write_config(text), environ={})
    assert [s.full_text for s in config.sources] == ["never", "auto"]
    assert (config.full_text.short_text, config.full_text.per_host) == (800, 1)
    assert config.full_text.host_delay.total_seconds() == 0
    default = load_config(bare_workspace.write_config("sources: []\n"), environ={}).full_text
    assert (default.short_text, default.per_host, default.host_delay.total_seconds()) == (500, 2, 1)


def test_config_path_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSWATCH_CONFIG", "/etc/nw.yaml")
    assert config_path("x.yaml") == Path("x.yaml")
    assert config_path(None) == Path("/etc/nw.yaml")
    monkeypatch.delenv("NEWSWATCH_CONFIG")
    assert config_path(None) == Path("config/newswatch.yaml")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), (45, 45), ("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400), ("1.5m", 90)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


BAD_CASES = [
    pytest.param(
        "sources:\n  - name: a\n\tevery: 1m\n",
        "newswatch.yaml:3:1: YAML syntax error: found a tab character that violates indentation",
        id="yaml-syntax",
    ),
    pytest.param(
        "sources:\n  - name: a\n    every: [1m\n",
        "YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence at line 3,"
        " column 12)",
        id="yaml-unclosed",
    ),
    pytest.param(
        "sources:\n  - name: a\n    directory: x\n    every: soon\n",
        "sources[0].every (source 'a'): 'soon' is not a duration",
        id="bad-duration",
    ),
    pytest.param(
        "sources:\n  - name: a\n    directory: x\n    colour: red\n",
        "sources[0].colour (source 'a'): unknown key",
        id="unknown-key",
    ),
    pytest.param(
        "sources:\n  - name: a\n", "sources[0] (source 'a'): a source needs exactly one", id="source-kind"
    ),
    pytest.param(
        "sources:\n  - name: a\n    feed: ftp://x/y\n",
        "sources[0].feed (source 'a'): 'ftp://x/y' is not an http",
        id="feed-scheme",
    ),
    pytest.param(
        "channels: [{name: t, console: true}]\nrules: [{name: r, people: [Putin], notify: [t, pager]}]\n",
        "rules[0].notify[1]: rule 'r' notifies unknown channel 'pager' (channels: t)",
        id="unknown-channel",
    ),
    pytest.param(
        "channels: [{name: h, webhook: 'http://x/', secret: '${NOPE}'}]\n",
        "channels[0].secret: environment variable NOPE is not set",
        id="missing-env",
    ),
    pytest.param(
        "channels: [{name: h, webhook: 'http://x/', secret: 'not base64!'}]\n",
        "channels[0].secret (channel 'h'): a webhook secret must be whsec_",
        id="bad-secret",
    ),
    pytest.param(
        "channels: [{name: t, console: true}]\nrules: [{name: r, notify: [t]}]\n",
        "rules[0] (rule 'r'): a rule needs at least one of",
        id="empty-rule",
    ),
    pytest.param(
        "channels: [{name: t, console: true}, {name: t, console: true}]\n",
        "two channels are named 't'",
        id="duplicate-name",
    ),
    pytest.param("- just\n- a list\n", "the top level must be a mapping", id="top-level-list"),
    pytest.param(
        f"sources: [{{name: {'s' * 201}, feed: 'https://x.example/rss'}}]\n",
        f"sources[0].name (source '{'s' * 201}'): String should have at most 200 characters",
        id="source-name-too-long",
    ),
    pytest.param(
        f"channels: [{{name: {'c' * 201}, console: true}}]\n",
        f"channels[0].name (channel '{'c' * 201}'): String should have at most 200 characters",
        id="channel-name-too-long",
    ),
    pytest.param(
        "channels: [{name: t, console: true}]\n"
        f"rules: [{{name: {'r' * 201}, people: [Putin], notify: [t]}}]\n",
        f"rules[0].name (rule '{'r' * 201}'): String should have at most 200 characters",
        id="rule-name-too-long",
    ),
    pytest.param(
        "sources: [{name: a, feed: 'https://x.example/rss', full_text: sometimes}]\n",
        "sources[0].full_text (source 'a'): Input should be 'auto', 'always' or 'never'",
        id="full-text-mode",
    ),
    pytest.param(
        "sources: [{name: a, directory: x, full_text: auto}]\n",
        "sources[0] (source 'a'): `full_text` applies to feed sources only",
        id="full-text-folder",
    ),
    pytest.param(
        "full_text: {host_delay: 2m}\n",
        "full_text.host_delay: 2m is too long; at most 1m",
        id="full-text-delay",
    ),
    pytest.param(
        "full_text: {per_host: 0}\n",
        "full_text.per_host: Input should be greater than 0",
        id="full-text-per-host",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_CASES)
def test_bad_config_raises_a_readable_error(bare_workspace: Workspace, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(bare_workspace.write_config(text), environ={})
    assert message in str(caught.value)


@pytest.mark.parametrize(("text", "message"), BAD_CASES[:1] + BAD_CASES[6:7])
def test_check_exits_2_with_the_message_and_no_traceback(
    bare_workspace: Workspace, text: str, message: str
) -> None:
    bare_workspace.write_config(text)
    result = bare_workspace.cli("check")
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    result = Workspace(tmp_path).cli("check")
    assert result.returncode == 2
    assert "config file not found" in result.stderr


def test_check_accepts_a_good_config(bare_workspace: Workspace) -> None:
    bare_workspace.write_config(GOOD)
    result = bare_workspace.cli("check", env={"SECRET": SECRET})
    assert result.returncode == 0, result.stderr
    assert "config OK: 1 sources, 1 channels, 1 rules" in result.stdout


def test_usage_error_exits_2(bare_workspace: Workspace) -> None:
    bare_workspace.write_config(GOOD)
    result = bare_workspace.cli("articles", "--limit", "zero")
    assert result.returncode == 2
    assert "not a whole number" in result.stderr

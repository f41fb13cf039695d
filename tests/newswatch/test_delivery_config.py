"""Delivery keys in the config: rotation lists, secrets files, formats, digests, rate limits."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from core.errors import ConfigError
from newswatch.settings import load_config

NEW = "whsec_" + base64.b64encode(b"n" * 32).decode()
OLD = "whsec_" + base64.b64encode(b"o" * 32).decode()
RULES = "rules: [{name: r, people: [Putin], notify: [h], digest: daily}]\n"


def write(tmp_path: Path, channel: str) -> Path:
    path = tmp_path / "newswatch.yaml"
    path.write_text(f"channels:\n  - name: h\n    webhook: http://x/\n{channel}\n{RULES}")
    return path


def test_the_new_keys_load(tmp_path: Path) -> None:
    (tmp_path / "hook.j2").write_text("{{ type }}")
    config = load_config(
        write(
            tmp_path,
            f"    secret: [{NEW}, {OLD}]\n    format: template\n    template: hook.j2\n"
            "    retry: [1s, 2m]\n    digest: hourly\n    rate_limit: {count: 3, per: 1m, burst: 5}",
        ),
        environ={},
    )
    channel = config.channels[0]
    assert channel.secrets == [NEW, OLD]
    assert channel.template == (tmp_path / "hook.j2").resolve()
    assert [d.total_seconds() for d in channel.retry or []] == [1, 120]
    assert channel.digest == "hourly" and channel.rate_limit is not None and channel.rate_limit.burst == 5
    assert config.rules[0].digest == "daily"


def test_a_secrets_file_is_read_newest_first(tmp_path: Path) -> None:
    (tmp_path / "s").write_text(f"# rotated 2026-11\n{NEW}\n\n{OLD}\n")
    config = load_config(write(tmp_path, "    secret_file: s"), environ={})
    assert config.channels[0].secrets == [NEW, OLD]


@pytest.mark.parametrize(
    ("channel", "files", "message"),
    [
        ("    secret_file: missing", {}, "secret_file"),
        ("    secret_file: s", {"s": "# nothing\n"}, "holds no secret"),
        ("    secret_file: s", {"s": "not-a-secret\n"}, "secret 1: a webhook secret must be whsec_"),
        (f"    secret: [{NEW}, nope]", {}, "channels[0].secret (channel 'h'): a webhook secret must hold"),
        (f"    secret: {NEW}\n    secret_file: s", {}, "not both"),
        ("    format: template", {}, "`format: template` and `template: <file>` go together"),
        ("    format: teams", {}, "channels[0].format (channel 'h')"),
        ("    digest: weekly", {}, "channels[0].digest (channel 'h')"),
        ("    rate_limit: {count: 0}", {}, "rate_limit.count"),
    ],
)
def test_bad_delivery_keys_say_what_to_fix(
    tmp_path: Path, channel: str, files: dict[str, str], message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, channel), environ={})
    assert message in str(caught.value)
    assert "not-a-secret" not in str(caught.value)

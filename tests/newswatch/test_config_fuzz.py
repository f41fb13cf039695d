"""A table of broken configs: every one is refused by `check` and `run` with exit 2, one line on
stderr that says where, and no traceback. Deleted keys, swapped types, huge and negative numbers,
unicode, an empty file, a binary file, alias bombs and `!!python/object` tags.

The CLI's `main` is called in process (fast; an exception escaping it fails the test as a traceback
would); a few cases also go through a real `newswatch` child process."""

from __future__ import annotations

import copy
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from newswatch.cli import main

BASE: dict[str, Any] = {
    "database": "sqlite:///nw.db",
    "fetch": {
        "allow_private_addresses": False,
        "timeout": "30s",
        "max_bytes": 1048576,
        "concurrency": 5,
        "max_redirects": 3,
        "backoff": "1m",
        "max_backoff": "6h",
    },
    "dedup": {"threshold": 0.5, "window": "7d"},
    "sources": [
        {"name": "desk", "directory": "seeds", "every": "10m"},
        {"name": "wire", "feed": "http://wire.example.org:8080/rss.xml", "every": "15m", "timeout": "10s"},
    ],
    "channels": [
        {
            "name": "newsroom",
            "webhook": "http://127.0.0.1:9/hook",
            "timeout": "15s",
            "retry": ["1m", "5m"],
            "rate_limit": {"count": 10, "per": "1m"},
        },
        {
            "name": "mail",
            "email": {"to": ["desk@example.org"], "from": "nw@example.org", "smtp": {"host": "127.0.0.1"}},
        },
    ],
    "rules": [
        {
            "name": "war",
            "people": ["Vladimir Putin"],
            "topics": ["refugees"],
            "notify": ["newsroom"],
            "cooldown": "1h",
            "max_per_hour": 5,
        }
    ],
    "retention": {"articles": "90d", "alerts": "30d"},
    "http": {"listen": "127.0.0.1:8787"},
    "health": {"notify": ["newsroom"]},
    "shutdown_grace": "5s",
}

Path_ = tuple[str | int, ...]


def _set(path: Path_, value: Any) -> Callable[[dict[str, Any]], Any]:
    def mutate(config: dict[str, Any]) -> Any:
        *parents, last = path
        node: Any = config
        for part in parents:
            node = node[part]
        node[last] = value
        return config

    return mutate


def _delete(path: Path_) -> Callable[[dict[str, Any]], Any]:
    def mutate(config: dict[str, Any]) -> Any:
        *parents, last = path
        node: Any = config
        for part in parents:
            node = node[part]
        del node[last]
        return config

    return mutate


def _rename_top(old: str, new: str) -> Callable[[dict[str, Any]], Any]:
    def mutate(config: dict[str, Any]) -> Any:
        config[new] = config.pop(old)
        return config

    return mutate


def _alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Case:
    id: str
    says: str  # a part of the one line of stderr: the key path, or what is wrong
    mutate: Callable[[dict[str, Any]], Any] | None = None
    text: str | bytes | None = None  # the whole file, instead of a mutation of BASE


BASE_YAML = yaml.safe_dump(BASE, sort_keys=False)

CASES = [
    # deleted keys
    Case("no-source-name", "sources[0].name", _delete(("sources", 0, "name"))),
    Case("no-rule-notify", "rules[0].notify (rule 'war'): Field required", _delete(("rules", 0, "notify"))),
    Case("no-email-to", "channels[1].email.to", _delete(("channels", 1, "email", "to"))),
    Case("no-email-from", "channels[1].email.from", _delete(("channels", 1, "email", "from"))),
    Case("no-feed-or-folder", "needs exactly one of `directory` or `feed`", _delete(("sources", 1, "feed"))),
    Case("no-sources-key", "has no sources; see config/newswatch.yaml", _delete(("sources",))),
    # swapped types
    Case("sources-a-string", "sources:", _set(("sources",), "desk")),
    Case("every-a-list", "sources[0].every", _set(("sources", 0, "every"), [1, 2])),
    Case("timeout-a-mapping", "fetch.timeout", _set(("fetch", "timeout"), {"a": 1})),
    Case("max-bytes-a-word", "fetch.max_bytes", _set(("fetch", "max_bytes"), "lots")),
    Case("people-a-number", "rules[0].people", _set(("rules", 0, "people"), 42)),
    Case("webhook-a-number", "channels[0].webhook", _set(("channels", 0, "webhook"), 12345)),
    Case(
        "allow-private-a-mapping",
        "fetch.allow_private_addresses",
        _set(("fetch", "allow_private_addresses"), {"x": 1}),
    ),
    Case("threshold-a-word", "dedup.threshold", _set(("dedup", "threshold"), "high")),
    Case("enabled-maybe", "sources[0].enabled", _set(("sources", 0, "enabled"), "maybe")),
    Case("top-level-a-list", "the top level must be a mapping", text="- sources\n- rules\n"),
    # huge and negative numbers
    Case("every-1e20-days", "sources[0].every", _set(("sources", 0, "every"), "99999999999999999999d")),
    Case("timeout-1e308", "fetch.timeout", _set(("fetch", "timeout"), 1e308)),
    Case("grace-1e30", "shutdown_grace", _set(("shutdown_grace",), 10**30)),
    Case("timeout-inf", "fetch.timeout", _set(("fetch", "timeout"), float("inf"))),
    Case("backoff-nan", "fetch.backoff", _set(("fetch", "backoff"), float("nan"))),
    Case("max-backoff-negative", "fetch.max_backoff", _set(("fetch", "max_backoff"), "-5m")),
    Case(
        "max-backoff-a-year",
        "fetch.max_backoff: 365d is too long; at most 30d",
        _set(("fetch", "max_backoff"), "365d"),
    ),
    Case(
        "source-timeout-2h",
        "sources[1].timeout (source 'wire'): 2h is too long; at most 1h",
        _set(("sources", 1, "timeout"), "2h"),
    ),
    Case("max-bytes-1e30", "fetch.max_bytes", _set(("fetch", "max_bytes"), 10**30)),
    Case("max-bytes-negative", "fetch.max_bytes", _set(("fetch", "max_bytes"), -1)),
    Case("concurrency-zero", "fetch.concurrency", _set(("fetch", "concurrency"), 0)),
    Case(
        "rate-limit-1e20",
        "channels[0].rate_limit.count",
        _set(("channels", 0, "rate_limit", "count"), 10**20),
    ),
    Case("max-per-hour-negative", "rules[0].max_per_hour", _set(("rules", 0, "max_per_hour"), -3)),
    Case("every-zero", "sources[0].every", _set(("sources", 0, "every"), 0)),
    Case(
        "every-hex-of-5000-digits",
        "sources[0].every",
        text=BASE_YAML.replace("every: 10m", "every: 0x" + "f" * 5000),
    ),
    Case(
        "max-bytes-hex-of-5000-digits",
        "fetch.max_bytes",
        text=BASE_YAML.replace("max_bytes: 1048576", "max_bytes: 0x" + "f" * 5000),
    ),
    Case(
        "threshold-hex-of-5000-digits",
        "dedup.threshold",
        text=BASE_YAML.replace("threshold: 0.5", "threshold: 0x" + "f" * 5000),
    ),
    Case(
        "int-of-5000-digits",
        "cannot read the value: Exceeds the limit (4300 digits)",
        text=BASE_YAML.replace("concurrency: 5", "concurrency: " + "9" * 5000),
    ),
    Case(
        "impossible-date",
        "cannot read the value: month must be in 1..12",
        text="when: 2001-13-45\n" + BASE_YAML,
    ),
    Case("listen-port-99999", "http.listen", _set(("http", "listen"), "127.0.0.1:99999")),
    # URLs httpx would not accept
    Case(
        "octal-feed-address",
        "sources[1].feed (source 'wire'): 'http://0177.0.0.1:8080/rss.xml' is not a URL that can be"
        " fetched: Invalid IPv4 address",
        _set(("sources", 1, "feed"), "http://0177.0.0.1:8080/rss.xml"),
    ),
    Case("feed-port-99999", "a port is 1 to 65535", _set(("sources", 1, "feed"), "http://127.0.0.1:99999/")),
    Case("webhook-bad-ipv6", "channels[0].webhook", _set(("channels", 0, "webhook"), "http://[::1/hook")),
    Case(
        "allow-private-nonsense",
        "is neither a network",
        _set(("fetch", "allow_private_addresses"), ["not a net!"]),
    ),
    Case("database-url-garbage", "database: is not a database URL", _set(("database",), "nonsense://::::")),
    Case("folder-with-nul", "sources[0].directory", _set(("sources", 0, "directory"), "seeds\x00x")),
    Case(
        "header-with-crlf", "sources[1].headers", _set(("sources", 1, "headers"), {"X-A": "a\r\nHost: evil"})
    ),
    Case(
        "header-name-not-a-token",
        "is not an HTTP header name",
        _set(("sources", 1, "headers"), {"X A:": "b"}),
    ),
    Case("user-agent-with-newline", "fetch.user_agent", _set(("fetch", "user_agent"), "nw\nX: y")),
    Case("listen-port-5000-digits", "http.listen", _set(("http", "listen"), "127.0.0.1:" + "9" * 5000)),
    # unicode
    Case("name-too-long", "sources[0].name", _set(("sources", 0, "name"), "デスク" * 100)),
    Case("homoglyph-key", "sоurces: unknown key", _rename_top("sources", "sоurces")),  # Cyrillic о
    Case("person-only-marks", "rules[0].people[0]", _set(("rules", 0, "people"), ["\u0301\u0301"])),
    Case(
        "feed-host-idna", "is not a URL that can be fetched", _set(("sources", 1, "feed"), "http://例え..jp/")
    ),
    Case("nul-in-text", "YAML syntax error", text="sources:\n  - name: a\x00b\n"),
    # empty, binary, huge, bombs and tags
    Case("empty-file", "has no sources; see config/newswatch.yaml for an example", text=""),
    Case("only-comments", "has no sources", text="# nothing here yet\n"),
    Case("no-sources-list", "has no sources", text="sources: []\n"),
    Case("binary-file", "not UTF-8 text", text=bytes(range(256)) * 64),
    Case("eleven-megabytes", "larger than 10 MB", text="# padding\n" * (11 * 1024 * 1024 // 10)),
    Case("alias-bomb", "aliases (*name) would expand to", text=_alias_bomb() + BASE_YAML),
    Case("alias-bomb-under-sources", "aliases", text=_alias_bomb(6, 10) + "sources: [*l5]\n"),
    Case("alias-self-reference", "refers to the node that contains it", text="sources: &s [*s]\n"),
    Case(
        "python-object",
        "YAML tag 'tag:yaml.org,2002:python/object:os.system' is not allowed",
        text="sources: !!python/object:os.system {}\n",
    ),
    Case(
        "python-apply",
        "python/object/apply",
        text="x: !!python/object/apply:os.system [echo hi]\n" + BASE_YAML,
    ),
    Case(
        "deep-nesting",
        "nested more than 100 levels",
        text="x:\n" + "".join(" " * i + "- \n" for i in range(1, 150)) + BASE_YAML,
    ),
    Case("syntax-error", "YAML syntax error", text="sources: [unclosed\n"),
    Case("tab-indent", "YAML syntax error", text="sources:\n\t- name: a\n"),
]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "seeds").mkdir()
    return tmp_path


def _write(folder: Path, case: Case) -> Path:
    path = folder / "newswatch.yaml"
    if case.text is not None:
        data = case.text.encode("utf-8") if isinstance(case.text, str) else case.text
        path.write_bytes(data)
    else:
        assert case.mutate is not None
        path.write_text(yaml.safe_dump(case.mutate(copy.deepcopy(BASE)), sort_keys=False), encoding="utf-8")
    return path


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


def test_the_unbroken_config_is_valid(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = folder / "newswatch.yaml"
    path.write_text(BASE_YAML, encoding="utf-8")
    assert main(["--config", str(path), "check"]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("command", ["check", "run"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_broken_config_is_one_line_and_exit_2(
    folder: Path, case: Case, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(folder, case)
    started = time.monotonic()
    code = main(["--config", str(path), command, *(["--once"] if command == "run" else [])])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert time.monotonic() - started < 5  # an alias bomb is refused, not expanded
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("newswatch: "), err
    assert str(path) in lines[0]  # names the file
    assert case.says in lines[0]
    assert "Traceback" not in err and not out
    assert not (folder / "nw.db").exists()  # refused before anything was opened


# The test above calls `main` in process for every case and both commands; these go through a child
# process, the command as a user runs it, each case once (a process start costs about 2 s of CPU).
@pytest.mark.parametrize(
    ("case_id", "command"),
    [
        ("alias-bomb", ["check"]),
        ("python-apply", ["run", "--once"]),
        ("binary-file", ["check"]),
        ("timeout-1e308", ["run", "--once"]),
    ],
)
def test_through_the_real_command(folder: Path, case_id: str, command: list[str]) -> None:
    case = next(c for c in CASES if c.id == case_id)
    path = _write(folder, case)
    done = subprocess.run(
        [sys.executable, "-m", "newswatch", "--config", str(path), *command],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert case.says in done.stderr and "Traceback" not in done.stderr

"""The installed `newswatch` command, in a child process as a user runs it. Every other CLI test calls
the same `main` in process (tests/conftest.py `run_cli`); these check what only a process shows: the
console script pyproject installs, its exit codes, and its output on pipes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.version import __version__
from tests.conftest import HttpServer, Workspace

SCRIPT = Path(sys.executable).parent / "newswatch"  # where pip put the console script


def newswatch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


def test_the_console_script_is_installed_and_says_its_version() -> None:
    done = newswatch("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"newswatch {__version__}"


@pytest.mark.only_backend("sqlite", reason="about the process; the commands run on both backends in process")
def test_the_console_script_runs_once_and_delivers_then_refuses_bad_input_with_exit_2(
    workspace: Workspace, http_server: HttpServer
) -> None:
    workspace.write_config(
        "sources: [{name: desk, directory: ../seeds}]\n"
        f"channels: [{{name: newsroom, webhook: {http_server.url('/hook')}}}]\n"
        "rules: [{name: kremlin, people: [Vladimir Putin], notify: [newsroom]}]\n"
    )
    config = ["--config", str(workspace.config)]
    done = newswatch(*config, "run", "--once", env=workspace.env)
    assert done.returncode == 0, done.stderr
    assert [r.path for r in http_server.received] == ["/hook"]
    # Standard error is a pipe, not a terminal: the log is JSON lines.
    assert all(json.loads(line)["level"] for line in done.stderr.splitlines() if line.strip())

    usage = newswatch(*config, "articles", "--limit", "zero", env=workspace.env)
    assert usage.returncode == 2 and "not a whole number" in usage.stderr
    workspace.write_config("sources: [{name: desk, directory: ../seeds, every: often}]\n")
    broken = newswatch(*config, "check", env=workspace.env)
    assert broken.returncode == 2
    assert len(broken.stderr.strip().splitlines()) == 1 and "Traceback" not in broken.stderr

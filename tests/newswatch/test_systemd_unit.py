"""deploy/newswatch.service, the systemd unit that docs/operations.md shows, is one systemd accepts
and runs commands that exist."""

from __future__ import annotations

import configparser
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from newswatch.cli import build_parser
from tests.conftest import ROOT

UNIT = ROOT / "deploy" / "newswatch.service"
INSTALLED = "/opt/newswatch/.venv/bin/newswatch"


def _service() -> configparser.SectionProxy:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    unit.read_string(UNIT.read_text(encoding="utf-8"))
    return unit["Service"]


def test_the_unit_runs_newswatch_commands_that_exist_and_reloads_with_sighup() -> None:
    service = _service()
    for key in ("ExecStartPre", "ExecStart"):
        program, *args = shlex.split(service[key])
        assert program == INSTALLED
        build_parser().parse_args(args)  # `check`, `run`: real commands
    assert shlex.split(service["ExecStart"])[1:] == ["run"]
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["User"] != "root" and service["NoNewPrivileges"] == "yes"
    assert service["KillSignal"] == "SIGTERM"
    assert service["StateDirectory"] == "newswatch"
    lines = UNIT.read_text(encoding="utf-8").splitlines()  # the database in the state directory
    assert "Environment=NEWSWATCH_DATABASE_URL=sqlite:////var/lib/newswatch/newswatch.db" in lines


def test_systemd_verifies_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    stand_in = tmp_path / "newswatch"  # the installed command, here
    stand_in.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m newswatch "$@"\n', encoding="utf-8")
    stand_in.chmod(stand_in.stat().st_mode | stat.S_IXUSR)
    unit = tmp_path / "newswatch.service"
    unit.write_text(UNIT.read_text(encoding="utf-8").replace(INSTALLED, str(stand_in)), encoding="utf-8")
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "newswatch.service" not in done.stderr, done.stderr  # no warning about this unit

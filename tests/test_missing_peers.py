"""A newcomer's first `pytest`: tests whose peer (PostgreSQL, Chromium, openssl) is missing skip with
one reason per peer, and the summary says how to provide each; in CI the same tests fail.

The suite's own conftest runs in a child pytest, on a tiny test file, with each peer made missing:
PostgreSQL on a closed port, Chromium at a path that does not exist, openssl off the PATH."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, free_port

TESTS = """\
from pathlib import Path

import pytest

from tests.newswatch.browser import Browser


@pytest.mark.only_backend("sqlite", reason="runs without any peer")
def test_on_sqlite_still_runs(database_url):
    assert database_url.startswith("sqlite")


@pytest.mark.only_backend("postgresql", reason="needs the server")
def test_on_postgresql(database_url):
    pass


def test_email_over_tls(tls_smtp_server):
    pass


def test_status_page():
    Browser(Path("chromium"))
"""


def run_pytest(tmp_path: Path, *, ci: bool, workers: int = 0) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text("from tests.conftest import *  # noqa: F403\n")
    (tmp_path / "test_peers.py").write_text(TESTS)
    (tmp_path / "bin").mkdir(exist_ok=True)  # a PATH without openssl
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    env.update(
        PYTHONPATH=str(ROOT),
        PATH=str(tmp_path / "bin"),
        NEWSWATCH_TEST_POSTGRES=f"postgresql://postgres@127.0.0.1:{free_port()}/test",
        NEWSWATCH_TEST_CHROMIUM=str(tmp_path / "no-chromium"),
        **({"CI": "1"} if ci else {}),
    )
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-ra", "-p", "no:cacheprovider", f"-n{workers}", "test_peers.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_outside_ci_a_missing_peer_skips_its_tests_and_the_summary_says_how_to_enable_them(
    tmp_path: Path,
) -> None:
    done = run_pytest(tmp_path, ci=False, workers=1)  # as the suite runs: through an xdist worker
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "1 passed, 4 skipped" in out
    # One line per peer (not one per test), with its reason.
    skips = [line for line in out.splitlines() if line.startswith("SKIPPED")]
    assert len(skips) == 3, out
    assert any("[1]" in s and "missing peer PostgreSQL: cannot connect to postgresql://" in s for s in skips)
    assert any("[2]" in s and "missing peer openssl: no openssl command on PATH" in s for s in skips)
    chromium = f"missing peer Chromium: no browser at {tmp_path}/no-chromium"
    assert any("[1]" in s and chromium in s for s in skips)
    # The summary: what is missing and how to provide it.
    assert "3 peers missing: 4 tests skipped; to run them:" in out
    assert "PostgreSQL (1 test): start a server on 127.0.0.1:5432" in out
    assert "or set NEWSWATCH_TEST_POSTGRES=" in out
    assert "Chromium (1 test): install it at /usr/bin/chromium" in out
    assert "openssl (2 tests): install the openssl command" in out


def test_in_ci_a_missing_peer_fails_its_tests(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, ci=True)
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert "1 passed" in out and "skipped" not in out and "peers missing" not in out
    # Fixtures fail at set-up (ERROR), the browser in the test itself (FAILED): each says why.
    errors = [line for line in out.splitlines() if line.startswith(("ERROR", "FAILED"))]
    assert len(errors) == 4, out
    assert all("(CI is set, so a missing peer is a failure, not a skip)" in line for line in errors)
    for peer in ("PostgreSQL", "openssl", "Chromium"):
        assert any(f"missing peer {peer}: " in line for line in errors), out

"""core/memory.py: the cap on glibc's malloc arenas, counted by glibc itself (malloc_stats)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from core.memory import ARENAS

pytestmark = pytest.mark.skipif(
    not hasattr(os, "confstr") or not os.confstr("CS_GNU_LIBC_VERSION"), reason="glibc only"
)

# Eight threads allocate outside pymalloc (over 512 bytes), all alive at once (an ended thread's arena
# would serve the next one); glibc then prints one "Arena N:" section per arena it made.
_PROGRAM = """
import ctypes, sys, threading
from core.memory import limit_malloc_arenas
print(limit_malloc_arenas() if sys.argv[1] == "limit" else None, flush=True)
together = threading.Barrier(8)
def work():
    kept = [bytes(4000 + i) for i in range(200)]
    together.wait()
    del kept
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
ctypes.CDLL(None).malloc_stats()
"""


def _arenas(mode: str, env: dict[str, str]) -> tuple[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM, mode], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout.strip(), done.stderr.count("Arena ")


def test_the_limit_caps_the_arenas_threads_get() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    set_, limited = _arenas("limit", env)
    _none, unlimited = _arenas("free", env)
    assert set_ == "True"
    assert limited <= ARENAS < unlimited


def test_an_arena_limit_from_the_environment_is_left_as_it_is() -> None:
    env = {**os.environ, "MALLOC_ARENA_MAX": "3"}
    set_, arenas = _arenas("limit", env)
    assert set_ == "False"
    assert arenas == 3

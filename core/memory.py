"""Process-wide settings of the C allocator (glibc only; elsewhere nothing is changed)."""

from __future__ import annotations

import ctypes
import os

# mallopt's parameter for the most arenas malloc makes (glibc's malloc.h).
_M_ARENA_MAX = -8
ARENAS = 2


def _glibc() -> ctypes.CDLL | None:
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
        return ctypes.CDLL(None)  # the C library this process already runs on
    except (ValueError, OSError, AttributeError):  # not glibc (musl, macOS, Windows)
        return None


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Let malloc use at most `arenas` arenas; returns whether it was set.

    glibc gives each thread that allocates while another holds an arena an arena of its own (up to
    8 per core), and memory freed in one arena serves only that arena: the polling threads (the
    store, the small jobs, SQLite's page caches) leave many arenas each with free but resident
    memory. The GIL serialises most of these threads anyway, so two arenas cost no throughput. A
    MALLOC_ARENA_MAX set in the environment is left as it is."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(ctypes.c_int(_M_ARENA_MAX), ctypes.c_int(arenas)))

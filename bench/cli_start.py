"""Figure (9) of `python -m bench`, or alone `python -m bench.cli_start [--runs N]`: how fast the
`newswatch` command answers. Each command runs `runs` times as a fresh process (after one run that
is not counted, to warm the file cache) and the median wall time is reported.

`check` reads the demo config (config/newswatch.yaml), which opens no database.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "config" / "newswatch.yaml"

# (label, arguments, target median in seconds)
COMMANDS: tuple[tuple[str, tuple[str, ...], float], ...] = (
    ("--version", ("--version",), 0.3),
    ("--help", ("--help",), 0.3),
    ("check", ("--config", str(DEMO_CONFIG), "check"), 1.0),
)


@dataclass(frozen=True)
class Start:
    label: str
    median: float  # wall seconds
    runs: tuple[float, ...]
    target: float
    cpu: float  # median CPU seconds (user + system): less swayed by a busy machine than the wall time

    @property
    def met(self) -> bool:
        return self.median < self.target


def command() -> list[str]:
    """The console script beside this Python (what a user runs), else `python -m newswatch`."""
    script = Path(sys.executable).parent / "newswatch"
    if script.exists():
        return [str(script)]
    found = shutil.which("newswatch")
    return [found] if found else [sys.executable, "-m", "newswatch"]


def time_one(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of `argv`."""

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    before, began = cpu(), time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    spent = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()[:300]}")
    return spent, cpu() - before


def measure(runs: int = 10) -> list[Start]:
    """The median start-up of each of COMMANDS over `runs` runs."""
    base = command()
    starts = []
    for label, args, target in COMMANDS:
        time_one([*base, *args])  # warm-up, not counted
        measured = [time_one([*base, *args]) for _ in range(runs)]
        times = tuple(wall for wall, _ in measured)
        cpu = statistics.median(c for _, c in measured)
        starts.append(Start(label, statistics.median(times), times, target, cpu))
    return starts


def report(starts: list[Start]) -> None:
    for s in starts:
        spread = f"{min(s.runs):.3f}-{max(s.runs):.3f}"
        verdict = "met" if s.met else "MISSED"
        print(
            f"  newswatch {s.label:<10} median {s.median:.3f} s over {len(s.runs)} runs"
            f" (range {spread} s, CPU {s.cpu:.3f} s); target < {s.target:g} s: {verdict}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cli_start", description=__doc__)
    parser.add_argument("--runs", type=int, default=10, help="runs per command (default 10)")
    args = parser.parse_args()
    report(measure(args.runs))


if __name__ == "__main__":
    main()

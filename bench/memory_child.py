"""The process figure (5) measures (`python -m bench.memory_child CONFIG`): a Newswatch service that
starts on the config's database and polls every source once. Only the standard library is imported at
module level, as for `newswatch run`: the spawned worker processes import this module again."""

import json
import multiprocessing
import sys
from pathlib import Path


def peak_kib(pid: str) -> int:
    """VmHWM of a process, not ru_maxrss: the latter keeps the forking parent's size across exec."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def measure(config_path: str) -> None:
    from bench.subject import Runner

    runner = Runner(Path(config_path))
    runner.poll_all()
    # The worker processes count, as a user's `ps` would show them: the sum of every peak.
    main_kib = peak_kib("self")
    workers = [peak_kib(str(p.pid)) for p in multiprocessing.active_children()]
    runner.close()
    peak = {"peak_mib": (main_kib + sum(workers)) / 1024, "main_mib": main_kib / 1024}
    print(json.dumps({**peak, "worker_mib": [w / 1024 for w in workers]}))


if __name__ == "__main__":
    measure(sys.argv[1])

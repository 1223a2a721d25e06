"""Launcher that measures one command: ``python -I -S spawn.py RESULT.json TIMEOUT -- ARGV...``.

Why a separate, tiny process: Linux records the high-water RSS of the memory a process had *before*
its exec into that process's ``ru_maxrss``. A child spawned straight from the benchmark (which holds
hundreds of MB of encoded fills) would report the benchmark's own peak. This launcher is small when
it spawns, so the ``wait4`` rusage it reads is the command's own. Standard library only, no site.
"""

import json
import os
import signal
import sys
import time


def main() -> int:
    """Spawn ARGV, reap it with ``wait4``, write wall time, ``ru_maxrss`` and exit status as JSON."""
    result, timeout, sep, *argv = sys.argv[1:]
    if sep != "--" or not argv:
        print("usage: spawn.py RESULT.json TIMEOUT -- ARGV...", file=sys.stderr)
        return 2
    started = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, os.environ)
    timed_out = []

    def kill(*_: object) -> None:
        timed_out.append(True)
        os.kill(pid, signal.SIGKILL)

    signal.signal(signal.SIGALRM, kill)
    signal.setitimer(signal.ITIMER_REAL, float(timeout))
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    signal.setitimer(signal.ITIMER_REAL, 0)
    with open(result, "w", encoding="utf-8") as out:
        json.dump(
            {
                "wall_s": wall,
                "maxrss_kb": usage.ru_maxrss,
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "exit_code": os.waitstatus_to_exitcode(status),
                "timed_out": bool(timed_out),
            },
            out,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

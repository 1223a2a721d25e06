"""Run a child process and measure it the way the operating system accounts for it.

Wall time from spawn to reaping; peak memory is the child's own ``ru_maxrss`` from ``wait4``
(exact, no sampling); ``stage NAME 1.234s`` lines of ``report --verbose`` give the time per stage.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
REPORT = BIN / "report"
STAGE_RE = re.compile(r"\bstage (\w+) ([0-9]+(?:\.[0-9]+)?)s\b")
# Everything that could make a benchmark run talk to something real, or read a user's settings.
_DROP_PREFIXES = ("TELEGRAM_", "REPORT_", "PROMETHEUS_", "PUSHGATEWAY_", "TRADING_SERVICE_", "ADMIN_API_")


@dataclass
class ChildRun:
    """What one child process did and cost."""

    argv: list[str]
    wall_s: float
    peak_mb: float
    exit_code: int
    stdout: str
    stderr: str
    stages: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Exited 0."""
        return self.exit_code == 0

    def error_line(self) -> str:
        """The last non-empty line of standard error (the one-line failure the CLI prints)."""
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else f"exit {self.exit_code}"


def parse_stages(stderr: str) -> dict[str, float]:
    """Seconds per stage from ``stage NAME 1.234s`` lines (a stage logged twice is summed)."""
    out: dict[str, float] = {}
    for name, seconds in STAGE_RE.findall(stderr):
        out[name] = out.get(name, 0.0) + float(seconds)
    return out


def child_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any report setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROP_PREFIXES)}
    env.update(extra)
    return env


def run_child(argv: Sequence[str], env: Mapping[str, str], *, timeout: float = 900.0, cwd: Path = ROOT) -> ChildRun:
    """Run ``argv`` to completion (killed after ``timeout`` s) and measure it."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(list(argv), env=dict(env), stdout=out, stderr=err, cwd=cwd)
        killer = threading.Timer(timeout, os.kill, (proc.pid, signal.SIGKILL))
        killer.start()
        try:
            # wait4 reaps this very child and gives its own rusage (not a sum over every child so far).
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait for it again
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    return ChildRun(
        argv=list(argv),
        wall_s=wall,
        peak_mb=usage.ru_maxrss / 1024.0,  # kilobytes on Linux
        exit_code=proc.returncode,
        stdout=stdout,
        stderr=stderr,
        stages=parse_stages(stderr),
    )


def report_argv(args: Sequence[str], profile: Path | None = None) -> list[str]:
    """The real ``report`` command with ``args``; under cProfile (writing ``profile``) when asked."""
    if profile is None:
        return [str(REPORT), *args]
    return [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "reports", *args]

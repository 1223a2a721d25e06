"""Run a child process and measure it the way the operating system accounts for it.

Wall time from spawn to reaping; peak memory is the child's own ``ru_maxrss`` from ``wait4``
(exact, no sampling), read by the small launcher of :mod:`bench.spawn`; ``stage NAME 1.234s`` lines of
``report --verbose`` give the time per stage.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
REPORT = BIN / "report"
SPAWN = Path(__file__).resolve().parent / "spawn.py"
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
    cpu_s: float = 0.0
    """User and system time of the child (and of the children it waited for, the chart workers)."""

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
    """Run ``argv`` to completion (killed after ``timeout`` s) through the launcher, and measure it."""
    with tempfile.TemporaryDirectory(prefix="bench-child-") as tmp:
        result = Path(tmp) / "result.json"
        out_path, err_path = Path(tmp) / "stdout", Path(tmp) / "stderr"
        with out_path.open("wb") as out, err_path.open("wb") as err:
            launcher = [sys.executable, "-I", "-S", str(SPAWN), str(result), str(timeout), "--", *argv]
            subprocess.run(launcher, env=dict(env), stdout=out, stderr=err, cwd=cwd, check=True, timeout=timeout + 60)
        measured = json.loads(result.read_text(encoding="utf-8"))
        stdout = out_path.read_text(encoding="utf-8", errors="replace")
        stderr = err_path.read_text(encoding="utf-8", errors="replace")
    if measured["timed_out"]:
        stderr += f"\nbench: killed after {timeout:g} s"
    return ChildRun(
        argv=list(argv),
        wall_s=measured["wall_s"],
        peak_mb=measured["maxrss_kb"] / 1024.0,  # kilobytes on Linux
        exit_code=measured["exit_code"],
        stdout=stdout,
        stderr=stderr,
        stages=parse_stages(stderr),
        cpu_s=measured.get("cpu_s", 0.0),
    )


def report_argv(args: Sequence[str], profile: Path | None = None) -> list[str]:
    """The real ``report`` command with ``args``; under cProfile (writing ``profile``) when asked."""
    if profile is None:
        return [str(REPORT), *args]
    return [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "reports", *args]

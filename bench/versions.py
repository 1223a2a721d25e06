"""The code a benchmark run measures: this working tree ("new") and, side by side, an older commit ("old").

The old code is exported with ``git archive`` into the benchmark's temporary folder (no worktree, nothing
written into the repository) and run with this same virtual environment: ``python -m reports`` with the
exported tree first on ``PYTHONPATH`` and as the working directory, so its own ``reports`` package and
``templates/`` are the ones imported. The new code can be a commit too (``--new-commit``): then the
other files being edited in the working tree do not leak into the figures.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.child import ROOT

OLD_COMMIT = "71d1db1"
"""The last commit before the store of closed days (issue 11): every row of its table is compared with it."""


@dataclass(frozen=True)
class Version:
    """One version of the code: where its ``reports`` package lives and what to call it in the table."""

    name: str
    tree: Path
    commit: str

    def argv(self, args: Sequence[str], profile: Path | None = None) -> list[str]:
        """``python -m reports ARGS`` of this version (under cProfile, writing ``profile``, when asked)."""
        if profile is None:
            return [sys.executable, "-m", "reports", *args]
        return [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "reports", *args]

    def env(self, extra: Mapping[str, str]) -> dict[str, str]:
        """``extra`` with this version's tree first on the import path."""
        return {**extra, "PYTHONPATH": str(self.tree)}


def git(*args: str) -> str:
    """A git command in the repository; its standard output, stripped."""
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def export(commit: str, dest: Path) -> Path:
    """The files of ``commit`` (``reports/``, ``templates/``, ``pyproject.toml``) written under ``dest``."""
    data = subprocess.run(
        ["git", "archive", "--format=tar", commit, "reports", "templates", "pyproject.toml"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def working_tree() -> Version:
    """This working tree, as it is (with whatever is uncommitted in it)."""
    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", "reports", "templates")
    except (OSError, subprocess.CalledProcessError):
        head, dirty = "unknown", ""
    return Version("new", ROOT, head + (" with uncommitted changes in reports/ or templates/" if dirty else ""))


def at_commit(name: str, commit: str, workdir: Path) -> Version:
    """Version ``commit`` exported into ``workdir/name``."""
    short = git("rev-parse", "--short", commit)
    return Version(name, export(short, workdir / f"code-{name}"), short)

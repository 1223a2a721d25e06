"""Run the benchmark of issue 7 and print its table (``--write``: also into docs/benchmarks.md).

.venv/bin/python -m bench.run            # every case at full size (several minutes)
.venv/bin/python -m bench.run --quick    # small sizes, a smoke test of the harness (no targets judged)
.venv/bin/python -m bench.run --write    # full size, and write docs/benchmarks.md
.venv/bin/python -m bench.run --cases history --profile history   # cProfile the child of one case
.venv/bin/python -m bench.run --no-old   # the new code only (no side-by-side run of the old commit)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import pstats
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench.cases import (
    CASES,
    FULL,
    HELP_ROUNDS,
    JOB_DELAY,
    QUICK,
    REPORT_DAY,
    STAGES,
    Context,
    Row,
    new_workdir,
    run_cases,
)
from bench.child import ROOT
from bench.measure import NOT_SLOWER
from bench.versions import OLD_COMMIT, Version, at_commit, working_tree

COMMAND = ".venv/bin/python -m bench.run --write"
PROFILABLE = ("history", "next_day", "big", "demo", "scale_first", "scale_next")


def _num(value: float | None, digits: int = 3) -> str:
    if value is None:
        return ""
    return f"{value:,.{digits if value < 10 else 2}f}"


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table; stage columns for every stage any run logged."""
    stages = list(STAGES) + sorted({k for r in rows for k in r.stages} - set(STAGES))
    head = ["case", "fills", "wall s", "peak MB", "served", *stages, "vs quantstats", "new/old", "target", "met"]
    head.append("note")
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        met = "—" if r.met is None else ("yes" if r.met else "**no**")
        cells = [
            r.case,
            "" if r.fills is None else f"{r.fills:,}",
            _num(r.wall_s),
            "" if r.peak_mb is None else f"{r.peak_mb:,.0f}",
            "" if r.served is None else f"{r.served:,}",
            *(_num(r.stages.get(s)) for s in stages),
            "" if r.vs_quantstats is None else f"{r.vs_quantstats:.2f}",
            "" if r.vs_old is None else f"{r.vs_old:.2f}",
            r.target,
            met,
            r.note.replace("|", "\\|"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine(ctx: Context) -> list[str]:
    """What the numbers were measured on."""
    import numpy
    import pandas

    cpu = "unknown"
    mem = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    uname = subprocess.run(["uname", "-a"], capture_output=True, text=True, check=False).stdout.strip()
    versions = f"Python {platform.python_version()}, numpy {numpy.__version__}, pandas {pandas.__version__}"
    try:
        from importlib.metadata import version

        versions += f", matplotlib {version('matplotlib')}, quantstats {version('quantstats')}"
    except Exception:  # a version we cannot read is not worth failing the write for
        pass
    code = f"- code: new = commit {ctx.new.commit}"
    code += f", old = commit {ctx.old.commit}" if ctx.old is not None else " (no old code compared)"
    return [
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        code,
        f"- `uname -a`: `{uname}`",
        f"- CPU: {cpu}, {len(os.sched_getaffinity(0))} cores usable; memory {mem}",
        f"- {versions}",
    ]


def document(rows: list[Row], sizes_note: str, ctx: Context) -> str:
    """The whole of docs/benchmarks.md."""
    missed = [r.case for r in rows if r.met is False]
    verdict = "Every target met." if not missed else "Targets missed: " + "; ".join(missed) + "."
    return "\n".join(
        [
            "# Benchmarks (issues 7 and 11)",
            "",
            f"Run with `{COMMAND}` (without `--write` it only prints the table; `--quick` is a smoke test).",
            "",
            "What it does: generates deterministic fills (seeded per day: a day's fills never depend on the",
            "other days generated), serves them from a fake of the trading service on 127.0.0.1 that pages like",
            "CONTRACT 1.1 (newest first, inclusive bounds, at most `min(limit, 5000)` rows, keep-alive), and runs",
            "the real `report --date D --dry-run --output DIR --verbose` (as `python -m reports`) as a child",
            "process with `TRADING_SERVICE_URL` on the fake and `REPORT_STATE_DIR` in a temporary folder (no",
            "Prometheus, no Telegram). Ten symbols, the six agents and 3 % null agents; about three fills per",
            "timestamp; the first fill of each day exactly at midnight; positions stay open over midnight.",
            "",
            "This machine's speed drifts by a factor of two from day to day and it is shared: every time target",
            "is a ratio of runs made side by side in this one benchmark run, in alternating rounds (`A B`, then",
            "`B A`), compared by their medians; memory is absolute.",
            "",
            "- *wall s*: spawn to exit. *peak MB*: the child's own `ru_maxrss` from `wait4`, read by a small",
            "  launcher (`bench/spawn.py`, about 10 MB: the floor of the column) so that the runner's own memory",
            "  is not carried into the child's figure.",
            "- *fills*: fills the service holds up to the end of the report day; *served*: fill rows the fake",
            "  sent during that run (a next-day run should be close to one day's fills).",
            "- stage columns: the `stage NAME 1.234s` lines of `--verbose` (medians); empty where none was logged.",
            "- *new/old*: the new code's wall time over that of the code before the store of closed days (commit",
            f"  {ctx.old.commit if ctx.old else OLD_COMMIT}, exported with `git archive` and run from its own tree",
            "  with the same virtual environment), the two run alternately in the same rounds, medians (engine",
            f"  rows: best of the rounds); *not slower* means new/old ≤ {NOT_SLOWER:.2f} (medians of a few runs",
            "  on this shared machine move by a few per cent). The note gives the old code's time and peak.",
            "- engine rows: `replay` of each version in a child process of its own (best of 2 per child),",
            "  a snapshot at every day's end.",
            "- *vs quantstats*: the demo report's wall time over that of quantstats' `reports.html` on the demo's",
            "  `daily[].return`, each a fresh process with its imports, run alternately in the same rounds",
            "  (medians); the note gives the ratio to the `reports.html` call alone too.",
            "- issue 11 rows (20,000 fills a day): a first run (empty state) builds the store of each history",
            "  (30, 180, 365 days); the store it leaves is copied aside and every next-day run starts from a",
            "  fresh copy of it, the three lengths taking turns (30 180 365, 180 365 30, ...), medians compared.",
            "  *Read rate*: fills served over the longest first run's wall time (spawn to exit, so imports and the",
            "  report day's charts are in it), against `orjson.loads` alone on the very bodies the fake served in",
            "  that run (produced again byte for byte, decoded in the runner's process, each body timed on its own,",
            "  the faster of two passes: right after the run and at the end of the case). The notes give the",
            "  child's CPU time (`wait4`, its chart workers included), which the machine's load disturbs less.",
            "- The analysis at the end (why a target is missed, what the profiles showed) is written by hand and",
            "  kept by `--write`.",
            "",
            sizes_note,
            "",
            table(rows),
            "",
            verdict,
            "",
            "## Machine",
            "",
            *machine(ctx),
            "",
        ]
    )


ANALYSIS = "## Analysis"


def _analysis(text: str) -> str:
    """The hand-written analysis at the end of the current file (from its heading on), kept by ``--write``."""
    at = text.find("\n" + ANALYSIS + "\n")
    return "" if at < 0 else "\n" + text[at + 1 :]


def print_profile(path: Path, limit: int = 30) -> None:
    """The hot spots of a child's cProfile output, by own time and by cumulative time."""
    for key in ("tottime", "cumulative"):
        print(f"\n### cProfile {path.stem}, by {key}\n```")
        stats = pstats.Stats(str(path), stream=sys.stdout)
        stats.strip_dirs().sort_stats(key).print_stats(limit)
        print("```")


def main(argv: list[str] | None = None) -> int:
    """Command line of the benchmark."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test, no target judged")
    parser.add_argument("--write", action="store_true", help="also write docs/benchmarks.md (full size only)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the rows as JSON to PATH")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {','.join(CASES)}")
    parser.add_argument("--profile", choices=PROFILABLE, help="run that child under cProfile and print hot spots")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (outputs, state, profiles)")
    parser.add_argument("--old", default=OLD_COMMIT, metavar="COMMIT", help="the old code compared side by side")
    parser.add_argument("--no-old", action="store_true", help="measure the new code only")
    parser.add_argument(
        "--scale-days", metavar="N,N,...", help="lengths of history of the issue-11 case (default 30,180,365)"
    )
    parser.add_argument(
        "--new", metavar="COMMIT", help="measure this commit as the new code (default: the working tree as it is)"
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.cases.split(",") if n.strip()]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}: choose among {list(CASES)}")
    if args.write and (args.quick or args.profile or args.no_old or args.scale_days or names != list(CASES)):
        parser.error(
            "--write records a full, unprofiled run of every case against the old code: drop --quick/"
            "--profile/--cases/--no-old/--scale-days"
        )
    sizes = QUICK if args.quick else FULL
    if args.scale_days:
        sizes = dataclasses.replace(sizes, scale_days=tuple(int(n) for n in args.scale_days.split(",")))
    workdir = new_workdir()
    new: Version = working_tree() if args.new is None else at_commit("new", args.new, workdir)
    old = None if args.no_old else at_commit("old", args.old, workdir)
    ctx = Context(sizes=sizes, workdir=workdir, judge=not args.quick, new=new, old=old, profile=args.profile)
    try:
        rows = run_cases(ctx, names)
        sizes_note = (
            f"Report day {REPORT_DAY}; the job runs {JOB_DELAY.seconds // 60} minutes after midnight, so the service"
            " already holds the first fills of the next day. Rounds: "
            f"{sizes.repeats} (help: {HELP_ROUNDS if not args.quick else 3}, engine: {max(1, sizes.repeats - 1)}, "
            f"big day: {sizes.big_repeats}; "
            f"next-day runs of issue 11: {sizes.scale_repeats} per length)."
            + (" Quick mode: small sizes, targets not judged." if args.quick else "")
        )
        print(table(rows))
        if args.json:
            args.json.write_text(json.dumps([dataclasses.asdict(r) for r in rows], indent=1), encoding="utf-8")
        if args.write:
            path = ROOT / "docs" / "benchmarks.md"
            kept = _analysis(path.read_text(encoding="utf-8")) if path.exists() else ""
            path.write_text(document(rows, sizes_note, ctx) + kept, encoding="utf-8")
            print(f"\nwritten to {ROOT / 'docs' / 'benchmarks.md'}")
        for path in ctx.profiles.values():
            print_profile(path)
        if args.profile:
            print("\n(stage times above are inflated by cProfile)")
    finally:
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

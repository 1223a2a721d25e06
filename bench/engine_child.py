"""The engine replay of one version of the code, in its own process: the engine rows of the table.

``python bench/engine_child.py REPEATS FILLS.npz...`` with that version's tree first on ``PYTHONPATH``:
loads each file of fill columns written by the benchmark (``bench.cases``), replays it ``REPEATS`` times
with a snapshot at the end of every day, and prints a JSON list of ``{"best_s", "fills", "snapshots"}``.
It imports nothing from ``bench`` (the old tree has a ``bench`` of its own), only ``reports``.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pandas as pd


def main(argv: list[str]) -> int:
    """Replay the fills of every file of ``argv[1:]`` ``argv[0]`` times; print the best times."""
    from reports.models import Fills

    try:
        from reports.numbers.engine import replay
    except ImportError:  # the layout before the packages per stage
        from reports.engine import replay  # type: ignore[no-redef]

    out = []
    for path in argv[1:]:
        data = np.load(path)
        columns = {k: data[k] for k in data.files if k != "snapshots"}
        for name in ("symbol", "agent_id"):
            columns[name] = columns[name].astype(object)
        fills = Fills.from_frame(pd.DataFrame(columns))
        snaps = data["snapshots"]
        best = float("inf")
        for _ in range(int(argv[0])):
            started = time.perf_counter()
            replay(fills, snaps)
            best = min(best, time.perf_counter() - started)
        out.append({"best_s": best, "fills": len(fills), "snapshots": len(snaps)})
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

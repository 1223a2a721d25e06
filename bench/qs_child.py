"""quantstats' HTML report on a report.json's daily returns: the yardstick of the demo case.

Run as a child process (``python -m bench.qs_child REPORT_JSON OUT_HTML``) so that it is measured like
``report``: a fresh interpreter, its imports included. Prints ``{"import_s", "html_s", "days"}`` as JSON.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path


def main(argv: list[str]) -> int:
    """Time the import of quantstats and one ``reports.html`` on the portfolio's daily returns."""
    report_json, out_html = Path(argv[0]), Path(argv[1])
    started = time.perf_counter()
    import pandas as pd
    import quantstats as qs

    imported = time.perf_counter()
    daily = json.loads(report_json.read_text(encoding="utf-8"))["daily"]
    returns = pd.Series(
        [float(d["return"] or 0.0) for d in daily],
        index=pd.DatetimeIndex([d["date"] for d in daily]),
        name="portfolio",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantstats' own deprecation noise, not ours to fix
        qs.reports.html(returns, benchmark=None, output=str(out_html), title="portfolio", periods_per_year=365)
    done = time.perf_counter()
    print(json.dumps({"import_s": imported - started, "html_s": done - imported, "days": len(daily)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

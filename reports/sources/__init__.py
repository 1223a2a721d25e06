"""Sources: where the figures come from. The trading service's fills, Prometheus, the exchange income for
reconciliation, the copy of closed days in ``REPORT_STATE_DIR``, and the embedded demo that stands in for them.

Each client turns what it read into the typed records of :mod:`reports.models`. May use models, settings and
errors; never the numbers, the presentation, the delivery or the operations.
"""

"""Numbers: the figures of CONTRACT 3 as pure functions. The average-cost replay, the per-day and per-agent
aggregates, the risk windows, and the conventions they follow.

No I/O here. May use models and settings; never the sources, the presentation, the delivery or the operations.
"""

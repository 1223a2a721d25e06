"""``report schedule``: the long-running scheduler front end (cron in the report's zone, catch-up, signals).

It may use the operations and the stages below them; nothing imports it but the CLI.
"""

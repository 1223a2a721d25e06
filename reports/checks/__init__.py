"""``report check``: one line per source and destination, saying what works and what does not.

Used by the CLI and the bot's /status; it may use the operations and the stages below them.
"""

"""Presentation: what a person reads. The charts, the Jinja rendering of the summary and ``report.html``,
``report.json``, the attention flags, number formatting and the Telegram-HTML text helpers.

May use models, settings and the numbers' conventions; never the sources, the delivery or the operations.
"""

"""Delivery: posting the rendered report to Telegram exactly once per chat. The outbox of what to send, the plan
of Bot API calls, the calls themselves (pacing, retries, errors explained) and the delivery records.

May use models, settings, errors and the presentation's text helpers; never the operations.
"""

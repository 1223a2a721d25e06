"""``report bot``: the long-running Telegram front end (polling, who is answered, build processes, replies).

It may use every stage, the checks and the operations; nothing imports it but the CLI.
"""

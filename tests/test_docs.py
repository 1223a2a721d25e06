"""The README documents every command, flag and setting the program has."""

from __future__ import annotations

import re
from pathlib import Path

from reports.cli import _parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_flag_has_help_and_is_in_the_readme():
    for action in _parser()._actions:
        for flag in action.option_strings:
            if flag.startswith("--") and flag != "--help":
                assert action.help, flag
                assert flag in README, f"{flag} is not in the README"


def test_every_subcommand_is_in_the_readme():
    for command in ("report schedule", "report check", "report --from", "report --demo"):
        assert command in README


def test_every_setting_read_from_the_environment_is_in_the_settings_table():
    source = (ROOT / "reports" / "settings.py").read_text(encoding="utf-8")
    names = set(re.findall(r'"((?:REPORT|TELEGRAM|TRADING|ADMIN|PROMETHEUS|PUSHGATEWAY)_[A-Z_]+)"', source))
    assert len(names) >= 15
    for name in names:
        assert f"| `{name}`" in README, f"{name} is not in the README's settings table"

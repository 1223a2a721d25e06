"""The README documents every command, flag and setting the program has."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

from reports.cli_args import build_parser as _parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
CONTRACT = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(actions) == 1
    return dict(actions[0].choices)


def test_every_flag_has_help_and_is_documented():
    for parser in (_parser(), *_subcommands().values()):
        for action in parser._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help":
                    assert action.help, flag
                    assert flag in README, f"{parser.prog} {flag} is not in the README"
                    assert flag in CONTRACT, f"{parser.prog} {flag} is not in docs/contract.md"


def test_every_subcommand_is_listed_by_help_and_documented():
    names = set(_subcommands())
    assert {"schedule", "check"} <= names
    shown = subprocess.run([sys.executable, "-m", "reports", "--help"], capture_output=True, text=True, check=True)
    for name in names:
        assert re.search(rf"^\s+{name}\s+\S", shown.stdout, re.M), f"report --help does not list {name}"
        assert f"report {name}" in README and f"report {name}" in CONTRACT
        own = subprocess.run([sys.executable, "-m", "reports", name, "--help"], capture_output=True, text=True)
        assert own.returncode == 0 and own.stdout.startswith(f"usage: report {name}")


def test_the_docs_never_send_a_reader_outside_the_repository():
    for path in [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), ROOT / "helm" / "trading-system" / "README.md"]:
        assert "../shared" not in path.read_text(encoding="utf-8"), path


def test_every_setting_read_from_the_environment_is_in_the_settings_table():
    source = (ROOT / "reports" / "settings.py").read_text(encoding="utf-8")
    names = set(re.findall(r'"((?:REPORT|TELEGRAM|TRADING|ADMIN|PROMETHEUS|PUSHGATEWAY)_[A-Z_]+)"', source))
    assert len(names) >= 15
    for name in names:
        assert f"| `{name}`" in README, f"{name} is not in the README's settings table"

"""What every build process needs, made ready once in the fork server the builds are forked from.

:mod:`multiprocessing`'s forkserver imports this module (and its imports) before it forks any build, so a build
starts with the sources, the numbers, the templates compiled (the packaged ones) and matplotlib loaded: a
stored day's summary then goes out in a fraction of the time a fresh process takes to import them.
"""

from __future__ import annotations

import httpx  # noqa: F401  (the trading service's client)
import jinja2  # noqa: F401

import reports.bot.answers
import reports.numbers.closing
import reports.operations.history
import reports.operations.pipeline
import reports.operations.stored
import reports.presentation.bot_cards
import reports.presentation.charts
import reports.presentation.charts.agent
import reports.presentation.flags
import reports.sources.prometheus
import reports.sources.reconcile
import reports.sources.store
import reports.sources.trading_service  # noqa: F401
from reports.presentation.render import (
    HTML_TEMPLATE,
    PERIOD_HTML_TEMPLATE,
    PERIOD_SUMMARY_TEMPLATE,
    SUMMARY_TEMPLATE,
    template_env,
)


def warm_templates() -> None:
    """Compile the packaged templates (kept by :func:`~reports.presentation.render.template_env`)."""
    env = template_env(None)
    for name in (SUMMARY_TEMPLATE, PERIOD_SUMMARY_TEMPLATE, HTML_TEMPLATE, PERIOD_HTML_TEMPLATE):
        env.get_template(name)


warm_templates()

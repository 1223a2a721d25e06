"""dailyReport.benchmarkSymbol in the chart: REPORT_BENCHMARK_SYMBOL, the symbol whose buy and hold the portfolio is
compared with, reaches every pod that builds a report (each report CronJob, the bot, the backfill) only when a value
is given, so unset the report keeps its own default (BTCUSDT); a report entry may set its own. Rendered by Helm's
engine, validated strictly, and read back by the report's own Settings."""

from __future__ import annotations

import re
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
from helm_chart import CHART, KUBE_VERSIONS, RELEASE, api_server_problems, pod_spec, render, values_of

from reports.settings import DEFAULT_BENCHMARK_SYMBOL, Settings

NAME = "REPORT_BENCHMARK_SYMBOL"
BOT = f"{RELEASE}-report-bot"
BACKFILL = f"{RELEASE}-daily-report-backfill"


def everything(**daily_report: Any) -> dict:
    """Every pod that builds a report: two reports (one with a week), the bot and the backfill Job."""
    values = values_of("backfill-values.yaml")
    values["bot"] = {"enabled": True}
    values["dailyReport"] |= {"reports": [{"name": "daily"}, {"name": "desk", "periods": ["day", "week"]}]}
    values["dailyReport"] |= daily_report
    return values


def report_pods(objects: list[dict]) -> dict[str, dict]:
    """Every object whose pod runs the report image (the CronJobs, the bot, the backfill), by name."""
    return {
        o["metadata"]["name"]: o
        for o in objects
        if o["kind"] in {"CronJob", "Job"} or (o["kind"] == "Deployment" and o["metadata"]["name"] == BOT)
    }


def benchmark(obj: dict) -> str | None:
    """The REPORT_BENCHMARK_SYMBOL of the object's report container; None when it is not set."""
    env = [e for e in pod_spec(obj)["containers"][0]["env"] if e["name"] == NAME]
    assert len(env) <= 1
    return env[0]["value"] if env else None


def test_every_report_pod_is_there() -> None:
    names = set(report_pods(render(everything())))
    cronjobs = {f"{RELEASE}-daily-report", f"{RELEASE}-desk-report", f"{RELEASE}-desk-report-week"}
    assert names == cronjobs | {BOT, BACKFILL}


@pytest.mark.parametrize(
    "unset", [{}, {"benchmarkSymbol": ""}, {"benchmarkSymbol": None}], ids=["default", "empty", "null"]
)
def test_unset_no_pod_gets_the_variable_and_the_report_keeps_its_default(unset: dict) -> None:
    pods = report_pods(render(everything(**unset)))
    assert {name: benchmark(obj) for name, obj in pods.items()} == dict.fromkeys(pods)
    assert Settings.from_env({}).benchmark_symbol == DEFAULT_BENCHMARK_SYMBOL == "BTCUSDT"
    # The chart's own defaults too: the single daily CronJob, no bot, no backfill.
    assert [benchmark(obj) for obj in report_pods(render()).values()] == [None]


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_set_every_pod_gets_it_and_the_report_reads_it(version: str) -> None:
    pods = report_pods(render(everything(benchmarkSymbol="ethusdt")))
    assert {name: benchmark(obj) for name, obj in pods.items()} == dict.fromkeys(pods, "ethusdt")
    for obj in pods.values():
        kubernetes_validate.validate(obj, version, strict=True)
        assert api_server_problems(obj) == []
    # What the report makes of it: upper-cased, as docs/contract.md says.
    assert Settings.from_env({NAME: "ethusdt"}).benchmark_symbol == "ETHUSDT"


def test_a_report_entry_sets_its_own_and_an_empty_one_takes_the_daily_reports() -> None:
    values = everything(benchmarkSymbol="ETHUSDT")
    values["dailyReport"]["reports"] += [{"name": "sol", "benchmarkSymbol": "SOLUSDT"}, {"name": "none"}]
    values["dailyReport"]["reports"][1]["benchmarkSymbol"] = ""
    found = {name: benchmark(obj) for name, obj in report_pods(render(values)).items()}
    assert found == {
        f"{RELEASE}-daily-report": "ETHUSDT",
        f"{RELEASE}-desk-report": "ETHUSDT",
        f"{RELEASE}-desk-report-week": "ETHUSDT",
        f"{RELEASE}-sol-report": "SOLUSDT",
        f"{RELEASE}-none-report": "ETHUSDT",
        BOT: "ETHUSDT",  # the bot and the backfill are the daily report's
        BACKFILL: "ETHUSDT",
    }
    # Without dailyReport's, only the entry that sets one gets the variable, in each of its periods.
    values["dailyReport"]["benchmarkSymbol"] = None
    values["dailyReport"]["reports"][1]["benchmarkSymbol"] = "BNBUSDT"
    found = {name: benchmark(obj) for name, obj in report_pods(render(values)).items()}
    assert {name: value for name, value in found.items() if value} == {
        f"{RELEASE}-desk-report": "BNBUSDT",
        f"{RELEASE}-desk-report-week": "BNBUSDT",
        f"{RELEASE}-sol-report": "SOLUSDT",
    }


@pytest.mark.parametrize(
    ("values", "fault"),
    [
        ({"dailyReport": {"benchmarkSymbol": 5}}, "/dailyReport/benchmarkSymbol"),
        ({"dailyReport": {"benchmarkSymbol": ["ETHUSDT"]}}, "/dailyReport/benchmarkSymbol"),
        ({"dailyReport": {"benchmarkSymbol": True}}, "/dailyReport/benchmarkSymbol"),
        (
            {"dailyReport": {"reports": [{"name": "daily", "benchmarkSymbol": 5}]}},
            "/dailyReport/reports/0/benchmarkSymbol",
        ),
        ({"dailyReport": {"reports": [{"name": "daily", "benchmark": "ETHUSDT"}]}}, "'benchmark' not allowed"),
    ],
    ids=["number", "list", "boolean", "entry-number", "entry-misspelt"],
)
def test_a_wrong_benchmark_is_refused_by_the_schema(values: dict, fault: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=re.escape(fault)):
        render(values)
    assert any(fault in m["error"] for m in helm.lint(str(CHART), values)["messages"])

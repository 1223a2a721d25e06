"""One run (``pipeline.run``) with fake stages: what it calls, in which order, and what it does on a failure."""

from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sample_report import make_report

from reports.delivery.outbox import Attachment, Outbox
from reports.errors import FetchError
from reports.operations.pipeline import RunOptions, Stages, run
from reports.settings import ChatTarget, Settings

DAY = date(2025, 11, 21)


@dataclass
class Recorder:
    """Fake stages that write down every call; ``fail_build`` makes the build raise it."""

    fail_build: Exception | None = None
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def stages(self) -> Stages:
        return Stages(
            build=self.build,
            render=self.render,
            deliver=self.deliver,
            notify_failure=self.notify,
            push_metrics=self.push,
            workers=lambda: nullcontext(None),
        )

    def build(self, settings: Settings, day: Any, **kw: Any):
        self.calls.append(("build", (day.date, kw["period"], kw["demo"])))
        if self.fail_build is not None:
            raise self.fail_build
        return make_report(report_date=day.date)

    def render(self, report: Any, settings: Settings, pool: Any) -> tuple[Outbox, str]:
        self.calls.append(("render", report.day.date))
        outbox = Outbox(
            report_date=report.day.date,
            messages=("<b>summary</b>",),
            photos=(Attachment("01-chart.png", b"\x89PNG fake", "a chart"),),
            document=Attachment("report.html", b"<html></html>", "Full report"),
        )
        return outbox, "<html></html>"

    def deliver(
        self, outbox: Outbox, settings: Settings, *, force: bool, should_stop: Any
    ) -> tuple[int, tuple[str, ...]]:
        self.calls.append(("deliver", (outbox.report_date, force)))
        return 3, ("a delivery warning",)

    def notify(self, settings: Settings, report_date: date, reason: str, kind: str) -> None:
        self.calls.append(("notify", (report_date, reason, kind)))

    def push(self, url: str, **figures: Any) -> str | None:
        self.calls.append(("push", figures["success"]))
        return None


def settings(tmp_path: Path) -> Settings:
    return Settings(
        state_dir=tmp_path / "state",
        pushgateway_url="http://127.0.0.1:9",
        telegram_chats=(ChatTarget("-100123"),),
    )


def names(recorder: Recorder) -> list[str]:
    return [name for name, _ in recorder.calls]


def test_a_sending_run_builds_renders_writes_delivers_and_pushes_success(tmp_path: Path):
    fake = Recorder()
    outcome = run(
        RunOptions(report_date=DAY, output=tmp_path / "out", force=True),
        settings(tmp_path),
        clock=lambda: datetime(2025, 11, 22, tzinfo=UTC),
        stages=fake.stages(),
    )
    assert names(fake) == ["build", "render", "deliver", "push"]
    assert fake.calls[0][1] == (DAY, "day", False)
    assert fake.calls[2][1] == (DAY, True)
    assert fake.calls[3][1] is True
    assert outcome.messages_sent == 3 and outcome.warnings == ("a delivery warning",)
    written = json.loads((tmp_path / "out" / "report.json").read_text())
    assert written["report_date"] == DAY.isoformat()
    assert (tmp_path / "out" / "01-chart.png").read_bytes() == b"\x89PNG fake"


def test_a_dry_run_sends_nothing_and_writes_to_the_days_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    fake = Recorder()
    outcome = run(RunOptions(report_date=DAY, send=False, period="day"), settings(tmp_path), stages=fake.stages())
    assert names(fake) == ["build", "render", "push"]
    assert outcome.output_dir == Path("out") / DAY.isoformat()
    assert (tmp_path / "out" / DAY.isoformat() / "report.json").exists()


def test_a_build_that_fails_sends_the_failure_notice_pushes_failure_and_raises(tmp_path: Path):
    fake = Recorder(fail_build=FetchError("the trading service at http://x answered 503 after 4 tries"))
    with pytest.raises(FetchError):
        run(RunOptions(report_date=DAY, period="week"), settings(tmp_path), stages=fake.stages())
    assert names(fake) == ["build", "notify", "push"]
    assert fake.calls[1][1] == (DAY, "the trading service at http://x answered 503 after 4 tries", "week")
    assert fake.calls[2][1] is False


def test_an_unexpected_error_is_named_by_its_type_only_and_a_dry_run_notifies_nobody(tmp_path: Path):
    fake = Recorder(fail_build=KeyError("secret detail"))
    with pytest.raises(KeyError):
        run(RunOptions(report_date=DAY), settings(tmp_path), stages=fake.stages())
    assert fake.calls[1] == ("notify", (DAY, "internal error (KeyError)", "day"))
    dry = Recorder(fail_build=KeyError("x"))
    with pytest.raises(KeyError):
        run(RunOptions(report_date=DAY, send=False, output=tmp_path / "o"), settings(tmp_path), stages=dry.stages())
    assert names(dry) == ["build", "push"]
    assert not (tmp_path / "o").exists()

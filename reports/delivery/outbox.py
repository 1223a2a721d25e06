"""What the deliver stage sends: rendered messages and files, independent of any chat."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file to upload: its name, its bytes and an optional caption (Telegram HTML)."""

    filename: str
    data: bytes
    caption: str | None = None


@dataclass(frozen=True, slots=True)
class Outbox:
    """One day's report as Telegram will get it.

    ``messages``: the summary, already split into parts of at most 4,096 characters after entity parsing,
    in Telegram's HTML subset. ``photos``: the charts, sent as one album. ``document``: ``report.html``,
    byte for byte the artifact.
    """

    report_date: date
    messages: tuple[str, ...]
    photos: tuple[Attachment, ...]
    document: Attachment | None
    kind: str = "day"
    """``day``, ``week`` or ``month``: the records of each are kept apart, by the period's last day."""

"""Which delivery records a run uses: those of ``REPORT_STATE_URL`` when it is set, else the files of
``REPORT_STATE_DIR``. Both back ends import nothing of each other; this module picks between them."""

from __future__ import annotations

from reports.delivery.records import DeliveryStore
from reports.delivery.records_pg import PgDeliveryStore
from reports.settings import Settings
from reports.statedb import scope_key


def records_for(settings: Settings, kind: str = "day") -> DeliveryStore:
    """The delivery records of a report of ``kind``: in ``REPORT_STATE_URL`` when it is set, else the files of
    ``REPORT_STATE_DIR``. The database's are those of the trading service, zone, ``REPORT_NAME`` and desk of
    ``settings``."""
    if settings.state_url:
        scope = scope_key(settings.trading_service_url, settings.timezone)
        report = settings.report_name + (f"[{','.join(settings.agents)}]" if settings.agents else "")
        return PgDeliveryStore(settings.state_url, scope, kind, report)  # type: ignore[return-value]
    return DeliveryStore(settings.state_dir, kind)

"""The one clock. Everything inside syncd is timezone-aware UTC.

Nothing else calls ``datetime.now()``; tests move time with time-machine, which fakes this too.
Asia/Shanghai appears only at adapter edges, through :data:`SHANGHAI`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def now() -> datetime:
    """Current time, aware UTC."""
    return datetime.now(UTC)


def from_epoch(seconds: float | int) -> datetime:
    """Unix seconds → aware UTC."""
    return datetime.fromtimestamp(seconds, UTC)


def to_epoch(dt: datetime) -> int:
    """Aware datetime → Unix seconds."""
    return int(ensure_utc(dt).timestamp())


def ensure_utc(dt: datetime) -> datetime:
    """Return ``dt`` in UTC; a naive value is taken to be UTC already (that is how the store keeps times)."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def shanghai_text(dt: datetime) -> str:
    """``yyyy-MM-dd HH:mm:ss`` in Asia/Shanghai, the format suppliers and platforms read."""
    return ensure_utc(dt).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def local_text(value: datetime | str | None, zone: ZoneInfo | None = None) -> str:
    """A time as a person reads it: ``2026-12-06 11:52:03`` in ``zone`` (Asia/Shanghai unless configured), to the
    second, no microseconds, no offset. Accepts the ISO 8601 text the JSON views carry; ``None`` → ``-``.
    The one helper every CLI table, ``status`` and ``orders show`` prints times with."""
    if value is None or value == "":
        return "-"
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            return value  # not a time: shown as it is rather than lost
    else:
        dt = value
    return ensure_utc(dt).astimezone(zone or SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")

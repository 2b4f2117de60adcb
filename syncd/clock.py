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

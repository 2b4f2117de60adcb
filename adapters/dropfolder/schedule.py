"""When the next outbox batch is due. Pure: the caller passes the times."""

from __future__ import annotations

from datetime import datetime, timedelta

from syncd.adapters.dropfolder.config import Schedule
from syncd.clock import SHANGHAI, ensure_utc


def batch_due(last_batch_at: datetime | None, now: datetime, schedule: Schedule) -> bool:
    """True when a new batch should be written at ``now``.

    Due the first time (no batch yet), when ``interval_minutes`` have passed since the last batch,
    or when a cutoff time of day (Asia/Shanghai) lies in ``(last_batch_at, now]``.
    Times are aware UTC (a naive value is taken as UTC, as the store keeps them).
    """
    if last_batch_at is None:
        return True
    last = ensure_utc(last_batch_at)
    current = ensure_utc(now)
    if current <= last:
        return False
    if schedule.interval_minutes is not None and current - last >= timedelta(minutes=schedule.interval_minutes):
        return True
    cutoffs = schedule.cutoff_times()
    if not cutoffs:
        return False
    if current - last >= timedelta(days=1):
        return True  # a whole day holds every cutoff
    last_local = last.astimezone(SHANGHAI)
    now_local = current.astimezone(SHANGHAI)
    day = last_local.date()
    while day <= now_local.date():
        for at in cutoffs:
            instant = datetime.combine(day, at, tzinfo=SHANGHAI)
            if last_local < instant <= now_local:
                return True
        day += timedelta(days=1)
    return False


__all__ = ["batch_due"]

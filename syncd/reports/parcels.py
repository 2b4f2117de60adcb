"""One read of the period's parcels gives every parcel figure: the four parcel steps of processing speed, the
logistics counts, days to delivery per group and per province.

A month of a million parcels is one indexed join read once, its times turned into seconds by the database and
counted here by whole minute: reading the parcels once instead of once per figure is what keeps a month's
report within seconds on SQLite.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from syncd import clock
from syncd.domain import STALLED_VERDICT, LogisticsState
from syncd.reports.model import TOTAL, Hist, LogisticsRow, ProvinceRow
from syncd.reports.period import Period
from syncd.reports.sources import in_period, source
from syncd.store.models import Shipment, SupplierOrder

MOVING = frozenset({LogisticsState.PICKED_UP, LogisticsState.IN_TRANSIT, LogisticsState.DELIVERING})
BACK = frozenset({LogisticsState.RETURNING, LogisticsState.RETURNED})
# speed step → (start, end) among the times read: placed, handed over, uploaded, picked up, delivered
STEPS = {"sent_to_shipped": (0, 1), "shipped_to_uploaded": (1, 2), "shipped_to_first_scan": (1, 3),
         "first_scan_to_delivered": (3, 4)}
DELIVERY = (1, 4)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When a parcel counts as stalled or never picked up (the alert rules' defaults)."""

    stall_hours: float = 48  # alerts.yaml stalled_in_transit_hours
    no_pickup_hours: float = 24  # platforms count a number without a scan within 24 h as a fake shipment


def epoch(dialect: str, column: Any) -> Any:
    """Seconds since 1970 of a stored time, as the database computes it (a float)."""
    if dialect == "sqlite":
        return (func.julianday(column) - 2440587.5) * 86400.0
    return func.extract("epoch", column)


@dataclass(slots=True)
class _Group:
    row: LogisticsRow
    steps: dict[str, Hist] = field(default_factory=lambda: defaultdict(Hist))
    delivery: Hist = field(default_factory=Hist)


@dataclass(slots=True)
class ParcelFigures:
    """Per group key: the logistics row and the parcel steps' histograms; per province likewise."""

    groups: dict[str, _Group] = field(default_factory=dict)
    provinces: dict[str, _Group] = field(default_factory=dict)

    def logistics(self) -> list[LogisticsRow]:
        for g in self.groups.values():
            g.row.delivery_days = g.delivery.distribution()
        return sorted((g.row for g in self.groups.values()), key=lambda r: r.key)

    def province_rows(self) -> list[ProvinceRow]:
        rows = [ProvinceRow(p, g.row.parcels, g.row.delivered, g.delivery.distribution())
                for p, g in self.provinces.items()]
        return sorted(rows, key=lambda r: (-r.parcels, r.province))

    def steps(self) -> dict[str, dict[str, Hist]]:
        """step → key → histogram."""
        out: dict[str, dict[str, Hist]] = {name: {} for name in STEPS}
        for key, g in self.groups.items():
            for name, h in g.steps.items():
                out[name][key] = h
        return out


def _group(table: dict[str, _Group], key: str) -> _Group:
    g = table.get(key)
    if g is None:
        g = table[key] = _Group(LogisticsRow(key))
    return g


def parcel_figures(conn: Connection, period: Period, by: str | None, now: datetime,
                   limits: Thresholds | None = None, *, total: bool = False) -> ParcelFigures:
    """Every parcel figure per group (``by`` None: the whole period, key ``""``, and per province); ``total``:
    also the whole period and per province in the same read (only for a grouping where each parcel is in one
    group: not by SKU)."""
    limits = limits or Thresholds()
    dialect = conn.dialect.name
    src = source("parcel", by, period, dialect)
    assert src is not None  # every grouping reaches parcels
    times = [SupplierOrder.placed_at, Shipment.handed_over_at, Shipment.uploaded_at, Shipment.picked_up_at,
             Shipment.delivered_at, Shipment.last_event_at]
    q = (select(src.key, Shipment.logistics_state, Shipment.track_verdict, Shipment.province,
                *(epoch(dialect, t) for t in times))
         .select_from(src.frm).where(in_period(period)))
    stall_before = clock.to_epoch(now - timedelta(hours=limits.stall_hours))
    pickup_before = clock.to_epoch(now - timedelta(hours=limits.no_pickup_hours))
    out = ParcelFigures()
    add_total, add_province = total and by is not None, total or by is None
    for key, state, verdict, province, *t in conn.execute(q):
        groups = [_group(out.groups, str(key))]
        if add_total:
            groups.append(_group(out.groups, TOTAL))
        if add_province:
            groups.append(_group(out.provinces, str(province or "")))
        handed, picked = t[1], t[3]
        quiet = t[5] if t[5] is not None else handed
        stalled = state in MOVING and ((quiet is not None and quiet < stall_before) or verdict == STALLED_VERDICT)
        unpicked = (state == LogisticsState.NONE and picked is None and handed is not None
                    and handed < pickup_before)
        spans = {name: round(t[b] - t[a]) for name, (a, b) in STEPS.items()
                 if t[a] is not None and t[b] is not None}
        delivery = round(t[4] - handed) if t[4] is not None and handed is not None else None
        for g in groups:
            r = g.row
            r.parcels += 1
            r.delivered += state == LogisticsState.DELIVERED
            r.stalled += stalled
            r.never_picked_up += unpicked
            r.returned += state in BACK
            r.refused += state == LogisticsState.REFUSED
            for name, seconds in spans.items():
                g.steps[name].add(seconds)
            if delivery is not None:
                g.delivery.add(delivery)
    return out

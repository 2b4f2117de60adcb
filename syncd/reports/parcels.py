"""One read of the period's parcels gives every parcel figure: the four parcel steps of processing speed, the
logistics counts, days to delivery per group and per province.

The period's parcels are one indexed join read once, their times turned into seconds by the database and
counted here by whole minute: once instead of once per figure. That read is still most of a month's report (about
half a million parcels: tens of seconds of CPU on SQLite, docs/benchmarks.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from syncd import clock
from syncd.domain import STALLED_VERDICT, LogisticsState
from syncd.reports.model import TOTAL, Hist, LogisticsRow, ProvinceRow
from syncd.reports.period import Period
from syncd.reports.sources import in_period, source
from syncd.store.models import Order, OrderLine, Shipment, SupplierOrder

MOVING = frozenset({LogisticsState.PICKED_UP, LogisticsState.IN_TRANSIT, LogisticsState.DELIVERING})
BACK = frozenset({LogisticsState.RETURNING, LogisticsState.RETURNED})
# speed step → (start, end) among the times read: placed, handed over, uploaded, picked up, delivered
STEPS = {"sent_to_shipped": (0, 1), "shipped_to_uploaded": (1, 2), "shipped_to_first_scan": (1, 3),
         "first_scan_to_delivered": (3, 4)}
DELIVERY = (1, 4)
STEP_NAMES = list(STEPS)
SPANS = [*STEPS.values(), DELIVERY]  # the steps in order, then handed over → delivered


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

    def merge(self, other: _Group) -> None:
        """Add ``other`` (the same group over other orders) to this one."""
        r, o = self.row, other.row
        for name in COUNTS:
            setattr(r, name, getattr(r, name) + getattr(o, name))
        for name, h in other.steps.items():
            self.steps[name].merge(h)
        self.delivery.merge(other.delivery)


ParcelGroup = _Group
# the logistics row's counts, in the order the summary keeps them; stalled and never picked up depend on the time
# of the report and are never kept (see :func:`live_flags`)
COUNTS = ("parcels", "delivered", "stalled", "never_picked_up", "returned", "refused")


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

    def merge(self, other: ParcelFigures) -> None:
        """Add ``other`` (the same figures over other orders: another day) to these."""
        for mine, theirs in ((self.groups, other.groups), (self.provinces, other.provinces)):
            for key, g in theirs.items():
                _group(mine, key).merge(g)

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


class _Flags:
    """Whether a parcel counts as stalled and as never picked up at ``now``: the two parcel figures that change
    with the time of the report alone."""

    def __init__(self, now: datetime, limits: Thresholds) -> None:
        self.stall_before = clock.to_epoch(now - timedelta(hours=limits.stall_hours))
        self.pickup_before = clock.to_epoch(now - timedelta(hours=limits.no_pickup_hours))

    def __call__(self, state: str, verdict: str | None, handed: float | None, picked: float | None,
                 last_event: float | None) -> tuple[bool, bool]:
        quiet = last_event if last_event is not None else handed
        stalled = state in MOVING and ((quiet is not None and quiet < self.stall_before) or verdict == STALLED_VERDICT)
        unpicked = (state == LogisticsState.NONE and picked is None and handed is not None
                    and handed < self.pickup_before)
        return stalled, unpicked


# the only states in which a parcel can be stalled or never picked up
LIVE_STATES = (LogisticsState.NONE, *sorted(MOVING))


def live_flags(conn: Connection, period: Period, by: str | None, now: datetime, limits: Thresholds,
               days: Collection[date]) -> dict[str, tuple[int, int]]:
    """Per group key, and ``""`` over all: (stalled, never picked up) among the parcels of the orders paid on
    ``days`` (days of the period). Reads only the parcels still waiting for a pickup or moving, through
    ``ix_shipments_logistics_state``: bounded by the parcels on their way, not by the history."""
    dialect = conn.dialect.name
    frm: Any = (Shipment.__table__.join(Order.__table__, Order.id == Shipment.order_id)
                .join(SupplierOrder.__table__, SupplierOrder.id == Shipment.supplier_order_id))
    key: Any
    if by == "sku":  # not the grouping's subquery over every line of the period
        frm = frm.join(OrderLine.__table__, OrderLine.order_id == Order.id)
        key = OrderLine.merchant_sku
    else:
        src = source("parcel", by, period, dialect)
        assert src is not None
        key = src.key
    times = [Shipment.handed_over_at, Shipment.picked_up_at, Shipment.last_event_at, Order.paid_at]
    q = (select(Shipment.id, key, Shipment.logistics_state, Shipment.track_verdict,
                *(epoch(dialect, t) for t in times))
         .select_from(frm).where(Shipment.logistics_state.in_(LIVE_STATES), in_period(period)).distinct())
    flags = _Flags(now, limits)
    wanted = set(days)
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    seen: set[int] = set()
    for sid, k, state, verdict, handed, picked, last_event, paid in conn.execute(q):
        if datetime.fromtimestamp(float(paid), period.zone).date() not in wanted:
            continue
        stalled, unpicked = flags(state, verdict, handed, picked, last_event)
        keys = [str(k)] if sid in seen else [str(k), TOTAL]
        seen.add(sid)
        for name in keys if by is not None else [TOTAL]:
            out[name][0] += stalled
            out[name][1] += unpicked
    return {k: (v[0], v[1]) for k, v in out.items()}


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
    flags = _Flags(now, limits)
    # Per row only a few dict increments, keyed by (group, province, ...): the per-group, total and province
    # figures are added up from these at the end (a million rows: the loop is most of the report's CPU).
    states: dict[tuple[str, str, str, bool, bool], int] = defaultdict(int)
    minutes: dict[tuple[str, str, int, int], int] = defaultdict(int)  # (group, province, span, minute)
    tops: dict[tuple[str, str, int], int] = {}
    for key, state, verdict, province, *t in conn.execute(q):
        k, p = str(key), str(province or "")
        stalled, unpicked = flags(state, verdict, t[1], t[3], t[5])
        states[(k, p, state, stalled, unpicked)] += 1
        for n, (a, b) in enumerate(SPANS):
            if t[a] is not None and t[b] is not None:
                seconds = max(0, round(t[b] - t[a]))  # a scan stamped before the hand-over: no time, not less
                minutes[(k, p, n, seconds // 60)] += 1
                if seconds > tops.get((k, p, n), -1 << 62):
                    tops[(k, p, n)] = seconds
    return _figures(states, minutes, tops, total and by is not None, total or by is None)


def _figures(states: Mapping[tuple[str, str, str, bool, bool], int], minutes: Mapping[tuple[str, str, int, int], int],
             tops: Mapping[tuple[str, str, int], int], add_total: bool, add_province: bool) -> ParcelFigures:
    out = ParcelFigures()

    def targets(k: str, p: str) -> list[_Group]:
        found = [_group(out.groups, k)]
        if add_total:
            found.append(_group(out.groups, TOTAL))
        if add_province:
            found.append(_group(out.provinces, p))
        return found

    for (k, p, state, stalled, unpicked), n in states.items():
        for g in targets(k, p):
            r = g.row
            r.parcels += n
            r.delivered += n * (state == LogisticsState.DELIVERED)
            r.stalled += n * stalled
            r.never_picked_up += n * unpicked
            r.returned += n * (state in BACK)
            r.refused += n * (state == LogisticsState.REFUSED)
    for (k, p, span, minute), n in minutes.items():
        top = tops[(k, p, span)]
        for g in targets(k, p):
            h = g.delivery if span == len(STEPS) else g.steps[STEP_NAMES[span]]
            h.add(minute * 60, n, top if top // 60 == minute else minute * 60)
    return out

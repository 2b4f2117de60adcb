"""A report as exact partial results that add up: counts, money in fen and minute histograms, per group key.

Every figure is a sum over units (orders, supplier orders, parcels) that each belong to one order, and an order
to one day of payment, so the parts of two sets of days merge into the parts of both: the histograms add up
minute by minute (the median and 90th percentile are read from the merged counts, the longest is the larger),
the counts and amounts add up. :func:`raw_parts` computes them with the raw queries over a period; the daily
summary (:mod:`syncd.reports.summary`) keeps them per day; :func:`to_report` turns them into the figures.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import datetime

from sqlalchemy import Connection, Engine

from syncd.reports.margin import margin
from syncd.reports.model import TOTAL, Hist, LogisticsRow, MarginRow, Report, SpeedRow, merged
from syncd.reports.parcels import ParcelFigures, ParcelGroup, Thresholds, parcel_figures
from syncd.reports.period import Period
from syncd.reports.speed import assemble, on_time, sent_hists

MMAP_BYTES = 4 << 30


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for the reports' reads. On SQLite: no write lock (a report never blocks the daemon's
    writers), and the file read memory-mapped — a month's rows are looked up all over the file, and mapped pages
    cost no system call each (2.5× less CPU measured on a million orders); the connection goes back to the pool
    as it was."""
    with engine.execution_options(syncd_read_only=True).connect() as conn:
        if conn.dialect.name != "sqlite":
            yield conn
            return
        conn.exec_driver_sql(f"PRAGMA mmap_size={MMAP_BYTES}")
        try:
            yield conn
        finally:
            conn.exec_driver_sql("PRAGMA mmap_size=0")


# Groupings where each unit is in exactly one group: the totals are the groups added up, no second read.
ONE_GROUP_PER_ORDER = ("shop", "day")
ONE_GROUP_PER_SUPPLIER_ORDER = ("shop", "day", "supplier")
MONEY = tuple(f.name for f in fields(MarginRow) if f.name != "key")
Judged = list[int]  # on time, late, pending


@dataclass(slots=True)
class Parts:
    """Everything a report grouped ``by`` shows, as parts that add up. ``sent`` None: the grouping has no
    supplier-order step (carrier)."""

    by: str
    groups: ParcelFigures = field(default_factory=ParcelFigures)  # per key of the grouping
    whole: ParcelFigures = field(default_factory=ParcelFigures)  # key TOTAL, and per province
    sent: dict[str, Hist] | None = field(default_factory=dict)
    sent_total: Hist = field(default_factory=Hist)
    judged: dict[str, Judged] = field(default_factory=dict)
    judged_total: Judged = field(default_factory=lambda: [0, 0, 0])
    money: dict[str, MarginRow] = field(default_factory=dict)
    money_total: MarginRow = field(default_factory=lambda: MarginRow(TOTAL))

    def __post_init__(self) -> None:
        if self.by == "carrier":
            self.sent = None

    def merge(self, other: Parts) -> None:
        """Add ``other`` (the same grouping over other days) to these parts."""
        self.groups.merge(other.groups)
        self.whole.merge(other.whole)
        if self.sent is not None and other.sent is not None:
            for key, h in other.sent.items():
                self.sent.setdefault(key, Hist()).merge(h)
        self.sent_total.merge(other.sent_total)
        for key, j in other.judged.items():
            add_judged(self.judged.setdefault(key, [0, 0, 0]), j)
        add_judged(self.judged_total, other.judged_total)
        for key, m in other.money.items():
            add_money(self.money.setdefault(key, MarginRow(key)), m)
        add_money(self.money_total, other.money_total)

    def add_live(self, flags: dict[str, tuple[int, int]]) -> None:
        """Add the stalled and never-picked-up counts (per key, ``""`` over all) of days read from the summary."""
        for key, (stalled, unpicked) in flags.items():
            table = self.whole.groups if key == TOTAL else self.groups.groups
            g = table.get(key)
            if g is None:
                g = table[key] = ParcelGroup(LogisticsRow(key))
            g.row.stalled += stalled
            g.row.never_picked_up += unpicked


def add_judged(into: Judged, part: Judged | tuple[int, int, int]) -> None:
    for i in range(3):
        into[i] += part[i]


def add_money(into: MarginRow, part: MarginRow) -> None:
    for name in MONEY:
        setattr(into, name, getattr(into, name) + getattr(part, name))


def raw_parts(conn: Connection, period: Period, by: str, now: datetime, commission_bp: dict[str, int],
              limits: Thresholds, *, totals: bool = True) -> Parts:
    """The parts of ``period`` from the raw queries. The parcels are read once (twice by SKU); the totals come
    from adding up the groups where a unit is in one. ``totals`` False: the groups only."""
    out = Parts(by)
    parcels = parcel_figures(conn, period, by, now, limits, total=totals and by != "sku")
    out.groups.groups = {k: g for k, g in parcels.groups.items() if k != TOTAL}
    sent = sent_hists(conn, period, by)
    out.sent = sent
    out.judged = {k: list(v) for k, v in on_time(conn, by, period, now).items()}
    out.money = {r.key: r for r in margin(conn, period, by, commission_bp)}
    if not totals:
        return out
    whole = parcels if by != "sku" else parcel_figures(conn, period, None, now, limits)
    out.whole.groups = {TOTAL: whole.groups.get(TOTAL) or ParcelGroup(LogisticsRow(TOTAL))}
    out.whole.provinces = whole.provinces
    if by in ONE_GROUP_PER_SUPPLIER_ORDER and sent is not None:
        out.sent_total = merged(sent.values())
    else:
        out.sent_total = (sent_hists(conn, period, None) or {}).get(TOTAL) or Hist()
    if by in ONE_GROUP_PER_ORDER:
        for j in out.judged.values():
            add_judged(out.judged_total, j)
        for m in out.money.values():
            add_money(out.money_total, m)
    else:
        out.judged_total = list(on_time(conn, None, period, now).get(TOTAL, (0, 0, 0)))
        out.money_total = next(iter(margin(conn, period, None, commission_bp)), MarginRow(TOTAL))
    return out


def to_report(parts: Parts, period: Period, shops_without_commission: list[str]) -> Report:
    """The report's rows and totals from its parts."""
    judged = {k: (j[0], j[1], j[2]) for k, j in parts.judged.items()}
    total_judged = (parts.judged_total[0], parts.judged_total[1], parts.judged_total[2])
    speed_rows = [r for r in assemble(parts.sent, parts.groups.steps(), judged) if r.key != TOTAL]
    speed_total = next(iter(assemble({TOTAL: parts.sent_total}, parts.whole.steps(), {TOTAL: total_judged},
                                     keys=[TOTAL])), SpeedRow(TOTAL))
    groups = [r for r in parts.groups.logistics() if r.key != TOTAL]
    total_parcels = next((r for r in parts.whole.logistics() if r.key == TOTAL), LogisticsRow(TOTAL))
    money = sorted(parts.money.values(), key=lambda r: r.key)
    return Report(period, parts.by, speed_rows, groups, money, parts.whole.province_rows(),
                  (speed_total, total_parcels, parts.money_total), shops_without_commission)

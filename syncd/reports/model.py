"""The figures of a report: plain data, filled by the queries (speed, logistics, margin), read by the CLI, the
console and the daily digest. Durations in seconds, money in integer fen; None where nothing was measured."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from syncd.reports.period import Period, percentile_of_counts

GROUPINGS = ("shop", "supplier", "sku", "carrier", "day")
TOTAL = ""  # the key of the row over everything


@dataclass(frozen=True, slots=True)
class Distribution:
    """How long something took, over ``count`` cases: median and 90th percentile (to the minute), max (to the
    second)."""

    count: int = 0
    median: int | None = None  # seconds
    p90: int | None = None
    max: int | None = None


class Hist:
    """Durations counted by whole minute (the longest kept to the second): mergeable, and read as a
    :class:`Distribution` exactly as the sorted list of minute values would be."""

    __slots__ = ("counts", "top")

    def __init__(self) -> None:
        self.counts: dict[int, int] = defaultdict(int)
        self.top: int | None = None

    def add(self, seconds: int, n: int = 1, top: int | None = None) -> None:
        self.counts[seconds // 60] += n
        top = seconds if top is None else top
        if self.top is None or top > self.top:
            self.top = top

    def merge(self, other: Hist) -> None:
        for minute, n in other.counts.items():
            self.counts[minute] += n
        if other.top is not None and (self.top is None or other.top > self.top):
            self.top = other.top

    def distribution(self) -> Distribution:
        total = sum(self.counts.values())
        minutes = [(m * 60, n) for m, n in sorted(self.counts.items())]
        return Distribution(total, _seconds(percentile_of_counts(minutes, total, 50)),
                            _seconds(percentile_of_counts(minutes, total, 90)), self.top)


def hists(rows: Iterable[tuple[str, int, int, int]]) -> dict[str, Hist]:
    """``(key, minute, count, max seconds in that minute)`` rows (the database's GROUP BY) → one Hist per key."""
    out: dict[str, Hist] = defaultdict(Hist)
    for key, minute, n, top in rows:
        out[str(key)].add(int(minute) * 60, int(n), int(top))
    return dict(out)


def merged(parts: Iterable[Hist]) -> Hist:
    out = Hist()
    for h in parts:
        out.merge(h)
    return out


def distributions(rows: Iterable[tuple[str, int, int, int]]) -> dict[str, Distribution]:
    """``(key, minute, count, max seconds in that minute)`` rows → one distribution per key."""
    return {key: h.distribution() for key, h in hists(rows).items()}


def _seconds(value: float | None) -> int | None:
    return None if value is None else round(value)


@dataclass(slots=True)
class SpeedRow:
    """Processing speed of one group. A ``None`` distribution: the measure does not apply to the grouping
    (a supplier order has no carrier)."""

    key: str
    paid_to_sent: Distribution | None = field(default_factory=Distribution)
    sent_to_shipped: Distribution | None = field(default_factory=Distribution)
    shipped_to_uploaded: Distribution | None = field(default_factory=Distribution)
    shipped_to_first_scan: Distribution | None = field(default_factory=Distribution)
    first_scan_to_delivered: Distribution | None = field(default_factory=Distribution)
    on_time: int = 0  # tracking on the storefront at or before the ship-by time
    late: int = 0  # after it, or not yet while the ship-by time has passed
    pending: int = 0  # not on the storefront yet, ship-by time still ahead

    @property
    def on_time_share(self) -> float | None:
        judged = self.on_time + self.late
        return self.on_time / judged if judged else None


@dataclass(slots=True)
class LogisticsRow:
    """Parcels of one group (handed over by suppliers for the period's orders)."""

    key: str
    parcels: int = 0
    delivered: int = 0
    stalled: int = 0  # moving, no scan for the stall threshold (or the provider says so), not delivered
    never_picked_up: int = 0  # no carrier scan at all, handed over longer ago than the pickup threshold
    returned: int = 0  # returning or returned to the sender
    refused: int = 0  # the receiver refused it
    delivery_days: Distribution = field(default_factory=Distribution)  # handed over → delivered, in seconds

    def share(self, count: int) -> float | None:
        return count / self.parcels if self.parcels else None


@dataclass(slots=True)
class MarginRow:
    """Money of one group, integer fen: orders that reached their supplier in the period (paid time)."""

    key: str
    orders: int = 0
    revenue_fen: int = 0  # the buyer paid for the lines not refunded (unit price × quantity)
    commission_fen: int = 0  # the shop's commission_percent of revenue
    cost_fen: int = 0  # supplier cost of the orders whose cost is known
    missing_cost: int = 0  # orders with a supplier order of unknown cost: left out of the money columns
    refunded: int = 0  # orders refunded in full after the supplier was paid
    refund_loss_fen: int = 0  # what those cost at the supplier (nothing came in for them)

    @property
    def margin_fen(self) -> int:
        return self.revenue_fen - self.commission_fen - self.cost_fen

    @property
    def margin_share(self) -> float | None:
        return self.margin_fen / self.revenue_fen if self.revenue_fen else None


@dataclass(slots=True)
class ProvinceRow:
    """Delivery time to one province (the receiver's, as the storefront gives it masked)."""

    province: str
    parcels: int = 0
    delivered: int = 0
    delivery_days: Distribution = field(default_factory=Distribution)


@dataclass(slots=True)
class Report:
    period: Period
    by: str
    speed: list[SpeedRow]
    logistics: list[LogisticsRow]
    margin: list[MarginRow]
    provinces: list[ProvinceRow]
    totals: tuple[SpeedRow, LogisticsRow, MarginRow]
    shops_without_commission: list[str] = field(default_factory=list)

"""A small hand-checked data set for the report tests: the expected figures are worked out in test_figures.py.

Period: Beijing days 2026-11-10 and 2026-11-11 (UTC 2026-11-09 16:00 → 2026-11-11 16:00); now 2026-11-20 12:00
UTC. Shop ``dy`` charges 5 % commission, ``pdd`` has no rate configured.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from syncd.reports import Period, ReportOptions
from syncd.store.db import Database
from syncd.store.models import Order, OrderLine, Shipment, Shop, SupplierOrder

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PERIOD = Period(date(2026, 11, 10), date(2026, 11, 11))
OPTIONS = ReportOptions({"dy": 500}, ("pdd",))
H = timedelta(hours=1)


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


class Seeder:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.n = 0

    def order(self, shop: str, paid: datetime, lines: list[tuple[str, int, int, str]], *, ship_by: timedelta | None,
              state: str = "placed", refund: str = "none") -> int:
        """lines: (sku, quantity, unit price fen, refund state)."""
        self.n += 1
        with self.db.begin() as s:
            o = Order(shop_id=shop, platform_order_id=f"O{self.n}", platform_status="x", status="paid",
                      ready_to_ship=True, refund_state=refund, payment_mode="prepaid", paid_at=paid,
                      ship_by=paid + ship_by if ship_by else None, platform_updated_at=paid,
                      receiver={"province": "广东省"}, shipped_tracking=[], raw={}, state=state, first_seen_at=paid,
                      updated_at=paid)
            s.add(o)
            s.flush()
            for i, (sku, qty, price, rs) in enumerate(lines):
                s.add(OrderLine(order_id=o.id, platform_line_id=f"L{i}", merchant_sku=sku, quantity=qty,
                                unit_price_fen=price, refund_state=rs))
            return o.id

    def supplier_order(self, order_id: int, supplier: str, placed: datetime | None, *, cost: int | None,
                       state: str = "placed", paid: bool | None = None) -> int:
        self.n += 1
        with self.db.begin() as s:
            so = SupplierOrder(order_id=order_id, supplier_id=supplier, idempotency_key=f"k{self.n}", lines=[],
                               state=state, placed_at=placed, paid=paid, cost_fen=cost,
                               cost_source=None if cost is None else "config", created_at=NOW, updated_at=NOW)
            s.add(so)
            s.flush()
            return so.id

    def parcel(self, order_id: int, so_id: int, carrier: str, *, handed: datetime, uploaded: datetime | None = None,
               picked: datetime | None = None, delivered: datetime | None = None, state: str = "none",
               last_event: datetime | None = None, province: str = "") -> None:
        self.n += 1
        with self.db.begin() as s:
            s.add(Shipment(order_id=order_id, supplier_order_id=so_id, carrier=carrier, tracking_no=f"T{self.n}",
                           writeback_state="uploaded" if uploaded else "pending", uploaded_at=uploaded,
                           handed_over_at=handed, picked_up_at=picked, delivered_at=delivered, logistics_state=state,
                           last_event_at=last_event, province=province, created_at=handed))


def seed(db: Database) -> dict[str, Any]:
    """The data set; returns the ids by name."""
    with db.begin() as s:
        s.add_all([Shop(id="dy", platform="douyin", updated_at=NOW), Shop(id="pdd", platform="pdd", updated_at=NOW)])
    sd = Seeder(db)
    ids: dict[str, Any] = {}
    # O1: one SKU, delivered
    p = at(10, 2)
    o1 = sd.order("dy", p, [("SKU-A", 2, 1000, "none")], ship_by=48 * H, state="shipped")
    so1 = sd.supplier_order(o1, "gz", p + H, cost=1200, state="shipped")
    sd.parcel(o1, so1, "yto", handed=p + 5 * H, uploaded=p + 6 * H, picked=p + 8 * H, delivered=p + 56 * H,
              state="delivered", last_event=p + 56 * H, province="广东省")
    # O2: split over two suppliers; one parcel stalled in transit, the other never picked up
    p = at(10, 4)
    o2 = sd.order("dy", p, [("SKU-A", 1, 1000, "none"), ("SKU-B", 1, 3000, "none")], ship_by=48 * H, state="shipped")
    so2a = sd.supplier_order(o2, "gz", p + 2 * H, cost=600, state="shipped")
    so2b = sd.supplier_order(o2, "ali", p + 3 * H, cost=2500, state="shipped", paid=True)
    sd.parcel(o2, so2a, "yto", handed=p + 10 * H, uploaded=p + 11 * H, picked=p + 12 * H, state="in_transit",
              last_event=NOW - 72 * H, province="浙江省")
    sd.parcel(o2, so2b, "sto", handed=p + 20 * H, uploaded=p + 50 * H, province="浙江省")
    # O3: refunded in full after the supplier (1688) was paid: a loss
    p = at(11, 1)
    o3 = sd.order("pdd", p, [("SKU-B", 1, 3000, "refunded")], ship_by=24 * H, refund="refunded")
    sd.supplier_order(o3, "ali", p + H, cost=2500, paid=True)
    # O4: cost unknown; two lines, one parcel holding one of them (partial shipment), refused
    p = at(11, 3)
    o4 = sd.order("pdd", p, [("SKU-C", 1, 1500, "none"), ("SKU-A", 1, 1000, "none")], ship_by=24 * H)
    so4 = sd.supplier_order(o4, "gz", p + 30 * H / 60, cost=None)
    sd.parcel(o4, so4, "zto", handed=p + 4 * H, uploaded=p + 5 * H, picked=p + 6 * H, state="refused",
              last_event=p + 30 * H)
    # O5: uploaded after its ship-by time; came back to the sender
    p = at(11, 5)
    o5 = sd.order("dy", p, [("SKU-A", 1, 1000, "none")], ship_by=48 * H, state="shipped")
    so5 = sd.supplier_order(o5, "gz", p + H, cost=600, state="shipped")
    sd.parcel(o5, so5, "yto", handed=p + 30 * H, uploaded=p + 50 * H, picked=p + 52 * H, state="returned",
              last_event=p + 80 * H, province="广东省")
    # O6: a second before the period (Beijing 2026-11-09 23:59:59): left out
    p = at(9, 15, 59, 59)
    o6 = sd.order("dy", p, [("SKU-A", 1, 1000, "none")], ship_by=48 * H)
    sd.supplier_order(o6, "gz", p + H, cost=600)
    # O7: the period's first instant (Beijing 00:00): in; not sent yet, ship-by ahead
    p = at(9, 16)
    o7 = sd.order("dy", p, [("SKU-A", 1, 1000, "none")], ship_by=NOW - p + 10 * H, state="routed")
    sd.supplier_order(o7, "gz", None, cost=600, state="pending")
    # O8: cancelled before anything was sent
    sd.order("dy", at(10, 6), [("SKU-A", 1, 1000, "refunded")], ship_by=24 * H, state="cancelled", refund="refunded")
    # O9: after the period (Beijing 2026-11-12 00:00): left out
    o9 = sd.order("dy", at(11, 16), [("SKU-A", 1, 1000, "none")], ship_by=48 * H)
    sd.supplier_order(o9, "gz", at(11, 17), cost=600)
    # O10: 1688 order placed but not paid yet: its cost is not counted, so the order is not in the margin
    p = at(11, 7)
    o10 = sd.order("dy", p, [("SKU-B", 1, 3000, "none")], ship_by=None)
    sd.supplier_order(o10, "ali", p + H, cost=2500, paid=False)
    ids.update(o1=o1, o2=o2, o3=o3, o4=o4, o5=o5)
    return ids

"""A small hand-made database for the console's tests: two shops, orders in every interesting state, a late one, a
held one, a shipped one with a parcel whose scans name a courier's phone, a stalled-parcel alert, a resolved one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from syncd.store.db import Database
from syncd.store.models import (
    Alert,
    Hold,
    Order,
    Shipment,
    StageRun,
    SupplierOrder,
    TokenRow,
    TrackingEvent,
)
from syncd.store.orders import upsert_orders
from tests.fakes import make_order

COURIER_PHONE = "13912345678"


@dataclass
class Seeded:
    """Ids the tests look for."""

    shipped: int  # A0: at supplier acme, parcel SF123 uploaded, two scans
    placed: int  # A1: at supplier acme since 30 h (late to ship)
    held: int  # A2: held as unmapped_sku
    late: int  # A3: new, its ship-by passed an hour ago
    fresh: int  # B0: shop-b, new
    shipment: int
    stalled_alert: int
    held_alert: int
    resolved_alert: int


def seed(db: Database, now: datetime) -> Seeded:
    """Write the data set; times relative to ``now``."""
    a = [make_order(f"A{i}", now - timedelta(hours=h)) for i, h in enumerate([40, 30, 5, 50])]
    with db.begin() as s:
        upsert_orders(s, "shop-a", a, now - timedelta(hours=1))
        upsert_orders(s, "shop-b", [make_order("B0", now - timedelta(minutes=30))], now - timedelta(minutes=20))
        ids = dict(s.execute(select(Order.platform_order_id, Order.id)).all())
        for pid, state in [("A0", "shipped"), ("A1", "placed"), ("A2", "held"), ("A3", "new")]:
            s.execute(update(Order).where(Order.id == ids[pid]).values(state=state))
        s.execute(update(Order).where(Order.id == ids["A2"]).values(hold_reason="unmapped_sku"))
        s.execute(update(Order).where(Order.id == ids["A3"]).values(ship_by=now - timedelta(hours=1)))
        s.execute(update(Order).where(Order.id == ids["A0"]).values(
            receiver={"name_masked": "张*", "phone_masked": "138****4321", "province": "浙江省", "city": "金华市"}))
        s.add(Hold(order_id=ids["A2"], reason="unmapped_sku", detail=f"SKU-A has no route (buyer {COURIER_PHONE})",
                   auto=True, created_at=now - timedelta(hours=4)))
        so0 = SupplierOrder(order_id=ids["A0"], supplier_id="acme", idempotency_key="k-a0", kind="normal",
                            lines=[{"supplier_sku": "AC-1", "quantity": 1, "merchant_sku": "SKU-A"}], state="shipped",
                            supplier_ref="PO-9", placed_at=now - timedelta(hours=38),
                            shipped_at=now - timedelta(hours=30), created_at=now, updated_at=now, cancel_state="none")
        so1 = SupplierOrder(order_id=ids["A1"], supplier_id="acme", idempotency_key="k-a1", kind="normal",
                            lines=[{"supplier_sku": "AC-1", "quantity": 2, "merchant_sku": "SKU-A"}], state="placed",
                            placed_at=now - timedelta(hours=30), created_at=now, updated_at=now, cancel_state="none")
        s.add_all([so0, so1])
        s.flush()
        sh = Shipment(order_id=ids["A0"], supplier_order_id=so0.id, carrier="SF", tracking_no="SF123",
                      writeback_state="uploaded", uploaded_at=now - timedelta(hours=29), logistics_state="in_transit",
                      last_event_at=now - timedelta(hours=26), created_at=now - timedelta(hours=30), province="浙江省")
        s.add(sh)
        s.flush()
        s.add_all([
            TrackingEvent(shipment_id=sh.id, at=now - timedelta(hours=28), state="picked_up", text="已揽收",
                          location="义乌", digest="d1"),
            TrackingEvent(shipment_id=sh.id, at=now - timedelta(hours=26), state="in_transit",
                          text=f"快件到达杭州中转部，派件员 {COURIER_PHONE}", location="杭州", digest="d2"),
        ])
        stalled = Alert(rule="stalled_in_transit", subject=f"shipment:{sh.id}", open=True, severity="critical",
                        shop_id="shop-a", title="运输停滞：包裹 SF123", detail=f"派件员 {COURIER_PHONE}",
                        opened_at=now - timedelta(hours=2), last_seen_at=now)
        held = Alert(rule="order_held", subject="order shop-a/A2", open=True, severity="warning", shop_id="shop-a",
                     title="订单暂扣：A2", detail="", opened_at=now - timedelta(hours=3), last_seen_at=now)
        resolved = Alert(rule="supplier_late", subject="supplier acme", open=None, severity="warning",
                         title="供应商发货慢：acme", detail="", opened_at=now - timedelta(days=2),
                         last_seen_at=now - timedelta(days=1), resolved_at=now - timedelta(days=1))
        s.add_all([stalled, held, resolved])
        s.add_all([
            StageRun(stage="pull", scope="shop-a", last_started_at=now, last_success_at=now - timedelta(minutes=1),
                     consecutive_failures=0),
            StageRun(stage="forward", scope="acme", last_started_at=now, last_success_at=now - timedelta(hours=1),
                     last_error_at=now, last_error=f"supplier said: call {COURIER_PHONE}", consecutive_failures=2),
        ])
        s.add(TokenRow(shop_id="shop-a", access_token="secret-a", refresh_token="secret-r",
                       expires_at=now + timedelta(hours=5), refresh_expires_at=now + timedelta(days=1), extra={},
                       updated_at=now))
        s.flush()
        return Seeded(shipped=ids["A0"], placed=ids["A1"], held=ids["A2"], late=ids["A3"], fresh=ids["B0"],
                      shipment=sh.id, stalled_alert=stalled.id, held_alert=held.id, resolved_alert=resolved.id)

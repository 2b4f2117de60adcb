"""The floor line's bare client: one read of the look-back, a decrypt per 50 shippable orders, a ship per order."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from syncd import clock
from syncd.bench import add_floor
from syncd.bench_floor import refunded_orders, run_shop, tracking_number
from syncd.domain import (
    OrderIn,
    OrderLineIn,
    OrderStatus,
    PaymentMode,
    RefundEvent,
    RefundState,
    RefundWindow,
    WindowResult,
)


def _order(n: int, status: OrderStatus = OrderStatus.PAID, refund: RefundState = RefundState.NONE) -> OrderIn:
    return OrderIn(platform_order_id=str(n), platform_status="2", status=status, ready_to_ship=True,
                   not_ready_reason=None, refund_state=refund, payment_mode=PaymentMode.PREPAID,
                   updated_at=clock.now(), lines=[OrderLineIn(platform_line_id=f"{n}-1", merchant_sku="A", quantity=2)])


class FakeShop:
    def __init__(self, orders: list[OrderIn]) -> None:
        self.orders = orders
        self.windows: list[tuple[datetime, datetime]] = []
        self.decrypts: list[int] = []
        self.shipped: list[tuple[str, str, int]] = []

    def list_orders(self, start: datetime, end: datetime) -> WindowResult:
        self.windows.append((start, end))
        # every window lists the first order again: the client keeps one copy per order
        return WindowResult(orders=self.orders if len(self.windows) == 1 else self.orders[:1], total=None)

    def decrypt(self, refs: list[tuple[str, Any]]) -> dict[str, Any]:
        self.decrypts.append(len(refs))
        return {k: "could not decrypt" if k == "7" else object() for k, _ in refs}

    def ship(self, order_id: str, parcels: list[Any], whole: bool) -> None:
        assert whole and len(parcels) == 1
        self.shipped.append((order_id, parcels[0].tracking_no, parcels[0].lines[0].quantity))


def test_run_shop_given_a_look_back_reads_it_once_and_ships_each_shippable_order_once() -> None:
    orders = [_order(n) for n in range(120)] + [_order(500, OrderStatus.UNPAID),
                                                _order(501, refund=RefundState.REQUESTED)]
    shop = FakeShop(orders)
    figures = run_shop(shop, timedelta(hours=3), timedelta(minutes=30))
    assert len(shop.windows) == 6
    assert all(b - a <= timedelta(minutes=30) for a, b in shop.windows)
    assert shop.windows[0][1] == shop.windows[1][0]  # no gap, no overlap
    assert shop.decrypts == [50, 50, 20]
    assert sorted(o for o, _t, _q in shop.shipped) == sorted(str(n) for n in range(120))
    assert all(q == 2 for _o, _t, q in shop.shipped)
    assert figures == {"listed": 122, "shippable": 120, "shipped": 120, "failed": 1}


def test_refunded_orders_reads_the_look_back_in_windows_and_counts_each_order_once() -> None:
    windows: list[tuple[datetime, datetime]] = []

    def list_refunds(start: datetime, end: datetime) -> RefundWindow:
        windows.append((start, end))
        events = [RefundEvent(platform_order_id=str(n), platform_line_id=f"{n}-{line}", state=RefundState.REQUESTED,
                              updated_at=start) for n in range(len(windows) * 2) for line in (1, 2)]
        return RefundWindow(events=events)

    shop = type("Shop", (), {"list_refunds": staticmethod(list_refunds)})()

    assert refunded_orders(shop, timedelta(hours=1), timedelta(minutes=30)) == 4  # two lines each, seen again
    assert len(windows) == 2 and windows[0][1] == windows[1][0]


def test_tracking_number_is_stable_per_order_and_differs_between_orders() -> None:
    assert tracking_number("123") == tracking_number("123") != tracking_number("124")
    assert len(tracking_number("123")) == 12


def test_add_floor_gives_syncds_cpu_as_a_multiple_of_the_floors() -> None:
    result: dict[str, Any] = {"cpu_ms_per_order": 10.0, "cpu_ms_per_order_by_stage": {"pull": 2.0, "writeback": 3.0}}
    add_floor(result, {"cpu_ms_per_order": 2.5})
    assert result["cpu_multiple_of_floor"] == 4.0
    assert result["storefront_multiple_of_floor"] == 2.0

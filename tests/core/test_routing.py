"""Routing and the lifecycle table: pure logic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from syncd.config.models import Route
from syncd.lifecycle import TransitionError, check_order, check_writeback
from syncd.routing import Cancel, Hold, Keep, LineView, OrderView, RouteTo, Skip, Wait, decide, idempotency_key

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
ROUTES = {
    "A": Route(sku="A", supplier="s1", supplier_sku="S1-A"),
    "B": Route(sku="B", supplier="s2", supplier_sku="S2-B", multiplier=3),
}
RECEIVER = {
    "name_cipher": "#x#",
    "phone_cipher": "#y#",
    "address_cipher": "#z#",
    "province": "浙江省",
    "city": "杭州市",
}


def view(**kw) -> OrderView:
    base = {
        "shop_id": "shop",
        "platform_order_id": "100",
        "status": "paid",
        "ready_to_ship": True,
        "not_ready_reason": None,
        "refund_state": "none",
        "paid_at": NOW - timedelta(hours=1),
        "receiver": RECEIVER,
        "lines": [LineView(1, "100-1", "A", 2)],
    }
    base.update(kw)
    return OrderView(**base)


def test_decide_given_a_clean_order_routes_every_line_to_its_supplier():
    d = decide(
        view(lines=[LineView(1, "100-1", "A", 2), LineView(2, "100-2", "B", 1)]),
        ROUTES,
        {"s1", "s2"},
        NOW,
        timedelta(0),
    )
    assert isinstance(d, RouteTo)
    assert [(p.supplier_id, [(ln["supplier_sku"], ln["quantity"]) for ln in p.lines]) for p in d.parts] == [
        ("s1", [("S1-A", 2)]),
        ("s2", [("S2-B", 3)]),
    ]
    assert d.parts[0].idempotency_key == idempotency_key("shop", "100", "s1")


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"lines": [LineView(1, "1", "ZZ", 1)]}, "unmapped_sku"),
        ({"refund_state": "requested"}, "refund_requested"),
        ({"status": "unpaid", "ready_to_ship": False}, "not_ready"),
        ({"ready_to_ship": False, "not_ready_reason": "risk review"}, "not_ready"),
        ({"receiver": {**RECEIVER, "address_cipher": ""}}, "address_incomplete"),
        ({"receiver": {**RECEIVER, "province": ""}}, "address_incomplete"),
        ({"lines": []}, "unmapped_sku"),
    ],
)
def test_decide_given_a_bad_order_holds_with_the_reason(kw, reason):
    d = decide(view(**kw), ROUTES, {"s1", "s2"}, NOW, timedelta(0))
    assert isinstance(d, Hold) and d.reason == reason


def test_decide_given_a_route_to_a_disabled_supplier_holds():
    d = decide(view(), ROUTES, {"s2"}, NOW, timedelta(0))
    assert isinstance(d, Hold) and "s1" in d.detail


def test_decide_given_cancelled_or_refunded_cancels_and_shipped_elsewhere_skips():
    assert isinstance(decide(view(status="cancelled"), ROUTES, {"s1"}, NOW, timedelta(0)), Cancel)
    assert isinstance(decide(view(refund_state="refunded"), ROUTES, {"s1"}, NOW, timedelta(0)), Cancel)
    assert isinstance(decide(view(status="shipped"), ROUTES, {"s1"}, NOW, timedelta(0)), Skip)


def test_decide_given_a_cool_off_waits_until_it_ends():
    d = decide(view(paid_at=NOW - timedelta(minutes=5)), ROUTES, {"s1"}, NOW, timedelta(minutes=15))
    assert d == Wait(NOW + timedelta(minutes=10))


def test_idempotency_key_is_stable_and_distinct_per_supplier():
    assert idempotency_key("a", "1", "s") == idempotency_key("a", "1", "s")
    assert idempotency_key("a", "1", "s") != idempotency_key("a", "1", "t")
    assert len(idempotency_key("x" * 64, "9" * 64, "y" * 64)) <= 32


def test_lifecycle_given_a_move_it_does_not_allow_raises():
    check_order("new", "routed")
    check_order("held", "new")
    with pytest.raises(TransitionError):
        check_order("shipped", "new")
    with pytest.raises(TransitionError):
        check_order("cancelled", "routed")
    with pytest.raises(TransitionError):
        check_writeback("uploaded", "pending")


# ---- cash on delivery, and held orders decided again ---------------------------------------------------------


def test_decide_given_an_unconfirmed_cash_on_delivery_order_holds_it_for_a_call():
    d = decide(view(payment_mode="cod"), ROUTES, {"s1"}, NOW, timedelta(0))
    assert isinstance(d, Hold) and d.reason == "cod_unconfirmed"
    assert "confirm-cod shop/100" in d.detail


def test_decide_given_a_confirmed_cash_on_delivery_order_routes_it():
    d = decide(view(payment_mode="cod", cod_confirmed=True), ROUTES, {"s1"}, NOW, timedelta(0))
    assert isinstance(d, RouteTo)


def test_decide_given_a_cancelled_cash_on_delivery_order_cancels_it_rather_than_asking_for_a_call():
    d = decide(view(payment_mode="cod", status="cancelled"), ROUTES, {"s1"}, NOW, timedelta(0))
    assert isinstance(d, Cancel)


@pytest.mark.parametrize("reason", ["tracking_rejected", "supplier_rejected", "cod_unconfirmed", "manual", "new_x"])
def test_decide_given_a_hold_that_waits_for_a_person_keeps_it_although_the_order_could_route(reason: str):
    d = decide(view(hold_reason=reason, cod_confirmed=True), ROUTES, {"s1"}, NOW, timedelta(0))
    assert isinstance(d, Keep)


def test_decide_given_a_person_hold_and_a_cancellation_before_anything_was_sent_cancels():
    d = decide(view(hold_reason="manual", status="cancelled"), ROUTES, {"s1"}, NOW, timedelta(0))
    assert isinstance(d, Cancel)


@pytest.mark.parametrize("reason", ["tracking_rejected", "address_incomplete"])
@pytest.mark.parametrize("change", [{"refund_state": "refunded"}, {"status": "cancelled"}, {"status": "shipped"}])
def test_decide_given_a_held_order_with_goods_at_the_supplier_never_cancels_nor_skips_it(reason: str, change):
    d = decide(view(hold_reason=reason, at_supplier=True, **change), ROUTES, {"s1"}, NOW, timedelta(0))
    assert isinstance(d, Keep)


def test_decide_given_an_automatic_hold_whose_condition_cleared_routes_it():
    d = decide(view(hold_reason="address_incomplete"), ROUTES, {"s1"}, NOW, timedelta(0))
    assert isinstance(d, RouteTo)


def test_fresh_key_given_the_first_key_taken_by_a_withdrawn_supplier_order_gives_the_next_one():
    from syncd.routing import fresh_key

    first = idempotency_key("shop", "100", "s1")
    second = fresh_key("shop", "100", "s1", {first})
    assert second == idempotency_key("shop", "100", "s1", 2) != first
    assert fresh_key("shop", "100", "s1", set()) == first

"""A stop (refund, cancellation) reaches every order with goods at a supplier, held ones included; a hold that
waits for a person is never released by the route stage."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from syncd import clock
from syncd.alerts.config import AlertsConfig
from syncd.alerts.facts import load_facts
from syncd.alerts.rules import evaluate
from syncd.domain import OrderStatus, RefundEvent, RefundState
from syncd.errors import RejectedError
from syncd.store.db import Database
from syncd.store.models import Hold, SupplierOrder
from tests.fakes import make_order
from tests.stages.harness import Harness, build
from tests.stages.harness import order_row as _order

REFUSED_60068 = RejectedError("douyin order.logisticsAdd: 50002 isv.business-failed:60068 售前退款成功，不允许发货",
                              code="isv.business-failed:60068")


@pytest.fixture
def h(db: Database, tmp_path: Path) -> Harness:
    return build(db, tmp_path)


def _ago(minutes: float):
    return clock.now() - timedelta(minutes=minutes)



def _tracking_rejected(h: Harness, db: Database, pid: str) -> None:
    """Placed with the drop-folder supplier, shipped by it, and its tracking number refused by the storefront."""
    h.shop.put(make_order(pid, _ago(30)))
    h.cycle()
    h.reply("acme", f"r{pid}.csv", [(pid, "中通快递", f"ZT{pid}0000")])
    h.shop.fail_ship.append(REFUSED_60068)
    h.cycle()
    o = _order(db, pid)
    assert (o.state, o.hold_reason) == ("held", "tracking_rejected")


def _cancel_alerts(h: Harness, db: Database):
    cfg = AlertsConfig()
    facts = load_facts(db, cfg, clock.now(), ship_within={"acme": 48.0}, shops=["shop1"], suppliers=["acme"],
                       channels=[])
    return [f for f in evaluate(facts, cfg, {"acme": 48.0}, clock.now()) if f.rule == "cancel_too_late"]


def test_refund_stream_given_a_tracking_rejected_order_keeps_the_hold_and_alerts_with_supplier_and_parcel(
        h: Harness, db: Database):
    _tracking_rejected(h, db, "3101")
    h.shop.refunds.append(RefundEvent("3101", None, RefundState.REFUNDED, clock.now(), "售前退款"))
    h.cycle()
    h.cycle()  # the old code released the hold here: the route stage decided the order again and cancelled it
    o = _order(db, "3101")
    assert (o.state, o.hold_reason) == ("held", "tracking_rejected")
    with db.begin() as s:
        hold = s.scalars(select(Hold).where(Hold.order_id == o.id)).one()
        so = s.scalars(select(SupplierOrder).where(SupplierOrder.order_id == o.id)).one()
    assert hold.released_at is None
    assert so.cancel_state == "too_late"
    (alert,) = _cancel_alerts(h, db)
    text = " ".join([alert.title, *alert.lines])
    assert "3101" in text and "acme" in text and "ZT31010000" in text
    assert alert.subject == f"supplier_order:{so.id}"


def test_pull_given_a_refund_on_the_order_of_a_tracking_rejected_order_asks_the_supplier_to_stop(
        h: Harness, db: Database):
    _tracking_rejected(h, db, "3102")
    h.shop.update("3102", clock.now(), refund_state=RefundState.REFUNDED, status=OrderStatus.CANCELLED)
    h.stage("pull")
    with db.begin() as s:
        so = s.scalars(select(SupplierOrder)).one()
    assert so.cancel_state == "requested"
    h.stage("route")
    assert (_order(db, "3102").state, _order(db, "3102").hold_reason) == ("held", "tracking_rejected")
    assert "tell the supplier not to ship" in (_order(db, "3102").last_error or "")


def test_route_given_a_manual_hold_and_a_later_order_change_leaves_the_hold_to_a_person(h: Harness, db: Database):
    from syncd import operations

    h.shop.put(make_order("3103", _ago(30)))
    h.stage("pull")
    operations.hold(db, _order(db, "3103").id, "buyer asked to wait", by="ops")
    h.shop.update("3103", clock.now(), buyer_note="请周一发货")
    h.stage("pull")
    h.stage("route")
    o = _order(db, "3103")
    assert (o.state, o.hold_reason, o.recheck_at) == ("held", "manual", None)


def test_route_given_a_manual_hold_on_an_order_cancelled_before_it_was_sent_cancels_it(h: Harness, db: Database):
    from syncd import operations

    h.shop.put(make_order("3104", _ago(30)))
    h.stage("pull")
    operations.hold(db, _order(db, "3104").id, "buyer asked to wait", by="ops")
    h.shop.update("3104", clock.now(), status=OrderStatus.CANCELLED)
    h.stage("pull")
    h.stage("route")
    assert _order(db, "3104").state == "cancelled"


def test_refund_on_a_held_order_at_the_supplier_but_not_shipped_writes_a_cancellation_file(h: Harness, db: Database):
    from syncd import operations

    h.shop.put(make_order("3105", _ago(30)))
    h.cycle()
    assert _order(db, "3105").state == "placed"
    operations.hold(db, _order(db, "3105").id, "checking the address", by="ops")
    h.shop.refunds.append(RefundEvent("3105", None, RefundState.REFUNDED, clock.now(), "仅退款"))
    h.cycle()
    cancelled = [r for r in h.exported_rows("acme") if r["_file"].endswith("-cancel.xlsx")]
    assert [r["订单号"] for r in cancelled] == ["3105"]
    assert _order(db, "3105").state == "held"


def test_refund_withdrawn_before_export_sends_the_order_after_all(h: Harness, db: Database):
    h.shop.put(make_order("3106", _ago(30)))
    h.stage("pull")
    h.stage("route")  # routed: its supplier order waits for the next batch
    h.shop.refunds.append(RefundEvent("3106", None, RefundState.REQUESTED, clock.now(), "仅退款"))
    h.stage("pull")
    h.stage("route")
    assert (_order(db, "3106").state, _order(db, "3106").hold_reason) == ("held", "refund_requested")
    h.shop.refunds.append(RefundEvent("3106", None, RefundState.NONE, clock.now(), "仅退款"))
    h.cycle()
    assert _order(db, "3106").state == "placed"
    assert [r["订单号"] for r in h.exported_rows("acme")] == ["3106"]
    with db.begin() as s:
        states = sorted(s.scalars(select(SupplierOrder.state)))
    assert states == ["cancelled", "placed"]  # the withdrawn one stays withdrawn; a new one was sent


def test_refund_on_a_held_order_at_an_api_supplier_cancels_it_there_and_closes_the_hold(db: Database, tmp_path):
    from syncd import operations
    from tests.stages.test_supplier_api import _build

    h, fake = _build(db, tmp_path)
    fake.unpaid = True  # 1688 cancels while unpaid
    h.shop.put(make_order("3107", _ago(5), skus=("SKU-X",)))
    h.stage("pull")
    h.stage("route")
    h.stage("forward")
    operations.hold(db, _order(db, "3107").id, "checking stock", by="ops")
    h.shop.refunds.append(RefundEvent("3107", None, RefundState.REFUNDED, clock.now(), "仅退款"))
    h.stage("pull")
    h.stage("forward")
    assert fake.cancels == ["R0001"]
    assert (_order(db, "3107").state, _order(db, "3107").hold_reason) == ("cancelled", None)
    with db.begin() as s:
        assert s.scalars(select(Hold.released_at)).one() is not None  # no open hold left on a cancelled order


def test_release_of_a_tracking_rejected_order_refunded_since_ends_it_cancelled_without_uploading(
        h: Harness, db: Database):
    from syncd import operations

    _tracking_rejected(h, db, "3108")
    h.shop.refunds.append(RefundEvent("3108", None, RefundState.REFUNDED, clock.now(), "售前退款"))
    h.cycle()
    calls = len(h.shop.ship_calls)
    assert operations.release(db, _order(db, "3108").id, "li", "return arranged with the buyer") == "cancelled"
    h.cycle()
    assert len(h.shop.ship_calls) == calls  # the refused number is not sent to a refunded order again
    assert _order(db, "3108").state == "cancelled"
    assert len(_cancel_alerts(h, db)) == 1  # the parcel on its way stays a person's business until acked


def test_file_supplier_shipping_after_its_cancellation_file_raises_cancel_too_late_with_the_parcel(
        h: Harness, db: Database):
    h.shop.put(make_order("3109", _ago(30)))
    h.cycle()
    h.shop.refunds.append(RefundEvent("3109", None, RefundState.REFUNDED, clock.now(), "仅退款"))
    h.cycle()  # the cancellation file goes out
    assert _cancel_alerts(h, db) == []
    h.reply("acme", "late.csv", [("3109", "中通快递", "ZT31090000")])  # the supplier ships it anyway
    h.cycle()
    (alert,) = _cancel_alerts(h, db)
    text = " ".join([alert.title, *alert.lines])
    assert "3109" in text and "acme" in text and "ZT31090000" in text and "after the cancellation file" in text


def test_api_supplier_rejecting_a_manually_held_order_turns_the_hold_into_supplier_rejected(
        db: Database, tmp_path):
    import time_machine

    from syncd import operations
    from syncd.domain import SupplierOrderPhase
    from tests.stages.test_supplier_api import _build

    h, fake = _build(db, tmp_path)
    h.shop.put(make_order("3110", _ago(5), skus=("SKU-X",)))
    h.stage("pull")
    h.stage("route")
    h.stage("forward")
    operations.hold(db, _order(db, "3110").id, "buyer may change the colour", by="ops")
    fake.phase["R0001"] = SupplierOrderPhase.REJECTED
    with time_machine.travel(clock.now() + timedelta(minutes=30), tick=False):
        h.stage("collect")
    o = _order(db, "3110")
    assert (o.state, o.hold_reason) == ("held", "supplier_rejected")  # alerts at once; a manual hold is quiet

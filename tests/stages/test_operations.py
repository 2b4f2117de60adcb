"""Manual actions check the order's state, refuse clearly, and are audited with who and why; a release goes to
the state the order's facts imply; cash-on-delivery orders wait for a confirmation call."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from syncd import clock, operations
from syncd.domain import OrderStatus, PaymentMode, RefundState
from syncd.errors import RejectedError
from syncd.lifecycle import HoldReason
from syncd.stages.route import hold_order
from syncd.store.db import Database
from syncd.store.models import AuditEntry, ExportBatch, Hold, Order, SupplierOrder
from tests.fakes import make_order
from tests.stages.harness import Harness, build
from tests.stages.harness import order_row as _order


@pytest.fixture
def h(db: Database, tmp_path: Path) -> Harness:
    return build(db, tmp_path)


def _ago(minutes: float):
    return clock.now() - timedelta(minutes=minutes)



def _audit(db: Database) -> list[tuple[str, str, str, str]]:
    with db.begin() as s:
        return [(a.actor, a.action, a.subject, a.detail) for a in s.scalars(
            select(AuditEntry).where(AuditEntry.system == "operator").order_by(AuditEntry.id))]


def _shipped(h: Harness, db: Database, pid: str) -> Order:
    h.shop.put(make_order(pid, _ago(30)))
    h.cycle()
    h.reply("acme", f"r{pid}.csv", [(pid, "中通快递", f"ZT{pid}0000")])
    h.cycle()
    o = _order(db, pid)
    assert o.state == "shipped"
    return o


# ---- hold --------------------------------------------------------------------------------------------------


def test_hold_given_a_shipped_order_refuses_and_leaves_it_shipped(h: Harness, db: Database):
    o = _shipped(h, db, "4101")
    with pytest.raises(RejectedError, match="is shipped: every parcel is on the storefront"):
        operations.hold(db, o.id, "check", by="li")
    assert _order(db, "4101").state == "shipped"
    assert _audit(db) == []


@pytest.mark.parametrize("status", [OrderStatus.CANCELLED, OrderStatus.SHIPPED])
def test_hold_given_an_order_that_ended_without_syncd_refuses(h: Harness, db: Database, status: OrderStatus):
    h.shop.put(make_order("4102", _ago(30), status=status))
    h.stage("pull")
    h.stage("route")
    with pytest.raises(RejectedError, match="nothing to hold"):
        operations.hold(db, _order(db, "4102").id, "check", by="li")


def test_hold_given_a_hold_that_waits_for_a_person_refuses_to_replace_its_reason(h: Harness, db: Database):
    h.shop.put(make_order("4103", _ago(30)))
    h.cycle()
    h.reply("acme", "r.csv", [("4103", "中通快递", "ZT41030000")])
    h.shop.fail_ship.append(RejectedError("refused", code="60017"))
    h.cycle()
    with pytest.raises(RejectedError, match="already held as tracking_rejected"):
        operations.hold(db, _order(db, "4103").id, "mine", by="li")
    assert _order(db, "4103").hold_reason == "tracking_rejected"


def test_hold_is_audited_with_who_and_why(h: Harness, db: Database):
    h.shop.put(make_order("4104", _ago(30)))
    h.stage("pull")
    operations.hold(db, _order(db, "4104").id, "buyer called: wait", by="xiaowang")
    ((actor, action, subject, detail),) = _audit(db)
    assert (actor, action, subject) == ("xiaowang", "hold", "order shop1/4104")
    assert "why: buyer called: wait" in detail and "was new" in detail


# ---- release -----------------------------------------------------------------------------------------------


def test_release_given_a_held_order_whose_parcels_are_all_uploaded_returns_it_to_shipped(h: Harness, db: Database):
    o = _shipped(h, db, "4201")
    with db.begin() as s:  # e.g. a tracking number the supplier reported twice: collect holds the shipped order
        hold_order(s, s.get(Order, o.id), HoldReason.TRACKING_REJECTED, "duplicate number", clock.now(), auto=False)
    assert operations.release(db, o.id, "li") == "shipped"
    assert _order(db, "4201").state == "shipped"


def test_release_given_a_held_placed_order_goes_back_to_placed_and_uploads_the_refused_parcel(
        h: Harness, db: Database):
    h.shop.put(make_order("4202", _ago(30)))
    h.cycle()
    h.reply("acme", "r.csv", [("4202", "中通快递", "ZT42020000")])
    h.shop.fail_ship.append(RejectedError("refused", code="60017"))
    h.cycle()
    assert operations.release(db, _order(db, "4202").id, "li", "carrier fixed") == "placed"
    h.stage("writeback")
    assert _order(db, "4202").state == "shipped"
    (_, action, _, detail) = _audit(db)[-1]
    assert action == "release" and "tracking_rejected" in detail and "1 refused parcel(s)" in detail


def test_release_given_a_routed_order_held_by_hand_sends_it_on(h: Harness, db: Database):
    h.shop.put(make_order("4203", _ago(30)))
    h.stage("pull")
    h.stage("route")
    operations.hold(db, _order(db, "4203").id, "wait", by="li")
    assert operations.release(db, _order(db, "4203").id, "li") == "new"
    h.cycle()
    assert _order(db, "4203").state == "placed"
    assert [r["订单号"] for r in h.exported_rows("acme")] == ["4203"]


def test_release_given_an_order_not_held_refuses(h: Harness, db: Database):
    o = _shipped(h, db, "4204")
    with pytest.raises(RejectedError, match="is shipped, not held"):
        operations.release(db, o.id, "li")


# ---- cash on delivery --------------------------------------------------------------------------------------


def _cod(h: Harness, pid: str) -> None:
    h.shop.put(replace(make_order(pid, _ago(30)), payment_mode=PaymentMode.COD))
    h.stage("pull")
    h.stage("route")


def test_cod_order_is_held_until_confirmed_and_then_forwarded(h: Harness, db: Database):
    _cod(h, "4301")
    h.cycle()
    o = _order(db, "4301")
    assert (o.state, o.hold_reason) == ("held", "cod_unconfirmed")
    assert h.exported_rows("acme") == []
    with pytest.raises(RejectedError, match="confirm-cod shop1/4301"):
        operations.release(db, o.id, "li")
    assert operations.confirm_cod(db, o.id, "xiaowang", "called the buyer 14:05") == "new"
    h.cycle()
    o = _order(db, "4301")
    assert (o.state, o.cod_confirmed_by) == ("placed", "xiaowang")
    assert [r["订单号"] for r in h.exported_rows("acme")] == ["4301"]
    ((actor, action, _, detail),) = _audit(db)
    assert (actor, action) == ("xiaowang", "confirm_cod") and "called the buyer 14:05" in detail
    with pytest.raises(RejectedError, match="confirmed already by xiaowang"):
        operations.confirm_cod(db, o.id, "li")


def test_cod_order_held_stays_held_when_the_order_changes(h: Harness, db: Database):
    _cod(h, "4302")
    h.shop.update("4302", clock.now(), buyer_note="下午送")
    h.stage("pull")
    h.stage("route")
    assert (_order(db, "4302").state, _order(db, "4302").hold_reason) == ("held", "cod_unconfirmed")


def test_cod_order_cancelled_before_its_call_ends_cancelled(h: Harness, db: Database):
    _cod(h, "4303")
    h.shop.update("4303", clock.now(), status=OrderStatus.CANCELLED)
    h.stage("pull")
    h.stage("route")
    assert _order(db, "4303").state == "cancelled"
    with pytest.raises(RejectedError, match="is cancelled: nothing to confirm"):
        operations.confirm_cod(db, _order(db, "4303").id, "li")


def test_confirm_cod_given_a_prepaid_order_refuses(h: Harness, db: Database):
    h.shop.put(make_order("4304", _ago(30)))
    h.stage("pull")
    with pytest.raises(RejectedError, match="not cash on delivery"):
        operations.confirm_cod(db, _order(db, "4304").id, "li")


# ---- reship, reexport, resync ------------------------------------------------------------------------------


def test_reship_given_a_refunded_order_refuses(h: Harness, db: Database):
    o = _shipped(h, db, "4401")
    with db.begin() as s:
        s.execute(update(Order).where(Order.id == o.id).values(refund_state=RefundState.REFUNDED))
    with pytest.raises(RejectedError, match="nobody paid for"):
        operations.reship(h.rt, o.id, who="li")


def test_reship_given_a_shipped_order_is_exported_to_the_file_supplier(h: Harness, db: Database):
    o = _shipped(h, db, "4402")
    new_id = operations.reship(h.rt, o.id, who="li")
    h.stage("forward")
    with db.begin() as s:
        assert s.get(SupplierOrder, new_id).state == "placed"
    assert [r["订单号"] for r in h.exported_rows("acme")] == ["4402", "4402"]


def test_reship_is_audited_with_who_and_why(h: Harness, db: Database):
    o = _shipped(h, db, "4403")
    new_id = operations.reship(h.rt, o.id, who="li", why="parcel lost")
    (actor, action, _, detail) = _audit(db)[-1]
    assert (actor, action) == ("li", "reship") and "parcel lost" in detail and f"#{new_id}" in detail


def test_reexport_given_a_batch_with_an_order_cancelled_since_refuses(h: Harness, db: Database):
    from syncd.domain import RefundEvent

    h.shop.put(make_order("4501", _ago(30)))
    h.cycle()
    with db.begin() as s:
        batch_id = s.scalar(select(ExportBatch.id).where(ExportBatch.kind == "orders"))
    h.shop.refunds.append(RefundEvent("4501", None, RefundState.REFUNDED, clock.now()))
    h.cycle()
    with pytest.raises(RejectedError, match="cancelled since it was written"):
        operations.reexport(h.rt, batch_id, "li", "supplier lost the file")


def test_reexport_and_resync_are_audited(h: Harness, db: Database):
    h.shop.put(make_order("4502", _ago(30)))
    h.cycle()
    with db.begin() as s:
        batch_id = s.scalar(select(ExportBatch.id).where(ExportBatch.kind == "orders"))
    operations.reexport(h.rt, batch_id, "li", "supplier lost the file")
    operations.resync(h.rt, "shop1", "4502", "li", "buyer says the address changed")
    assert [(a, act) for a, act, _, _ in _audit(db)] == [("li", "reexport"), ("li", "resync")]
    assert "supplier lost the file" in _audit(db)[0][3]


def test_manual_holds_are_released_by_the_person_named(h: Harness, db: Database):
    h.shop.put(make_order("4601", _ago(30)))
    h.stage("pull")
    o = _order(db, "4601")
    operations.hold(db, o.id, "wait", by="li")
    operations.release(db, o.id, "wang", "ok now")
    with db.begin() as s:
        assert s.scalars(select(Hold.released_by)).one() == "wang"


def test_confirmed_cod_order_refused_by_taobao_b98_is_held_with_what_to_do_and_not_sent_again(
        h: Harness, db: Database):
    from syncd.adapters.taobao.client import error_for

    _cod(h, "4305")
    operations.confirm_cod(db, _order(db, "4305").id, "li", "called")
    h.cycle()
    h.reply("acme", "r.csv", [("4305", "中通快递", "ZT43050000")])
    h.shop.fail_ship.append(error_for("taobao.logistics.offline.send", 15, "isv.logistics-offline-service-error:B98",
                                      "货到付款订单不能使用自己联系物流发货"))
    h.cycle()
    h.cycle()
    o = _order(db, "4305")
    assert (o.state, o.hold_reason) == ("held", "tracking_rejected")
    with db.begin() as s:
        detail = s.scalars(select(Hold.detail).where(Hold.released_at.is_(None))).one()
    assert "B98" in detail and "seller centre" in detail
    assert len(h.shop.ship_calls) == 1
    h.shop.shipped["4305"] = ["ZT43050000"]  # a person entered the parcel by hand, as the hold says
    assert operations.release(db, o.id, "li", "entered in the seller centre") == "placed"
    h.stage("writeback")
    assert _order(db, "4305").state == "shipped"


def test_confirm_cod_given_a_cod_order_the_platform_has_not_released_yet_records_it_and_waits(
        h: Harness, db: Database):
    h.shop.put(replace(make_order("4306", _ago(30), status=OrderStatus.UNPAID), payment_mode=PaymentMode.COD))
    h.stage("pull")
    h.stage("route")
    o = _order(db, "4306")
    assert (o.state, o.hold_reason) == ("held", "not_ready")
    assert operations.confirm_cod(db, o.id, "li", "called early") == "held"
    h.shop.update("4306", clock.now(), status=OrderStatus.PAID)
    h.cycle()
    assert _order(db, "4306").state == "placed"  # confirmed before: no second call needed

"""The stages glued together over a real database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from syncd import clock
from syncd.domain import OrderStatus, RefundState
from syncd.errors import RejectedError
from syncd.store.db import Database
from syncd.store.models import Cursor, ExportBatch, Hold, Order, Quarantine, Shipment, SupplierOrder
from tests.fakes import make_order, transient
from tests.stages.harness import Harness, build


def _states(db: Database) -> dict[str, str]:
    with db.begin() as s:
        return {pid: st for pid, st in s.execute(select(Order.platform_order_id, Order.state))}


def _ago(minutes: float):
    return clock.now() - timedelta(minutes=minutes)


@pytest.fixture
def h(db: Database, tmp_path: Path) -> Harness:
    return build(db, tmp_path)


def test_pipeline_given_paid_orders_exports_each_once_and_uploads_each_tracking_once(h: Harness, db: Database):
    for i in range(5):
        h.shop.put(make_order(f"10{i}", _ago(30 - i)))
    h.cycle()
    rows = h.exported_rows("acme")
    assert sorted(r["订单号"] for r in rows) == [f"10{i}" for i in range(5)]
    assert set(_states(db).values()) == {"placed"}
    h.reply("acme", "reply1.csv", [(f"10{i}", "中通快递", f"7730000000{i}") for i in range(5)])
    h.cycle()
    h.cycle()  # nothing more happens on a second pass
    assert sorted(c[0] for c in h.shop.ship_calls) == [f"10{i}" for i in range(5)]
    assert all(whole for _, _, whole in h.shop.ship_calls)
    assert h.shop.ship_calls[0][1][0].carrier == "zhongtong"
    assert set(_states(db).values()) == {"shipped"}
    assert len(h.exported_rows("acme")) == 5


def test_pull_given_an_update_stamped_behind_the_cursor_stores_it_once_that_stretch_settles(h: Harness, db):
    import time_machine

    h.shop.put(make_order("201", _ago(3)))
    h.stage("pull")
    h.stage("pull")
    h.shop.update("201", _ago(1), buyer_note="请尽快发货")  # stamped behind the cursor, as platforms do
    h.stage("pull")
    with db.begin() as s:  # not yet: that stretch is read again when it is 5 minutes (the overlap) old
        assert s.scalar(select(Order.buyer_note)) == ""
    fresh_cursor = h.shop.list_calls[-1][1]
    with time_machine.travel(clock.now() + timedelta(minutes=5)):
        h.stage("pull")
    with db.begin() as s:
        assert s.scalar(select(func.count()).select_from(Order)) == 1
        assert s.scalar(select(Order.buyer_note)) == "请尽快发货"
    settling, fresh = h.shop.list_calls[-2:]
    assert settling[0] <= _ago(1) <= settling[1] <= fresh_cursor  # the settling read, then on from the cursor
    assert fresh[0] == fresh_cursor


def test_pull_given_a_failing_listing_keeps_the_cursor_and_loses_nothing(h: Harness, db: Database):
    h.shop.put(make_order("301", _ago(10)))
    h.shop.fail_list.append(transient())
    report = h.stage("pull")
    assert not report.ok
    with db.begin() as s:
        assert s.get(Cursor, ("shop1", "orders")) is None
    assert h.stage("pull").ok
    assert "301" in _states(db)


def test_pull_given_an_older_version_never_overwrites_a_newer_one(h: Harness, db: Database):
    h.shop.put(make_order("302", _ago(2), qty=2))
    h.stage("pull")
    from syncd.store.orders import upsert_orders

    with db.begin() as s:
        res = upsert_orders(s, "shop1", [make_order("302", _ago(20), qty=9)], clock.now())
    assert res.stale == 1
    with db.begin() as s:
        assert s.scalar(select(Order.raw)) == {"order_id": "302"}


def test_pull_given_an_unreadable_order_quarantines_it_and_stores_the_rest(h: Harness, db: Database):
    from syncd.domain import RejectedRecord

    h.shop.put(make_order("401", _ago(5)))
    h.shop.rejects.append(RejectedRecord("402", "order_status 'x' is not a known status", {"order_id": "402"}))
    assert h.stage("pull").ok
    with db.begin() as s:
        q = s.scalars(select(Quarantine)).one()
        assert (q.key, q.raw) == ("402", {"order_id": "402"})
    assert _states(db) == {"401": "new"}


def test_route_given_each_bad_case_holds_with_its_reason(h: Harness, db: Database):
    h.shop.put(make_order("501", _ago(5), skus=("NOPE",)))
    h.shop.put(make_order("502", _ago(5), refund=RefundState.REQUESTED))
    h.shop.put(make_order("503", _ago(5), ready=False))
    h.shop.put(make_order("504", _ago(5), status=OrderStatus.UNPAID, ready=False))
    h.shop.put(make_order("505", _ago(5), address=False))
    h.shop.put(make_order("506", _ago(5), status=OrderStatus.CANCELLED, ready=False))
    h.stage("pull")
    h.stage("route")
    with db.begin() as s:
        got = dict(s.execute(select(Order.platform_order_id, Order.hold_reason)).all())
        states = dict(s.execute(select(Order.platform_order_id, Order.state)).all())
        assert s.scalar(select(func.count()).select_from(SupplierOrder)) == 0
    assert got == {
        "501": "unmapped_sku",
        "502": "refund_requested",
        "503": "not_ready",
        "504": "not_ready",
        "505": "address_incomplete",
        "506": None,
    }
    assert states["506"] == "cancelled"


def test_route_given_a_hold_whose_condition_clears_releases_it_by_itself(h: Harness, db: Database):
    h.shop.put(make_order("601", _ago(5), refund=RefundState.REQUESTED))
    h.stage("pull")
    h.stage("route")
    assert _states(db)["601"] == "held"
    h.shop.update("601", clock.now(), refund_state=RefundState.NONE, lines=[make_order("601", _ago(1)).lines[0]])
    h.stage("pull")
    h.stage("route")
    assert _states(db)["601"] == "routed"
    with db.begin() as s:
        hold = s.scalars(select(Hold)).one()
        assert hold.released_by == "auto"


def test_route_given_a_split_order_makes_one_supplier_order_per_supplier_and_ships_two_parcels(h: Harness, db):
    h.shop.put(make_order("701", _ago(5), skus=("SKU-A", "SKU-B")))
    h.cycle()
    assert [r["订单号"] for r in h.exported_rows("acme")] == ["701"]
    beta = list(h.outbox("beta").glob("*.xlsx"))
    assert len(beta) == 1
    h.reply("acme", "a.csv", [("701", "中通", "ZT0000000701")])
    h.cycle()
    assert _states(db)["701"] == "placed"  # one parcel out of two uploaded so far
    h.reply("beta", "b.csv", [("701", "YTO", "YT0000000701")])
    h.cycle()
    assert _states(db)["701"] == "shipped"
    calls = [(pid, [p.tracking_no for p in parcels], whole) for pid, parcels, whole in h.shop.ship_calls]
    assert calls == [("701", ["ZT0000000701"], False), ("701", ["YT0000000701"], False)]
    assert [ln.platform_line_id for ln in h.shop.ship_calls[0][1][0].lines] == ["701-1"]


def test_route_given_a_multipack_sku_orders_multiplier_units(h: Harness):
    h.shop.put(make_order("801", _ago(5), skus=("SKU-2P",), qty=3))
    h.cycle()
    (row,) = h.exported_rows("acme")
    assert (row["商品编码"], row["数量"]) == ("A-2", "6")


def test_route_given_a_cool_off_waits_before_routing(db: Database, tmp_path: Path):
    h = build(db, tmp_path, cool_off=60)
    h.shop.put(make_order("901", _ago(1)))  # paid 31 minutes ago
    h.stage("pull")
    h.stage("route")
    assert _states(db)["901"] == "new"
    import time_machine

    with time_machine.travel(clock.now() + timedelta(minutes=30)):
        h.stage("route")
    assert _states(db)["901"] == "routed"


def test_forward_given_an_empty_address_after_decryption_holds_and_exports_nothing(h: Harness, db: Database):
    h.shop.put(make_order("1001", _ago(5)))
    h.shop.incomplete.add("1001")
    h.cycle()
    assert _states(db)["1001"] == "held"
    with db.begin() as s:
        assert s.scalar(select(Order.hold_reason)) == "address_incomplete"
    assert h.exported_rows("acme") == []


def test_forward_given_a_crash_while_writing_rewrites_the_same_batch_once(
    h: Harness, db: Database, monkeypatch: pytest.MonkeyPatch
):
    for i in range(3):
        h.shop.put(make_order(f"110{i}", _ago(5)))
    h.stage("pull")
    h.stage("route")
    adapter = h.rt.suppliers["acme"]
    real = adapter.write_batch

    def crash(batch):
        raise OSError("disk full")

    monkeypatch.setattr(adapter, "write_batch", crash)
    assert not h.stage("forward").ok
    with db.begin() as s:
        assert s.scalar(select(ExportBatch.state)) == "writing"
    monkeypatch.setattr(adapter, "write_batch", real)
    h.shop.put(make_order("1109", clock.now()))
    h.stage("pull")
    h.stage("route")
    h.stage("forward")
    rows = h.exported_rows("acme")
    assert Counter(r["订单号"] for r in rows) == {"1100": 1, "1101": 1, "1102": 1, "1109": 1}
    with db.begin() as s:
        assert set(s.scalars(select(ExportBatch.state))) == {"written"}
        assert s.scalar(select(func.count()).select_from(ExportBatch)) == 2


def test_forward_given_a_refund_before_export_withdraws_the_supplier_order(h: Harness, db: Database):
    h.shop.put(make_order("1201", _ago(5)))
    h.stage("pull")
    h.stage("route")
    h.shop.update("1201", clock.now(), refund_state=RefundState.REQUESTED)
    h.stage("pull")
    h.stage("route")
    h.stage("forward")
    assert h.exported_rows("acme") == []
    assert _states(db)["1201"] == "held"
    with db.begin() as s:
        assert s.scalar(select(SupplierOrder.state)) == "cancelled"


def test_collect_given_bad_rows_rejects_them_with_reasons_and_keeps_the_good_ones(h: Harness, db: Database):
    h.shop.put(make_order("1301", _ago(5)))
    h.cycle()
    h.reply(
        "acme",
        "mixed.csv",
        [
            ("1301", "中通", "ZT1301"),
            ("9999", "中通", "ZT9999"),
            ("1301", "火星快递", "XX1"),
            ("1301", "中通", "7.73061E+14"),
        ],
    )
    h.stage("collect")
    with db.begin() as s:
        assert list(s.scalars(select(Shipment.tracking_no))) == ["ZT1301"]
    processed = h.inbox("acme") / "processed"
    errors = (processed / "mixed.csv.errors.csv").read_text(encoding="utf-8-sig")
    assert "9999" in errors and "unknown order" in errors
    assert "火星快递" in errors
    assert "7.73061E+14" in errors
    assert not (h.inbox("acme") / "mixed.csv").exists()


def test_collect_given_the_same_file_twice_changes_nothing_the_second_time(h: Harness, db: Database):
    h.shop.put(make_order("1401", _ago(5)))
    h.cycle()
    h.reply("acme", "r.csv", [("1401", "中通", "ZT1401")])
    h.stage("collect")
    h.reply("acme", "r-again.csv", [("1401", "中通", "ZT1401")])
    h.stage("collect")
    with db.begin() as s:
        assert s.scalar(select(func.count()).select_from(Shipment)) == 1


def test_collect_given_a_tracking_number_of_another_order_rejects_the_row(h: Harness, db: Database):
    h.shop.put(make_order("1501", _ago(5)))
    h.shop.put(make_order("1502", _ago(5)))
    h.cycle()
    h.reply("acme", "r.csv", [("1501", "中通", "ZT1500"), ("1502", "中通", "ZT1500")])
    h.stage("collect")
    with db.begin() as s:
        assert list(s.execute(select(Order.platform_order_id).join(Shipment, Shipment.order_id == Order.id))) == [
            ("1501",)
        ]


def test_writeback_given_a_transient_failure_retries_after_backoff_and_uploads_once(h: Harness, db: Database):
    import time_machine

    h.shop.put(make_order("1601", _ago(5)))
    h.cycle()
    h.reply("acme", "r.csv", [("1601", "韵达", "YD1601000")])
    h.shop.fail_ship.append(transient())
    h.cycle()
    assert _states(db)["1601"] == "placed"
    h.stage("writeback")
    assert len(h.shop.ship_calls) == 1  # backoff not elapsed: no second call
    with time_machine.travel(clock.now() + timedelta(minutes=2)):
        h.stage("writeback")
    assert len(h.shop.ship_calls) == 2
    assert [p.attempted for _, parcels, _ in h.shop.ship_calls for p in parcels] == [False, True]
    assert h.shop.shipped == {"1601": ["YD1601000"]}
    assert _states(db)["1601"] == "shipped"


def test_writeback_given_a_refusal_holds_the_order_with_the_platform_message(h: Harness, db: Database):
    h.shop.put(make_order("1701", _ago(5)))
    h.cycle()
    h.reply("acme", "r.csv", [("1701", "中通", "ZT1701")])
    h.shop.fail_ship.append(RejectedError("douyin order.logisticsAdd: 60017 运单号不符合规则", code="60017"))
    h.cycle()
    with db.begin() as s:
        o = s.scalars(select(Order)).one()
        assert (o.state, o.hold_reason) == ("held", "tracking_rejected")
        assert "运单号不符合规则" in s.scalars(select(Hold.detail)).one()


def test_writeback_given_a_claim_left_by_a_crash_reads_back_after_it_expires_and_does_not_send_again(h: Harness,
                                                                                                    db):
    import time_machine

    from syncd.stages import writeback

    h.shop.put(make_order("1801", _ago(5)))
    h.cycle()
    h.reply("acme", "r.csv", [("1801", "中通", "ZT1801")])
    h.stage("collect")
    with db.begin() as s:  # a daemon claimed the shipment, uploaded it, and died before recording it
        assert writeback._claim(h.rt, s, "shop1", clock.now())
    h.shop.shipped["1801"] = ["ZT1801"]
    h.stage("writeback")
    assert h.shop.ship_calls == []  # the claim still runs
    with time_machine.travel(clock.now() + timedelta(minutes=6)):
        h.stage("writeback")
    assert h.shop.shipped == {"1801": ["ZT1801"]}
    assert h.shop.get_calls == ["1801"]  # the dead replica's call may have gone through: read back first
    assert h.shop.ship_calls == []  # ... it had: nothing is sent again
    assert _states(db)["1801"] == "shipped"


def test_release_and_manual_hold_move_the_order_as_a_person_asked(h: Harness, db: Database):
    from syncd import operations

    h.shop.put(make_order("1901", _ago(5)))
    h.stage("pull")
    with db.begin() as s:
        oid = s.scalar(select(Order.id))
    operations.hold(db, oid, "buyer called: wait")
    h.stage("route")
    assert _states(db)["1901"] == "held"
    assert operations.release(db, oid) == "new"
    h.stage("route")
    assert _states(db)["1901"] == "routed"
    with pytest.raises(RejectedError):
        operations.release(db, oid)


def test_collect_given_a_reply_to_a_batch_whose_recording_was_interrupted_keeps_the_tracking(
    h: Harness, db: Database, monkeypatch: pytest.MonkeyPatch
):
    from syncd.stages import forward

    h.shop.put(make_order("2001", _ago(5)))
    h.stage("pull")
    h.stage("route")
    real = forward.write_batch

    def file_written_then_crash(rt, supplier_id, batch_id, receivers=None):
        adapter = rt.suppliers[supplier_id]
        original = adapter.write_batch
        adapter.write_batch = lambda batch: (original(batch), (_ for _ in ()).throw(SystemExit("killed")))[0]
        try:
            return real(rt, supplier_id, batch_id, receivers)
        finally:
            adapter.write_batch = original

    monkeypatch.setattr(forward, "write_batch", file_written_then_crash)
    with pytest.raises(SystemExit):
        h.stage("forward")
    monkeypatch.setattr(forward, "write_batch", real)
    assert [r["订单号"] for r in h.exported_rows("acme")] == ["2001"]  # the supplier has the file...
    with db.begin() as s:
        assert s.scalar(select(SupplierOrder.state)) == "placing"  # ...the daemon never recorded it
    h.reply("acme", "r.csv", [("2001", "中通", "ZT2001")])
    h.stage("collect")
    h.cycle()
    assert _states(db)["2001"] == "shipped"
    assert h.shop.shipped == {"2001": ["ZT2001"]}
    assert len(h.exported_rows("acme")) == 1


def test_reexport_given_a_written_batch_writes_the_same_file_with_the_same_orders(h: Harness, db: Database):
    from syncd.stages.forward import reexport

    for i in range(3):
        h.shop.put(make_order(f"210{i}", _ago(5)))
    h.cycle()
    (path,) = h.outbox("acme").glob("*.xlsx")
    before = sorted(r["订单号"] for r in h.exported_rows("acme"))
    path.unlink()
    with db.begin() as s:
        batch_id = s.scalar(select(ExportBatch.id).where(ExportBatch.supplier_id == "acme"))
    assert reexport(h.rt, batch_id) == path.name
    assert sorted(r["订单号"] for r in h.exported_rows("acme")) == before
    with pytest.raises(RejectedError, match="no batch 999"):
        reexport(h.rt, 999)


def test_collect_given_one_parcel_listed_on_every_product_line_records_it_once(h: Harness, db: Database):
    h.shop.put(make_order("2201", _ago(5), skus=("SKU-A", "SKU-2P")))
    h.cycle()
    h.reply("acme", "r.csv", [("2201", "中通", "ZT2201"), ("2201", "中通", "ZT2201")])
    assert h.stage("collect").ok
    h.reply("acme", "corrected.csv", [("2201", "中通", "ZT2201"), ("2201", "中通", "ZT2202")])
    assert h.stage("collect").ok
    with db.begin() as s:
        assert sorted(s.scalars(select(Shipment.tracking_no))) == ["ZT2201", "ZT2202"]


def test_writeback_given_a_parcel_for_some_lines_only_reports_a_partial_shipment(h: Harness, db: Database):
    h.shop.put(make_order("2301", _ago(5), skus=("SKU-A", "SKU-2P")))
    h.cycle()
    h.reply(
        "acme", "r.csv", [("2301", "2301-1", "中通", "ZT2301")], header=("订单号", "子订单号", "快递公司", "快递单号")
    )
    h.cycle()
    ((pid, parcels, whole),) = h.shop.ship_calls
    assert (pid, whole) == ("2301", False)
    assert [(ln.platform_line_id, ln.quantity) for ln in parcels[0].lines] == [("2301-1", 1)]


def test_forward_given_the_supplier_answering_before_the_batch_is_recorded_still_ships_the_order(
        h: Harness, db: Database, monkeypatch):
    """A supplier can answer a file in the moment between its writing and its recording: the reply is
    imported, the tracking uploaded while the order is still routed; recording the batch must then finish
    the order instead of leaving it placed for ever."""
    h.shop.put(make_order("2201", _ago(30)))
    h.stage("pull")
    h.stage("route")
    adapter = h.rt.suppliers["acme"]
    write = adapter.write_batch

    def write_then_answer(batch):
        name = write(batch)
        h.reply("acme", "fast.csv", [("2201", "中通快递", "77300000201")])
        h.stage("collect")
        h.stage("writeback")  # uploaded while the order is still routed
        return name

    monkeypatch.setattr(adapter, "write_batch", write_then_answer)
    h.stage("forward")
    assert [c[0] for c in h.shop.ship_calls] == ["2201"]
    assert _states(db) == {"2201": "shipped"}


def test_pull_given_our_own_shipment_read_back_as_shipped_raises_no_stop_notice(h: Harness, db: Database):
    """Shipping takes an order out of 'ready to ship' on the storefront: that is not a stop (a cancellation,
    a refund, a risk review) and must neither flag the order nor ask the supplier to cancel."""
    h.shop.put(make_order("2301", _ago(30)))
    h.shop.put(make_order("2302", _ago(30)))
    h.cycle()
    h.reply("acme", "reply1.csv", [("2301", "中通快递", "77300000001"), ("2302", "中通快递", "77300000002")])
    h.cycle()
    assert set(_states(db).values()) == {"shipped"}
    for pid in ("2301", "2302"):  # the storefront now lists them shipped, with a new update time
        h.shop.put(make_order(pid, clock.now(), status=OrderStatus.SHIPPED, ready=False))
    h.cycle()
    h.cycle()
    with db.begin() as s:
        rows = {r.platform_order_id: r for r in s.scalars(select(Order))}
        cancels = s.scalars(select(SupplierOrder.cancel_state)).all()
    assert {pid: (r.status, r.state, r.last_error) for pid, r in rows.items()} == {
        "2301": ("shipped", "shipped", None), "2302": ("shipped", "shipped", None)}
    assert set(cancels) == {"none"}
    assert not [r for r in h.exported_rows("acme") if r["_file"].endswith("-cancel.xlsx")]


def test_pull_given_an_order_at_the_supplier_back_under_review_leaves_a_notice(h: Harness, db: Database):
    h.shop.put(make_order("2311", _ago(30)))
    h.cycle()
    assert set(_states(db).values()) == {"placed"}
    h.shop.put(make_order("2311", clock.now(), ready=False))  # paid, but the platform holds it (risk review)
    h.stage("pull")
    with db.begin() as s:
        row = s.scalars(select(Order)).one()
    assert row.state == "placed" and "tell the supplier not to ship" in (row.last_error or "")


def test_refund_stream_given_a_refund_before_forwarding_holds_and_after_forwarding_leaves_a_notice(h: Harness, db):
    from syncd.domain import RefundEvent

    h.shop.put(make_order("2401", _ago(30)))
    h.shop.put(make_order("2402", _ago(30)))
    h.stage("pull")
    h.stage("route")
    h.stage("forward")  # both at the supplier now
    h.shop.put(make_order("2403", clock.now()))
    h.stage("pull")
    h.stage("route")  # routed, not yet exported
    h.shop.refunds += [
        RefundEvent("2402", "2402-1", RefundState.REQUESTED, clock.now(), "仅退款"),
        RefundEvent("2403", None, RefundState.REQUESTED, clock.now(), "仅退款"),
        RefundEvent("9999", None, RefundState.REFUNDED, clock.now()),
    ]  # not ours yet: ignored
    h.stage("pull")
    h.stage("route")
    h.stage("forward")
    with db.begin() as s:
        rows = {r.platform_order_id: r for r in s.scalars(select(Order))}
    assert (rows["2401"].refund_state, rows["2401"].last_error) == ("none", None)
    assert rows["2402"].refund_state == "requested" and "tell the supplier" in rows["2402"].last_error
    assert (rows["2403"].state, rows["2403"].hold_reason) == ("held", "refund_requested")
    rows_out = h.exported_rows("acme")
    assert sorted(r["订单号"] for r in rows_out if not r["_file"].endswith("-cancel.xlsx")) == ["2401", "2402"]
    # 2402 was at the supplier already: a cancellation file tells it not to ship, and a person is told
    cancelled = [r for r in rows_out if r["_file"].endswith("-cancel.xlsx")]
    assert [r["订单号"] for r in cancelled] == ["2402"] and "请勿发货" in cancelled[0]["备注"]
    assert cancelled[0]["_file"].startswith("取消-") and cancelled[0]["操作"] == "取消"  # never an order file's layout
    with db.begin() as s:
        so = s.scalars(select(SupplierOrder).join(Order, Order.id == SupplierOrder.order_id)
                       .where(Order.platform_order_id == "2402")).one()
        assert so.cancel_state == "notified" and "confirm with the supplier" in (so.cancel_detail or "")
    h.stage("forward")  # nothing is cancelled twice
    assert len([r for r in h.exported_rows("acme") if r["_file"].endswith("-cancel.xlsx")]) == 1
    h.shop.refunds.append(RefundEvent("2403", None, RefundState.NONE, clock.now(), "仅退款"))  # buyer withdrew it
    h.stage("pull")
    h.stage("route")
    assert _states(db)["2403"] == "routed"


def test_pull_given_days_of_downtime_catches_up_window_by_window_without_gaps(h: Harness, db: Database):
    from syncd.store.models import Cursor

    h.shop.put(make_order("2501", _ago(60 * 30)))
    h.stage("pull")
    with db.begin() as s:  # the daemon was down for 3 days
        s.get(Cursor, ("shop1", "orders")).watermark = clock.now() - timedelta(days=3)
    for i, hours in enumerate((70, 49, 20, 1)):
        h.shop.put(make_order(f"26{i}", clock.now() - timedelta(hours=hours)))
    h.shop.list_calls.clear()
    h.stage("pull")
    calls = h.shop.list_calls
    assert all(b - a <= timedelta(hours=1) for a, b in calls)
    assert all(nxt[0] <= prev[1] for prev, nxt in itertools.pairwise(calls))  # overlapping, no gap
    assert {"260", "261", "262", "263"} <= set(_states(db))


def test_reconcile_given_an_order_the_pull_missed_pulls_it_and_a_persisting_gap_is_reported(h: Harness, db):

    h.shop.put(make_order("2701", _ago(120)))
    h.stage("pull")
    h.shop.put(make_order("2702", _ago(90)))  # appeared behind the cursor: the incremental pull never sees it
    h.stage("pull")
    assert "2702" not in _states(db)
    report = h.stage("reconcile")
    assert report.ok and report.work >= 1
    assert "2702" in _states(db)
    real_list = h.shop.list_orders
    h.shop.put(make_order("2703", _ago(80)))
    h.shop.list_orders = lambda a, b: real_list(a, min(b, _ago(100)))  # the listing keeps missing it
    report = h.stage("reconcile")
    assert not report.ok and "still differ" in report.failures[0][1] and "platform 2, syncd 1" in report.failures[0][1]


def test_resync_given_a_range_or_an_order_reads_them_again_without_moving_the_cursor(h: Harness, db: Database):
    from syncd.stages.pull import read_cursor, resync_order, resync_shop

    h.shop.put(make_order("2801", _ago(10)))
    h.stage("pull")
    cursor = read_cursor(h.rt, "shop1")
    h.shop.put(make_order("2802", clock.now() - timedelta(days=5)))  # long before the first look-back
    assert resync_shop(h.rt, "shop1", clock.now() - timedelta(days=6), clock.now() - timedelta(days=4)) == 1
    h.shop.update("2801", _ago(9), seller_memo="改地址")
    assert resync_order(h.rt, "shop1", "2801") == 1
    assert read_cursor(h.rt, "shop1") == cursor
    with db.begin() as s:
        memo = dict(s.execute(select(Order.platform_order_id, Order.seller_memo)).all())
    assert memo == {"2801": "改地址", "2802": ""}


def test_shop_stages_given_one_shop_stuck_in_a_slow_call_still_serve_the_other_shops(h: Harness):
    import threading

    from syncd.stages.runner import StageReport, for_each_shop
    from tests.fakes import FakeStorefront

    h.rt.storefronts["shop2"] = FakeStorefront()
    other_done = threading.Event()

    def work(shop: str) -> int:
        if shop == "shop1":  # stuck (a rate budget, a slow platform) until the other shop got its turn
            assert other_done.wait(timeout=5), "shop2 waited for shop1: shops run one after another"
            return 1
        other_done.set()
        return 1

    report = StageReport("writeback")
    for_each_shop(h.rt, report, work)
    assert report.ok and report.work == 2


def test_shop_stages_given_shops_on_pool_threads_report_those_threads_cpu(h: Harness, monkeypatch):
    import time

    from syncd.daemon import STAGES, run_stage
    from syncd.stages.runner import StageReport, for_each_shop
    from tests.fakes import FakeStorefront

    h.rt.storefronts["shop2"] = FakeStorefront()

    def work(shop: str) -> int:
        start = time.thread_time()
        for _ in range(50_000_000):  # 20 ms of this worker thread's CPU
            if time.thread_time() - start >= 0.02:
                return 1
        raise AssertionError("thread_time did not advance")

    report = StageReport("writeback")
    for_each_shop(h.rt, report, work)
    assert report.work == 2 and report.worker_cpu >= 0.04
    # The daemon's own accounting: the job thread's CPU and its workers'.
    monkeypatch.setitem(STAGES, "writeback", lambda rt, rep: for_each_shop(rt, rep, work))
    run_stage(h.rt, "writeback")
    assert h.rt.metrics.cpu_seconds()["writeback"] >= 0.04

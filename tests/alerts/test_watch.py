"""The watch stage: facts → rules → lifecycle → delivery, once per replica, bounded in SQL statements."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import insert, select

from syncd import clock
from syncd.adapters.alibaba import mapping as alibaba
from syncd.domain import Severity
from syncd.errors import TransientError
from syncd.stages import watch
from syncd.stages.runner import StageReport
from syncd.stages.track import apply_result
from syncd.store.db import Database, try_lease
from syncd.store.models import Alert, Order, Shipment, StageRun, SupplierOrder
from tests.alerts.rig import (
    NOW,
    FakeSink,
    Rig,
    alerts_config,
    make_runtime,
    order_row,
    shipment_row,
    supplier_order_row,
)

H = timedelta(hours=1)


def run(rig: Rig) -> StageReport:
    report = StageReport("watch")
    watch.run(rig.rt, report)
    return report


def open_alerts(db: Database) -> list[tuple[str, str]]:
    with db.read() as s:
        return sorted((a.rule, a.subject) for a in s.scalars(select(Alert).where(Alert.open.is_(True))))


def seed_parcels(db: Database, healthy: int, troubled: int, start: int = 0) -> None:
    """``healthy`` moving parcels and ``troubled`` ones without a pickup scan for 13 h, in a few statements.
    Numbers ``start`` … ``start + healthy + troubled``; the troubled ones come first (tracking ``T<n>``)."""
    n = healthy + troubled
    with db.begin() as s:
        s.execute(insert(Order), [order_row(f"B{start + i}", state="shipped", paid_at=NOW - 30 * H)
                                  for i in range(n)])
        ids = list(s.scalars(select(Order.id).order_by(Order.id)))[-n:]
        s.execute(insert(SupplierOrder), [supplier_order_row(oid, f"BK{oid}", state="shipped") for oid in ids])
        so = {oid: sid for oid, sid in s.execute(select(SupplierOrder.order_id, SupplierOrder.id))}
        rows = []
        for i, oid in enumerate(ids):
            if i < troubled:
                rows.append(shipment_row(oid, so[oid], f"T{start + i:09d}", handed_over_at=NOW - 13 * H))
            else:
                rows.append(shipment_row(oid, so[oid], f"H{start + i:09d}", logistics_state="in_transit",
                                         handed_over_at=NOW - 20 * H, picked_up_at=NOW - 19 * H,
                                         last_event_at=NOW - 2 * H))
        s.execute(insert(Shipment), rows)


def test_a_pass_alerts_exactly_the_troubled_parcels_and_a_restart_sends_nothing_twice(
        rig: Rig, db: Database, tmp_path: Path, frozen: time_machine.Traveller) -> None:
    seed_parcels(db, healthy=30, troubled=3)
    report = run(rig)
    assert report.ok, report.failures
    assert [r for r, _ in open_alerts(db)] == ["no_pickup"] * 3
    sent = rig.sinks["ops"].messages
    assert len(sent) == 3 and all(m.title.startswith("No pickup scan: parcel 中通快递 T") for m in sent)
    frozen.shift(60)
    run(rig)
    assert len(rig.sinks["ops"].messages) == 3
    # a new process on the same database: nothing is sent again
    again = FakeSink("ops")
    rt2 = make_runtime(db, tmp_path, alerts_config(daily_digest_at=None), {"ops": again})
    frozen.shift(60)
    watch.run(rt2, StageReport("watch"))
    assert again.calls == 0
    rt2.http.close()


def test_a_parcel_that_moves_again_resolves_and_says_so(rig: Rig, db: Database,
                                                        frozen: time_machine.Traveller) -> None:
    sid = rig.shipment(handed_over_at=NOW - 13 * H)
    run(rig)
    with db.begin() as s:
        sh = s.get(Shipment, sid)
        assert sh is not None
        sh.logistics_state, sh.picked_up_at, sh.last_event_at = "picked_up", NOW + H, NOW + H
    frozen.shift(2 * H)
    run(rig)
    assert open_alerts(db) == []
    assert rig.sinks["ops"].messages[-1].title.startswith("Resolved: No pickup scan")


def test_a_1688_parcel_sent_21_hours_ago_without_a_scan_is_a_critical_no_pickup_as_soon_as_it_arrives(
        rig: Rig, db: Database) -> None:
    number = "73000000000001"
    sent = (NOW - 21 * H).astimezone(clock.SHANGHAI).strftime("%Y%m%d%H%M%S000+0800")
    [parcel] = alibaba.parcels_from([{"logisticsBillNo": number, "logisticsCompanyName": "中通快递",
                                      "logisticsCompanyNo": "ZTO", "status": "WAITACCEPT", "gmtSystemSend": sent}],
                                    {}, {}, "alibaba.trade.getLogisticsInfos.buyerView")
    trace = alibaba.trace_from([{"logisticsBillNo": number, "logisticsSteps": []}], number,
                               "alibaba.trade.getLogisticsTraceInfo.buyerView")
    assert trace is not None and parcel.sent_at == NOW - 21 * H
    # as the supplier stage records it: the number arrived just now, handed over at the supplier's send time
    sid = rig.shipment(tracking_no=number, carrier=parcel.carrier or "", created_at=NOW,
                       handed_over_at=parcel.sent_at)
    with db.begin() as s:
        apply_result(s, sid, trace, NOW, source="ali-factory")

    assert run(rig).ok
    assert open_alerts(db) == [("no_pickup", f"shipment:{sid}")]
    [message] = rig.sinks["ops"].messages
    assert message.severity is Severity.CRITICAL
    assert message.title.startswith(f"No pickup scan: parcel 中通快递 {number}")
    assert "Handed over 2024-05-05 15:00:00; no carrier scan since." in message.lines


def test_a_1688_parcel_sent_30_hours_ago_alerts_nobody_before_its_trace_is_read_nor_after_it_shows_a_scan(
        rig: Rig, db: Database) -> None:
    number = "73000000000002"
    # as the supplier stage records it: the number arrived just now, handed over at 1688's send time
    sid = rig.shipment(tracking_no=number, created_at=NOW, handed_over_at=NOW - 30 * H, last_checked_at=None)
    assert run(rig).ok
    assert open_alerts(db) == [] and rig.sinks["ops"].calls == 0

    def at(ago: timedelta) -> str:
        return (NOW - ago).astimezone(clock.SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")

    trace = alibaba.trace_from([{"logisticsBillNo": number, "logisticsSteps": [
        {"acceptTime": at(29 * H), "remark": "【义乌市】中通快递 义乌分拨中心 已揽收"},
        {"acceptTime": at(2 * H), "remark": "【杭州市】快件已到达 杭州转运中心"}]}], number,
        "alibaba.trade.getLogisticsTraceInfo.buyerView")
    assert trace is not None
    with db.begin() as s:
        apply_result(s, sid, trace, NOW, source="ali-factory")
    assert run(rig).ok
    assert open_alerts(db) == [] and rig.sinks["ops"].calls == 0  # nothing opened, so nothing resolved either


def test_a_parcel_no_source_reads_warns_a_day_after_hand_over_and_resolves_once_its_trace_is_read(
        rig: Rig, db: Database, frozen: time_machine.Traveller) -> None:
    number = "73000000000003"
    # no provider answers for it and its trace keeps failing: nothing ever sets last_checked_at
    sid = rig.shipment(tracking_no=number, created_at=NOW - 23 * H, handed_over_at=NOW - 23 * H,
                       last_checked_at=None)
    assert run(rig).ok
    assert open_alerts(db) == []  # not yet: a source may still read it
    frozen.shift(H)
    assert run(rig).ok
    assert open_alerts(db) == [("tracking_unread", f"shipment:{sid}")]
    [message] = rig.sinks["ops"].messages
    assert message.severity is Severity.WARNING
    assert message.title.startswith(f"Tracking never read: parcel 中通快递 {number} of order P")
    frozen.shift(H)

    def at(ago: timedelta) -> str:
        return (clock.now() - ago).astimezone(clock.SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")

    trace = alibaba.trace_from([{"logisticsBillNo": number, "logisticsSteps": [
        {"acceptTime": at(22 * H), "remark": "【义乌市】中通快递 义乌分拨中心 已揽收"},
        {"acceptTime": at(2 * H), "remark": "【杭州市】快件已到达 杭州转运中心"}]}], number,
        "alibaba.trade.getLogisticsTraceInfo.buyerView")
    assert trace is not None
    with db.begin() as s:
        apply_result(s, sid, trace, clock.now(), source="ali-factory")
    assert run(rig).ok
    assert open_alerts(db) == []
    assert rig.sinks["ops"].messages[-1].title.startswith("Resolved: Tracking never read")


def test_the_watch_stage_records_its_scopes(rig: Rig, db: Database) -> None:
    run(rig)
    with db.read() as s:
        assert {(r.stage, r.scope) for r in s.scalars(select(StageRun))} == {("watch", "rules"),
                                                                             ("watch", "delivery")}


def test_another_replica_holding_the_lease_makes_this_pass_do_nothing(rig: Rig, db: Database) -> None:
    rig.shipment(handed_over_at=NOW - 13 * H)
    assert try_lease(db, watch.LEASE, "other-replica", timedelta(minutes=10))
    run(rig)
    assert open_alerts(db) == [] and rig.sinks["ops"].calls == 0


def test_a_failing_rule_pass_still_delivers_what_waits(rig: Rig, db: Database,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    rig.shipment(handed_over_at=NOW - 13 * H)
    run(rig)  # queues and sends one
    rig.sinks["ops"].fail = [TransientError("timeout")]
    rig.shipment(handed_over_at=NOW - 13 * H)
    run(rig)  # the new alert's message fails to go out and waits

    def broken(*_a: object, **_k: object) -> None:
        raise RuntimeError("bug in a rule")

    monkeypatch.setattr(watch, "load_facts", broken)
    with time_machine.travel(clock.now() + timedelta(minutes=2), tick=False):
        report = run(rig)
    assert [name for name, _ in report.failures] == ["rules"]
    assert len(rig.sinks["ops"].messages) == 2


def test_a_pass_over_20000_parcels_is_a_handful_of_statements_whatever_the_size(
        rig: Rig, db: Database, frozen: time_machine.Traveller) -> None:
    def steady_pass() -> int:
        frozen.shift(60)
        before = db.statements.count
        run(rig)
        return db.statements.count - before

    seed_parcels(db, healthy=1_980, troubled=20)
    run(rig)
    small = steady_pass()
    seed_parcels(db, healthy=17_820, troubled=180, start=2_000)
    before = db.statements.count
    run(rig)
    first = db.statements.count - before
    assert len(open_alerts(db)) == 200
    large = steady_pass()
    # a dozen fact queries, the lifecycle's reads, the daily chores' look-up, the lease, the two stage records
    assert large == small <= 32, (small, large)
    assert first <= large + 15, first  # the first pass adds the inserts and a digest or two (20/min channel)
    text = rig.sinks["ops"].text()
    assert all(text.count(f"T{i:09d} ") == 1 for i in [*range(20), *range(2_000, 2_180)])  # each exactly once

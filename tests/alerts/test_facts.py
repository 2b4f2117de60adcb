"""The facts queries select exactly the candidates: thresholds applied in SQL, nothing else read."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert

from syncd.alerts.config import AlertsConfig
from syncd.alerts.facts import load_facts
from syncd.alerts.model import Facts
from syncd.store.models import Hold, InboxFileRecord, Notification, Shop, StageRun, TokenRow
from tests.alerts.rig import NOW, SUPPLIER, Rig

H = timedelta(hours=1)
S = timedelta(seconds=1)


def facts(rig: Rig, cfg: AlertsConfig | None = None, **kw: object) -> Facts:
    args: dict[str, object] = {"ship_within": {SUPPLIER: 24.0}, "shops": ["shop1"], "suppliers": [SUPPLIER],
                               "channels": ["ops"]}
    args.update(kw)
    return load_facts(rig.db, cfg or AlertsConfig(), NOW, **args)  # type: ignore[arg-type]


def test_parcels_are_selected_only_past_the_threshold_of_their_state_until_delivered_or_returned(
        rig: Rig) -> None:
    young = rig.shipment(handed_over_at=NOW - 12 * H + S)
    due = rig.shipment(handed_over_at=NOW - 12 * H)
    fallback = rig.shipment(created_at=NOW - 13 * H)  # no handed_over_at: the time the number arrived
    moving = rig.shipment(logistics_state="in_transit", last_event_at=NOW - 48 * H + S)
    stalled = rig.shipment(logistics_state="in_transit", last_event_at=NOW - 48 * H)
    picked = rig.shipment(logistics_state="picked_up", picked_up_at=NOW - 24 * H)
    problem = rig.shipment(logistics_state="refused", last_event_at=NOW - H)
    flagged = rig.shipment(logistics_state="in_transit", last_event_at=NOW - H, track_verdict="stalled")
    fresh_no_record = rig.shipment(handed_over_at=NOW - H, track_verdict="no_records")
    rig.shipment(logistics_state="delivered", last_event_at=NOW - 300 * H, track_final=True)
    rig.shipment(logistics_state="returned", last_event_at=NOW - 300 * H, track_final=True)
    # the provider gave up on it (final for the tracker) but it never arrived: still watched
    gave_up = rig.shipment(handed_over_at=NOW - 80 * H, track_final=True, track_verdict="abort: 3天查询无记录")
    got = {p.shipment_id: p for p in facts(rig).parcels}
    assert set(got) == {due, fallback, stalled, picked, problem, flagged, gave_up}
    assert young not in got and moving not in got and fresh_no_record not in got
    assert got[fallback].handed_over_at == NOW - 13 * H
    assert got[picked].last_scan_at == NOW - 24 * H
    assert (got[due].shop_id, got[due].carrier) == ("shop1", "zhongtong")


def test_a_parcel_whose_tracking_was_never_read_is_no_candidate_for_any_parcel_rule(rig: Rig) -> None:
    unread = [rig.shipment(handed_over_at=NOW - 30 * H, last_checked_at=None),
              rig.shipment(logistics_state="picked_up", picked_up_at=NOW - 40 * H, last_checked_at=None),
              rig.shipment(logistics_state="in_transit", last_event_at=NOW - 60 * H, last_checked_at=None),
              rig.shipment(logistics_state="problem", last_event_at=NOW - H, last_checked_at=None),
              rig.shipment(handed_over_at=NOW - H, track_verdict="abort: 3天查询无记录", last_checked_at=None)]
    read = rig.shipment(handed_over_at=NOW - 30 * H, last_checked_at=NOW - S)
    assert [p.shipment_id for p in facts(rig).parcels] == [read]
    assert not set(unread) & {p.shipment_id for p in facts(rig).parcels}


def test_a_parcel_whose_tracking_was_never_read_is_a_tracking_unread_candidate_past_its_threshold(rig: Rig) -> None:
    due = rig.shipment(handed_over_at=NOW - 24 * H, created_at=NOW - 24 * H, last_checked_at=None)
    moving = rig.shipment(logistics_state="in_transit", handed_over_at=NOW - 60 * H, created_at=NOW - 60 * H,
                          last_checked_at=None)
    rig.shipment(handed_over_at=NOW - 24 * H + S, created_at=NOW - 24 * H + S, last_checked_at=None)  # young
    rig.shipment(handed_over_at=NOW - 30 * H, created_at=NOW - H, last_checked_at=None)  # number came just now
    rig.shipment(handed_over_at=NOW - 30 * H, created_at=NOW - 30 * H)  # read
    rig.shipment(logistics_state="delivered", handed_over_at=NOW - 99 * H, created_at=NOW - 99 * H,
                 last_checked_at=None, track_final=True)
    got = facts(rig)
    assert sorted(p.shipment_id for p in got.unread_parcels) == [due, moving]
    assert all(not p.read for p in got.unread_parcels) and all(p.read for p in got.parcels)
    assert {p.number_at for p in got.unread_parcels} == {NOW - 24 * H, NOW - 60 * H}


def test_ship_deadline_candidates_are_unshipped_paid_orders_inside_the_warning_window(rig: Rig) -> None:
    early = rig.order(paid_at=NOW - 36 * H + S)
    near = rig.order(paid_at=NOW - 36 * H)
    by_platform = rig.order(paid_at=NOW - H, ship_by=NOW + 12 * H)
    later_platform = rig.order(paid_at=NOW - 40 * H, ship_by=NOW + 12 * H + S)
    rig.order(state="shipped", paid_at=NOW - 50 * H)
    rig.order(state="cancelled", paid_at=NOW - 50 * H)
    rig.order(status="cancelled", paid_at=NOW - 50 * H)
    got = {o.order_id for o in facts(rig).orders}
    assert got == {near, by_platform}
    assert early not in got and later_platform not in got


def test_hold_candidates_skip_released_and_quiet_holds(rig: Rig) -> None:
    long_held = rig.order(state="held", hold_reason="unmapped_sku")
    fresh_immediate = rig.order(state="held", hold_reason="supplier_rejected")
    fresh = rig.order(state="held", hold_reason="out_of_stock")
    quiet = rig.order(state="held", hold_reason="not_ready")
    released = rig.order(state="new")
    with rig.db.begin() as s:
        s.execute(insert(Hold), [
            {"order_id": long_held, "reason": "unmapped_sku", "detail": "no route for SKU X",
             "created_at": NOW - 4 * H},
            {"order_id": fresh_immediate, "reason": "supplier_rejected", "detail": "delisted", "created_at": NOW},
            {"order_id": fresh, "reason": "out_of_stock", "detail": "", "created_at": NOW - 4 * H + S},
            {"order_id": quiet, "reason": "not_ready", "detail": "", "created_at": NOW - 99 * H},
            {"order_id": released, "reason": "unmapped_sku", "detail": "", "created_at": NOW - 99 * H,
             "released_at": NOW - H}])
    got = {h.order_id: h for h in facts(rig).holds}
    assert set(got) == {long_held, fresh_immediate}
    assert got[long_held].detail == "no route for SKU X"


def test_supplier_order_candidates_use_each_suppliers_hours_and_skip_cancellations(rig: Rig) -> None:
    o = rig.order()
    late = rig.supplier_order(o, placed_at=NOW - 24 * H)
    unpaid = rig.supplier_order(o, placed_at=NOW - 2 * H, paid=False)
    young = rig.supplier_order(o, placed_at=NOW - 2 * H + S)
    rig.supplier_order(o, placed_at=NOW - 30 * H, cancel_state="requested")
    rig.supplier_order(o, placed_at=NOW - 30 * H, state="shipped")
    other = rig.supplier_order(o, supplier="beta", placed_at=NOW - 30 * H)
    got = {f.supplier_order_id for f in facts(rig).supplier_orders}
    assert {late, unpaid} <= got and young not in got and other not in got
    too_late = rig.supplier_order(o, state="shipped", cancel_state="too_late", cancel_detail="already shipped")
    assert [c.supplier_order_id for c in facts(rig).cancels] == [too_late]


def test_duplicate_numbers_across_orders_but_not_within_a_split_order(rig: Rig) -> None:
    a, b = rig.order(state="shipped", pid="A"), rig.order(state="shipped", pid="B")
    rig.shipment(order_id=a, tracking_no="DUP1")
    rig.shipment(order_id=b, tracking_no="DUP1", track_final=True)  # an old delivered parcel reused
    split = rig.order(state="shipped", pid="S")
    rig.shipment(order_id=split, tracking_no="SPLIT1")
    rig.shipment(order_id=split, tracking_no="SPLIT1")  # the same order, two supplier orders, one parcel
    got = facts(rig).duplicates
    assert [(d.tracking_no, d.orders) for d in got] == [("DUP1", (("shop1", "A"), ("shop1", "B")))]


def test_daemon_health_facts(rig: Rig) -> None:
    with rig.db.begin() as s:
        s.add_all([
            TokenRow(shop_id="shop1", access_token="ACCESS-SECRET", refresh_token="REFRESH-SECRET",
                     expires_at=NOW + H, refresh_expires_at=NOW + timedelta(days=3), extra={}, updated_at=NOW),
            TokenRow(shop_id="supplier:acme", access_token="x", refresh_token="", expires_at=NOW + H,
                     refresh_expires_at=None, extra={}, updated_at=NOW),
            TokenRow(shop_id="gone-shop", access_token="x", refresh_token="", expires_at=NOW + H,
                     refresh_expires_at=None, extra={}, updated_at=NOW),
            Shop(id="shop1", platform="fake", paused_reason="authorisation revoked", paused_at=NOW, updated_at=NOW),
            StageRun(stage="pull", scope="shop1", consecutive_failures=3, last_error="TransientError: timeout"),
            StageRun(stage="route", scope="all", consecutive_failures=0),
            InboxFileRecord(supplier_id="acme", file_name="r.csv", sha256="1", rows_ok=1, rows_rejected=2,
                            errors=[], processed_at=NOW - H),
            InboxFileRecord(supplier_id="acme", file_name="ok.csv", sha256="2", rows_ok=5, rows_rejected=0,
                            errors=[], processed_at=NOW - H),
            InboxFileRecord(supplier_id="acme", file_name="old.csv", sha256="3", rows_ok=0, rows_rejected=2,
                            errors=[], processed_at=NOW - 25 * H),
        ])
        s.execute(insert(Notification), [
            {"channel": "ops", "kind": "open", "severity": "warning", "title": "t", "created_at": NOW - H,
             "not_before": NOW, "attempts": 2, "last_error": "transient: timeout"},
            {"channel": "ops", "kind": "open", "severity": "warning", "title": "t", "created_at": NOW,
             "not_before": NOW, "attempts": 0}])
    f = facts(rig)
    assert {(t.owner, t.can_refresh) for t in f.tokens} == {("shop1", True), ("supplier:acme", False)}
    assert "SECRET" not in repr(f)
    assert [p.shop_id for p in f.paused_shops] == ["shop1"]
    assert [(st.stage, st.failures) for st in f.stages] == [("pull", 3)]
    assert [x.file_name for x in f.files] == ["r.csv"]
    assert [(c.channel, c.attempts, c.last_error, c.since) for c in f.channels] == \
        [("ops", 2, "transient: timeout", NOW - H)]


def test_a_pass_reads_each_kind_of_fact_in_one_statement(rig: Rig) -> None:
    for _ in range(30):
        rig.shipment(handed_over_at=NOW - 13 * H)
    before = rig.db.statements.count
    assert len(facts(rig).parcels) == 30
    assert rig.db.statements.count - before <= 12

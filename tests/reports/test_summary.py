"""The daily summary gives exactly the raw report: over the hand-checked data set and a seeded history, for every
grouping, after writes to old days (marked by the triggers of revision 0014), with a bounded roll-up, and after a
roll-up that crashed half-way (SQLite, and PostgreSQL when SYNCD_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text, update

from syncd import clock
from syncd.reports import GROUPINGS, Period, ReportOptions, Thresholds, build_report, summary
from syncd.reports.model import Report
from syncd.store.db import Database
from syncd.store.models import Order, OrderLine, ReportDay, ReportStale, ReportSummary, Shipment, SupplierOrder
from tests.reports.data import NOW, OPTIONS, PERIOD, Seeder, at

WIDE = Period(date(2026, 11, 9), date(2026, 11, 12))  # O6 and O9 too
LATER = NOW + timedelta(days=2)  # O7's ship-by time has passed: every day of the data set can be read summed
RATES = dict(OPTIONS.commission_bp)


def _rebuild(db: Database, now: datetime = NOW) -> int:
    return summary.rebuild(db.engine, clock.SHANGHAI, RATES, now)


def _both(db: Database, period: Period, by: str, now: datetime, options: ReportOptions = OPTIONS
          ) -> tuple[Report, Report]:
    return (build_report(db.engine, period, by, options, now),
            build_report(db.engine, period, by, options, now, use_summary=False))


def _clean(db: Database, period: Period = WIDE, now: datetime = NOW) -> set[date]:
    with db.engine.connect() as c:
        return summary.clean_days(c, period, summary.basis(clock.SHANGHAI, RATES), now)


def _assert_same(db: Database, period: Period = WIDE, now: datetime = NOW,
                 options: ReportOptions = OPTIONS) -> None:
    for by in GROUPINGS:
        summed, raw = _both(db, period, by, now, options)
        assert summed == raw, by


@pytest.mark.parametrize("now", [NOW, LATER])
def test_summary_given_the_hand_checked_data_equals_the_raw_report_for_every_grouping(
        seeded: tuple[Database, Any], now: datetime) -> None:
    db, _ = seeded
    assert _rebuild(db) == 11  # 2026-11-09 (O6's day) to 2026-11-19, the day before NOW
    # at NOW O7 (paid on the 10th, not sent) is still due: the 10th is read raw, the 11th summed; later both
    assert _clean(db, now=now) == ({date(2026, 11, 9), date(2026, 11, 11), date(2026, 11, 12)} if now == NOW
                                   else {date(2026, 11, 9), date(2026, 11, 10), date(2026, 11, 11),
                                         date(2026, 11, 12)})
    _assert_same(db, WIDE, now)
    _assert_same(db, PERIOD, now)
    # the live parcel figures follow the report's own thresholds
    _assert_same(db, PERIOD, now, ReportOptions(RATES, ("pdd",), Thresholds(stall_hours=80, no_pickup_hours=720)))


def test_summary_given_the_hand_checked_data_keeps_the_hand_checked_figures(seeded: tuple[Database, Any]) -> None:
    db, _ = seeded
    _rebuild(db)
    report = build_report(db.engine, PERIOD, "shop", OPTIONS, LATER)
    speed, parcels, money = report.totals
    assert speed.paid_to_sent is not None and speed.paid_to_sent.count == 7
    assert (speed.on_time, speed.late, speed.pending) == (3, 2, 0)  # O7's ship-by time has passed: late
    assert (parcels.parcels, parcels.stalled, parcels.never_picked_up, parcels.returned) == (5, 1, 1, 1)
    assert (money.orders, money.revenue_fen, money.cost_fen, money.missing_cost) == (5, 7000, 7400, 1)


def test_summary_given_other_commission_rates_is_not_used(seeded: tuple[Database, Any]) -> None:
    db, _ = seeded
    _rebuild(db)
    other = ReportOptions({"dy": 800}, ("pdd",))
    with db.engine.connect() as c:
        assert summary.clean_days(c, WIDE, summary.basis(clock.SHANGHAI, other.commission_bp), LATER) == set()
    _assert_same(db, WIDE, LATER, other)
    # the next roll-up recomputes the days with the rates it is given
    summary.roll_up(db.engine, clock.SHANGHAI, other.commission_bp, NOW, max_days=None)
    with db.engine.connect() as c:
        assert len(summary.clean_days(c, WIDE, summary.basis(clock.SHANGHAI, other.commission_bp), LATER)) == 4


def _seed_history(db: Database) -> Period:
    """A few thousand seeded orders over 20 days, then troubles: parcels stalled, never picked up or not uploaded,
    costs known and unknown, refunds."""
    from syncd.bench_seed import seed_orders

    seed_orders(db, 2500, days=20, now=datetime(2026, 11, 30, tzinfo=UTC), chunk=1000)
    with db.begin() as s:
        s.execute(update(SupplierOrder).values(cost_fen=1000 + SupplierOrder.id % 500))
        s.execute(update(SupplierOrder).where(SupplierOrder.id % 13 == 0).values(cost_fen=None))
        s.execute(update(Shipment).where(Shipment.id % 7 == 0).values(
            logistics_state="in_transit", delivered_at=None, last_event_at=Shipment.picked_up_at))
        s.execute(update(Shipment).where(Shipment.id % 11 == 0).values(
            logistics_state="none", picked_up_at=None, delivered_at=None, last_event_at=None))
        s.execute(update(Shipment).where(Shipment.id % 5 == 0).values(uploaded_at=None))
        s.execute(update(Order).where(Order.id % 17 == 0).values(refund_state="refunded"))
        s.execute(update(OrderLine).where(OrderLine.id % 19 == 0).values(refund_state="refunded"))
    return Period(date(2026, 11, 8), date(2026, 11, 30))


def test_summary_given_a_seeded_history_equals_the_raw_report_for_every_grouping(db: Database) -> None:
    period = _seed_history(db)
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    options = ReportOptions({"douyin-demo": 500, "pdd-demo": 300}, ("taobao-demo",))
    assert summary.rebuild(db.engine, clock.SHANGHAI, options.commission_bp, now) >= 17
    with db.engine.connect() as c:
        assert len(summary.clean_days(c, period, summary.basis(clock.SHANGHAI, options.commission_bp), now)) >= 17
    _assert_same(db, period, now, options)
    _assert_same(db, Period(date(2026, 11, 15), date(2026, 11, 16)), now, options)


# ---- writes to an old day after its roll-up: each write path marks the day (the triggers) ----------------------

def _after_write(db: Database, write: Any) -> None:
    """Roll up, write, and check the report moved exactly as the raw one; then roll up again."""
    _rebuild(db)
    before = build_report(db.engine, WIDE, "shop", OPTIONS, LATER)
    with db.begin() as s:
        write(s)
    assert date(2026, 11, 10) not in _clean(db, now=LATER)
    _assert_same(db, WIDE, LATER)
    assert build_report(db.engine, WIDE, "shop", OPTIONS, LATER) != before
    assert summary.roll_up(db.engine, clock.SHANGHAI, RATES, NOW) == 1  # that day only
    assert date(2026, 11, 10) in _clean(db, now=LATER)
    _assert_same(db, WIDE, LATER)


def test_summary_given_a_refund_on_an_old_day_follows_the_raw_report(seeded: tuple[Database, Any]) -> None:
    db, ids = seeded

    def refund(s: Any) -> None:
        s.execute(update(Order).where(Order.id == ids["o1"]).values(refund_state="refunded"))

    _after_write(db, refund)


def test_summary_given_a_line_refund_on_an_old_day_follows_the_raw_report(seeded: tuple[Database, Any]) -> None:
    db, ids = seeded

    def refund_line(s: Any) -> None:
        s.execute(update(OrderLine).where(OrderLine.order_id == ids["o2"], OrderLine.merchant_sku == "SKU-B")
                  .values(refund_state="refunded"))

    _after_write(db, refund_line)


def test_summary_given_a_late_delivery_scan_follows_the_raw_report(seeded: tuple[Database, Any]) -> None:
    db, ids = seeded

    def delivered(s: Any) -> None:  # O2's stalled yto parcel is delivered at last
        s.execute(update(Shipment).where(Shipment.order_id == ids["o2"], Shipment.carrier == "yto").values(
            logistics_state="delivered", delivered_at=NOW - timedelta(hours=1)))

    _after_write(db, delivered)


def test_summary_given_a_cost_arriving_follows_the_raw_report(seeded: tuple[Database, Any]) -> None:
    db, ids = seeded

    def cost(s: Any) -> None:  # the 1688 amount of O2's ali order arrives, different from the configured one
        s.execute(update(SupplierOrder).where(SupplierOrder.order_id == ids["o2"], SupplierOrder.supplier_id == "ali")
                  .values(cost_fen=2750))

    _after_write(db, cost)


def test_summary_given_a_reship_follows_the_raw_report(seeded: tuple[Database, Any]) -> None:
    db, ids = seeded

    def reship(s: Any) -> None:  # O1 sent again: a new supplier order and parcel on its old day
        so = s.execute(insert(SupplierOrder).values(
            order_id=ids["o1"], supplier_id="gz", idempotency_key="reship-1", kind="reship", lines=[],
            state="shipped", placed_at=at(12, 2), cost_fen=1200, created_at=NOW, updated_at=NOW)
            .returning(SupplierOrder.id)).scalar_one()
        s.execute(insert(Shipment).values(
            order_id=ids["o1"], supplier_order_id=so, carrier="sf", tracking_no="R1", writeback_state="pending",
            handed_over_at=at(12, 5), logistics_state="none", province="广东省", created_at=at(12, 5)))

    _after_write(db, reship)


def test_summary_given_a_new_order_paid_on_an_old_day_follows_the_raw_report(db: Database) -> None:
    from tests.reports.data import seed

    seed(db)

    def late_pull(s: Any) -> None:  # an order of the 10th pulled only now
        s.execute(insert(Order).values(
            shop_id="dy", platform_order_id="LATE", platform_status="x", status="paid", ready_to_ship=True,
            refund_state="none", payment_mode="prepaid", paid_at=at(10, 9), ship_by=at(11, 9),
            platform_updated_at=NOW, receiver={}, shipped_tracking=[], raw={}, state="routed",
            first_seen_at=NOW, updated_at=NOW))

    _after_write(db, late_pull)


def test_summary_given_an_order_moved_to_another_day_marks_both_days(seeded: tuple[Database, Any]) -> None:
    db, ids = seeded
    _rebuild(db)
    with db.begin() as s:  # a corrected payment time: O1 from the 10th to the 11th
        s.execute(update(Order).where(Order.id == ids["o1"]).values(paid_at=at(11, 2)))
    assert _clean(db, now=LATER) == {date(2026, 11, 9), date(2026, 11, 12)}
    _assert_same(db, WIDE, LATER)


def test_marks_given_a_column_no_figure_reads_leave_the_day_clean(seeded: tuple[Database, Any]) -> None:
    db, ids = seeded
    _rebuild(db)
    with db.begin() as s:  # the daemon's bookkeeping: claims, check times
        s.execute(update(Shipment).where(Shipment.order_id == ids["o1"]).values(next_check_at=NOW))
        s.execute(update(Order).where(Order.id == ids["o1"]).values(updated_at=NOW))
    with db.engine.connect() as c:
        assert c.scalar(select(func.count()).select_from(ReportStale)) == 0


# ---- the roll-up job ---------------------------------------------------------------------------------------------

def test_roll_up_recomputes_at_most_its_bound_newest_first(seeded: tuple[Database, Any]) -> None:
    db, _ = seeded
    with db.engine.connect() as c:  # the data set's own writes are marked
        assert c.scalar(select(func.count()).select_from(ReportStale)) > 0
    # the days never rolled up, from the first payment (the 9th) to yesterday (the 19th), a few a run
    assert summary.roll_up(db.engine, clock.SHANGHAI, RATES, NOW, max_days=2) == 2
    with db.engine.connect() as c:
        assert set(c.scalars(select(ReportDay.day).where(ReportDay.clean.is_(True)))) == {"2026-11-18", "2026-11-19"}
    assert _clean(db, now=LATER) == set()
    _assert_same(db, WIDE, LATER)
    runs = [summary.roll_up(db.engine, clock.SHANGHAI, RATES, NOW, max_days=2) for _ in range(5)]
    assert runs == [2, 2, 2, 2, 1]
    assert _clean(db, now=LATER) == {date(2026, 11, 9), date(2026, 11, 10), date(2026, 11, 11), date(2026, 11, 12)}
    assert summary.roll_up(db.engine, clock.SHANGHAI, RATES, NOW, max_days=2) == 0
    _assert_same(db, WIDE, LATER)


def test_roll_up_leaves_today_to_the_raw_queries(seeded: tuple[Database, Any]) -> None:
    db, _ = seeded
    # at Beijing 04:00 on the 10th: only the 9th is over
    assert summary.roll_up(db.engine, clock.SHANGHAI, RATES, at(9, 20), max_days=None) == 1
    assert _clean(db, now=LATER) == {date(2026, 11, 9)}


def _refund_after_roll_up(db: Database, order_id: int) -> None:
    _rebuild(db)
    with db.begin() as s:
        s.execute(update(Order).where(Order.id == order_id).values(refund_state="refunded"))


def test_roll_up_crashing_mid_day_leaves_it_stale_not_half_written(seeded: tuple[Database, Any],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    db, ids = seeded
    _refund_after_roll_up(db, ids["o1"])
    with db.engine.connect() as c:
        rows_before = c.scalar(select(func.count()).select_from(ReportSummary)
                               .where(ReportSummary.day == "2026-11-10"))
    real_basis, real_due = summary.basis, summary.due_until
    computed = []

    def due(conn: Any, period: Period) -> Any:  # the day's raw read is done: its write comes next
        computed.append(period)
        return real_due(conn, period)

    def crash(*args: Any) -> str:  # called last in the day's write, after its rows went in
        if computed:
            raise RuntimeError("killed")
        return real_basis(*args)

    monkeypatch.setattr(summary, "due_until", due)
    monkeypatch.setattr(summary, "basis", crash)
    with pytest.raises(RuntimeError):
        summary.roll_up(db.engine, clock.SHANGHAI, RATES, NOW)
    monkeypatch.setattr(summary, "basis", real_basis)
    with db.engine.connect() as c:
        assert c.scalar(select(ReportDay.clean).where(ReportDay.day == "2026-11-10")) is False
        assert c.scalar(select(func.count()).select_from(ReportSummary)
                        .where(ReportSummary.day == "2026-11-10")) == rows_before
    assert date(2026, 11, 10) not in _clean(db, now=LATER)
    _assert_same(db, WIDE, LATER)
    assert summary.roll_up(db.engine, clock.SHANGHAI, RATES, NOW) == 1
    _assert_same(db, WIDE, LATER)


def test_roll_up_given_a_write_while_it_computes_keeps_the_day_stale(seeded: tuple[Database, Any],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    db, ids = seeded
    _refund_after_roll_up(db, ids["o1"])
    real = summary.due_until

    def write_meanwhile(conn: Any, period: Period) -> Any:  # the daemon writes after the raw read
        out = real(conn, period)
        with db.begin() as s:
            s.execute(update(Order).where(Order.id == ids["o2"]).values(state="cancelled"))
        return out

    monkeypatch.setattr(summary, "due_until", write_meanwhile)
    summary.roll_up(db.engine, clock.SHANGHAI, RATES, NOW)
    monkeypatch.setattr(summary, "due_until", real)
    assert date(2026, 11, 10) not in _clean(db, now=LATER)
    _assert_same(db, WIDE, LATER)


def test_run_job_rolls_up_and_never_raises(seeded: tuple[Database, Any], caplog: pytest.LogCaptureFixture) -> None:
    db, _ = seeded
    config = SimpleNamespace(global_=SimpleNamespace(timezone="Asia/Shanghai"),
                             shops={"dy": SimpleNamespace(commission_percent=5),
                                    "pdd": SimpleNamespace(commission_percent=None)},
                             alerts=SimpleNamespace(stalled_in_transit_hours=48))
    rt = SimpleNamespace(stop=threading.Event(), config=config, db=db)
    summary.run_job(rt)
    with db.engine.connect() as c:
        assert c.scalar(select(func.count()).select_from(ReportDay).where(ReportDay.clean.is_(True))) > 0
    rt.db = SimpleNamespace(engine=None)  # a broken database: logged, not raised
    summary.run_job(rt)
    assert "roll-up failed" in caplog.text or "汇总" in caplog.text


def test_migration_creates_the_marking_triggers(db: Database) -> None:
    with db.engine.connect() as c:
        if db.is_sqlite:
            names = set(c.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")))
        else:
            names = set(c.scalars(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")))
    assert {n for n in names if n.startswith("report_stale_")} >= {
        f"report_stale_{t}_update" for t in ("orders", "order_lines", "supplier_orders", "shipments")}


def test_clean_days_given_no_summary_is_empty_and_the_report_raw(seeded: tuple[Database, Any]) -> None:
    db, _ = seeded
    assert _clean(db, now=LATER) == set()
    _assert_same(db, WIDE, LATER)


def test_seeder_marks_when_it_writes(db: Database) -> None:
    Seeder(db).order("dy", at(10, 2), [("SKU-A", 1, 1000, "none")], ship_by=None)
    with db.engine.connect() as c:
        assert c.scalar(select(func.count()).select_from(ReportStale)) >= 2  # the order and its line

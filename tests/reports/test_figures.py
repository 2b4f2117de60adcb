"""Every report figure over the hand-checked data set of tests/reports/data.py (SQLite, and PostgreSQL when
SYNCD_TEST_POSTGRES_URL is set). The expected values are worked out by hand in the comments."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from syncd.reports import Distribution, build_report, logistics, margin, provinces, speed
from syncd.store.db import Database
from syncd.store.models import Shop
from tests.reports.data import NOW, OPTIONS, PERIOD, Seeder, at

H = 3600


def _speed(db: Database, by: str | None) -> dict[str, Any]:
    with db.engine.connect() as c:
        return {r.key: r for r in speed(c, PERIOD, by, NOW)}


def test_paid_to_sent_counts_supplier_orders_of_the_period_only(seeded: tuple[Database, Any]) -> None:
    db, _ = seeded
    total = _speed(db, None)[""]
    # minutes 30 (O4), 60 (O1, O3, O5, O10), 120 (O2 gz), 180 (O2 ali); O6/O9 outside, O7 not sent
    assert total.paid_to_sent == Distribution(7, 60 * 60, 144 * 60, 3 * H)


def test_parcel_steps_over_the_period(seeded: tuple[Database, Any]) -> None:
    db, _ = seeded
    total = _speed(db, None)[""]
    # sent → handed over: 3.5 h (O4), 4 (O1), 8 (O2 gz), 17 (O2 ali), 29 (O5): p90 = 17 + 0.6 × 12
    assert total.sent_to_shipped == Distribution(5, 8 * H, 87120, 29 * H)
    # handed over → uploaded: 1, 1, 1, 20, 30 h
    assert total.shipped_to_uploaded == Distribution(5, 1 * H, 26 * H, 30 * H)
    # handed over → first scan: 2 (O2 gz), 2 (O4), 3 (O1), 22 (O5); the sto parcel has none
    assert total.shipped_to_first_scan == Distribution(4, 9000, 58680, 22 * H)
    assert total.first_scan_to_delivered == Distribution(1, 48 * H, 48 * H, 48 * H)


def test_on_time_judges_the_first_upload_against_ship_by(seeded: tuple[Database, Any]) -> None:
    db, _ = seeded
    total = _speed(db, None)[""]
    # O1, O2 (its first parcel), O4 on time; O5 late; O7 pending; O3 refunded and O8 cancelled: not judged
    assert (total.on_time, total.late, total.pending) == (3, 1, 1)
    assert total.on_time_share == 0.75


def test_speed_by_supplier_splits_a_split_order(seeded: tuple[Database, Any]) -> None:
    db, _ = seeded
    rows = _speed(db, "supplier")
    assert set(rows) == {"gz", "ali"}
    # 30, 60, 60, 120 min: p90 = 60 + 0.7 × 60
    assert rows["gz"].paid_to_sent == Distribution(4, 60 * 60, 102 * 60, 2 * H)
    assert rows["ali"].paid_to_sent == Distribution(3, 60 * 60, 156 * 60, 3 * H)  # 60, 60, 180 min
    assert (rows["gz"].on_time, rows["gz"].late) == (3, 1)  # O1, O2, O4; O5 (O7's supplier order is pending)
    assert (rows["ali"].on_time, rows["ali"].late) == (1, 0)  # O2; O3 refunded, O10 without ship-by


def test_speed_by_carrier_has_no_supplier_order_step(seeded: tuple[Database, Any]) -> None:
    db, _ = seeded
    rows = _speed(db, "carrier")
    assert set(rows) == {"yto", "sto", "zto"}
    assert rows["yto"].paid_to_sent is None
    assert rows["yto"].shipped_to_uploaded == Distribution(3, 1 * H, 58320, 20 * H)  # 1, 1, 20 h
    assert (rows["sto"].on_time, rows["yto"].on_time, rows["yto"].late) == (1, 2, 1)


def test_speed_by_day_uses_the_beijing_day_of_payment(seeded: tuple[Database, Any]) -> None:
    db, _ = seeded
    rows = _speed(db, "day")
    assert set(rows) == {"2026-11-10", "2026-11-11"}
    assert rows["2026-11-10"].paid_to_sent.count == 3  # O1, O2 ×2 (O7, paid at Beijing 00:00, not sent yet)
    assert rows["2026-11-10"].pending == 1  # O7 belongs to the 10th
    assert rows["2026-11-11"].paid_to_sent.count == 4  # O3, O4, O5, O10


def test_speed_by_sku_counts_an_order_once_per_sku(seeded: tuple[Database, Any]) -> None:
    db, _ = seeded
    rows = _speed(db, "sku")
    assert rows["SKU-A"].paid_to_sent.count == 5  # O1, O2 ×2, O4, O5
    assert rows["SKU-C"].paid_to_sent.count == 1
    assert (rows["SKU-A"].on_time, rows["SKU-A"].late, rows["SKU-A"].pending) == (3, 1, 1)


def test_logistics_counts_each_trouble(seeded: tuple[Database, Any]) -> None:
    db, _ = seeded
    with db.engine.connect() as c:
        total = logistics(c, PERIOD, None, NOW)[0]
        by_carrier = {r.key: r for r in logistics(c, PERIOD, "carrier", NOW)}
    assert (total.parcels, total.delivered, total.stalled, total.never_picked_up, total.returned, total.refused) == (
        5, 1, 1, 1, 1, 1)
    assert total.delivery_days == Distribution(1, 51 * H, 51 * H, 51 * H)
    yto = by_carrier["yto"]
    assert (yto.parcels, yto.delivered, yto.stalled, yto.returned, yto.share(yto.stalled)) == (3, 1, 1, 1, 1 / 3)
    assert (by_carrier["sto"].never_picked_up, by_carrier["zto"].refused) == (1, 1)


def test_logistics_stall_threshold_counts_only_quiet_parcels(seeded: tuple[Database, Any]) -> None:
    db, _ = seeded
    from syncd.reports import Thresholds

    with db.engine.connect() as c:
        # the stalled yto parcel was last scanned 72 h before now; the sto one handed over 8 days ago
        lenient = logistics(c, PERIOD, None, NOW, Thresholds(stall_hours=80, no_pickup_hours=24 * 30))[0]
    assert (lenient.stalled, lenient.never_picked_up) == (0, 0)


def test_provinces_from_the_parcels(seeded: tuple[Database, Any]) -> None:
    db, _ = seeded
    with db.engine.connect() as c:
        rows = {r.province: r for r in provinces(c, PERIOD, NOW)}
    assert {p: (r.parcels, r.delivered) for p, r in rows.items()} == {"广东省": (2, 1), "浙江省": (2, 0), "": (1, 0)}
    assert rows["广东省"].delivery_days.median == 51 * H


def _margin(db: Database, by: str | None) -> dict[str, Any]:
    with db.engine.connect() as c:
        return {r.key: r for r in margin(c, PERIOD, by, OPTIONS.commission_bp)}


def _money(r: Any) -> tuple[int, ...]:
    return (r.orders, r.revenue_fen, r.commission_fen, r.cost_fen, r.margin_fen, r.missing_cost, r.refunded,
            r.refund_loss_fen)


def test_margin_total(seeded: tuple[Database, Any]) -> None:
    db, _ = seeded
    # O1 2000 − 100 − 1200; O2 4000 − 200 − 3100; O3 (refunded) 0 − 0 − 2500; O5 1000 − 50 − 600; O4 cost
    # unknown: counted, no money; O7 not sent, O8 cancelled, O10 not paid at 1688: not in it
    assert _money(_margin(db, None)[""]) == (5, 7000, 350, 7400, -750, 1, 1, 2500)


def test_margin_by_shop_applies_each_shops_commission(seeded: tuple[Database, Any]) -> None:
    db, _ = seeded
    rows = _margin(db, "shop")
    assert _money(rows["dy"]) == (3, 7000, 350, 4900, 1750, 0, 0, 0)
    assert _money(rows["pdd"]) == (2, 0, 0, 2500, -2500, 1, 1, 2500)


def test_margin_by_supplier_shares_a_split_orders_revenue(seeded: tuple[Database, Any]) -> None:
    db, _ = seeded
    rows = _margin(db, "supplier")
    # gz: O1 2000, half of O2 2000, O5 1000; O4 unknown
    assert _money(rows["gz"]) == (4, 5000, 250, 2400, 2350, 1, 0, 0)
    # ali: half of O2 2000, O3 refunded (its cost a loss); O10 unpaid at 1688 is left out
    assert _money(rows["ali"]) == (2, 2000, 100, 5000, -3100, 0, 1, 2500)


def test_margin_by_sku_shares_an_orders_cost_by_line_amount(seeded: tuple[Database, Any]) -> None:
    db, _ = seeded
    rows = _margin(db, "sku")
    # O2's cost 3100 over its lines 1000 : 3000 → 775 and 2325
    assert _money(rows["SKU-A"]) == (4, 4000, 200, 2575, 1225, 1, 0, 0)
    assert _money(rows["SKU-B"]) == (2, 3000, 150, 4825, -1975, 0, 1, 2500)
    assert _money(rows["SKU-C"]) == (1, 0, 0, 0, 0, 1, 0, 0)


def test_margin_by_day_and_none_by_carrier(seeded: tuple[Database, Any]) -> None:
    db, _ = seeded
    rows = _margin(db, "day")
    assert _money(rows["2026-11-10"]) == (2, 6000, 300, 4300, 1400, 0, 0, 0)
    assert _money(rows["2026-11-11"]) == (3, 1000, 50, 3100, -2150, 1, 1, 2500)
    assert _margin(db, "carrier") == {}


@pytest.mark.parametrize("by", ["shop", "supplier", "sku", "carrier", "day"])
def test_build_report_every_grouping_has_the_same_totals(seeded: tuple[Database, Any], by: str) -> None:
    db, _ = seeded
    report = build_report(db.engine, PERIOD, by, OPTIONS, now=NOW)
    speed_total, parcels_total, money_total = report.totals
    assert speed_total.paid_to_sent is not None and speed_total.paid_to_sent.count == 7
    assert parcels_total.parcels == 5
    assert money_total.margin_fen == -750
    assert report.shops_without_commission == ["pdd"]
    assert report.speed and report.logistics
    with db.engine.connect() as c:  # the totals added up from the groups equal the totals read on their own
        assert report.totals == (speed(c, PERIOD, None, NOW)[0], logistics(c, PERIOD, None, NOW)[0],
                                 margin(c, PERIOD, None, OPTIONS.commission_bp)[0])
        assert report.provinces == provinces(c, PERIOD, NOW)
        assert [r.key for r in report.logistics] == [r.key for r in logistics(c, PERIOD, by, NOW)]


def test_build_report_refuses_an_unknown_grouping(seeded: tuple[Database, Any]) -> None:
    db, _ = seeded
    with pytest.raises(ValueError, match="unknown grouping 'colour'"):
        build_report(db.engine, PERIOD, "colour", OPTIONS, now=NOW)


def test_bench_times_every_grouping_of_a_month(seeded: tuple[Database, Any]) -> None:
    from syncd.reports.bench import main, month, orders_in, time_month

    db, _ = seeded
    november = month(2026, 11)
    assert (november.first.isoformat(), november.last.isoformat()) == ("2026-11-01", "2026-11-30")
    assert orders_in(db.engine, november) == 10  # O1–O10: every order of the data set was paid in November
    assert set(time_month(db.engine, november, options=OPTIONS, now=NOW)) == {"shop", "supplier", "sku", "carrier",
                                                                            "day"}
    assert main(["only-one-argument"]) == 2


def test_a_first_scan_recorded_before_the_hand_over_counts_as_no_time_not_as_negative(db: Database) -> None:
    # a supplier that states when it entered the tracking number, not when it handed the parcel over, makes the
    # carrier's first scan come "before" the hand-over: the step took no time, it did not take minus two hours
    with db.begin() as s:
        s.add(Shop(id="dy", platform="douyin", updated_at=NOW))
    sd = Seeder(db)
    oid = sd.order("dy", at(10, 2), [("A", 1, 1000, "none")], ship_by=timedelta(hours=48))
    so = sd.supplier_order(oid, "gz", at(10, 3), cost=500)
    sd.parcel(oid, so, "zto", handed=at(10, 8), picked=at(10, 6), state="in_transit")
    total = _speed(db, None)[""]
    assert total.shipped_to_first_scan == Distribution(1, 0, 0, 0)

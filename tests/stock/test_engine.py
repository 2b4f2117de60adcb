"""The stock pass against in-memory storefronts: what is written, when, in which batches, and what a failure,
a refusal, a floor or a crash leaves behind."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from syncd.errors import AuthError, ProtocolError, TransientError
from syncd.stock import catalog, engine, guard, intake
from syncd.stockmodel import StockWriteResult, SupplierStock
from syncd.store.db import Database
from syncd.store.models import StockMargin, StockSupplier, StockWritten
from tests.stock.rig import FakeFront, FakeSource, Rig, routes, sku

BASIC = routes({"sku": "M-1", "supplier": "api", "supplier_sku": "A1"},
               {"sku": "M-2", "supplier": "api", "supplier_sku": "A2", "multiplier": 2},
               {"sku": "M-3", "supplier": "api", "supplier_sku": "A3"})


@pytest.fixture
def rig(db: Database) -> Rig:
    r = Rig(db, dict(BASIC))
    r.add_supplier("api", FakeSource({"A1": (10, 1000), "A2": (9, 1000), "A3": (0, 1000)}))
    front = FakeFront([sku("M-1", 1), sku("M-2", 2), sku("M-3", 3), sku("UNROUTED", 4), sku("M-1", 5, on_sale=False)])
    r.add_shop("shop", front)
    catalog.sync_shop(r, "shop", front)
    return r


def front(r: Rig, shop: str = "shop") -> FakeFront:
    f: FakeFront = r.storefronts[shop]
    return f


def source(r: Rig, supplier: str = "api") -> FakeSource:
    s: FakeSource = r.api_suppliers[supplier]
    return s


def written(r: Rig) -> dict[str, StockWritten]:
    with r.db.read() as s:
        return {w.sku_id: w for w in s.scalars(select(StockWritten))}


def test_first_pass_writes_every_routed_listing_on_sale_in_one_call(rig: Rig) -> None:
    report = engine.run_pass(rig)

    assert sorted(front(rig).written) == [("S1", 10), ("S2", 4), ("S3", 0)]
    assert len(front(rig).calls) == 1
    assert report.written == 3 and report.calls == 1
    assert {k: (w.value, w.pending) for k, w in written(rig).items()} == {
        "S1": (10, None), "S2": (4, None), "S3": (0, None)}


def test_a_second_pass_with_nothing_changed_writes_nothing(rig: Rig) -> None:
    engine.run_pass(rig)
    front(rig).calls.clear()

    report = engine.run_pass(rig)

    assert front(rig).calls == []
    assert report.unchanged == 3


def test_only_the_sku_whose_figure_changed_is_written(rig: Rig) -> None:
    engine.run_pass(rig)
    front(rig).calls.clear()
    source(rig).figures["A1"] = (7, 1000)

    engine.run_pass(rig)

    assert front(rig).written == [("S1", 7)]


def test_full_batches_up_to_the_platform_limit(db: Database) -> None:
    r = Rig(db, routes(*[{"sku": f"M-{i}", "supplier": "api", "supplier_sku": f"A{i}"} for i in range(120)]))
    r.add_supplier("api", FakeSource({f"A{i}": (i, None) for i in range(120)}))
    f = r.add_shop("shop", FakeFront([sku(f"M-{i}", i) for i in range(120)], limit=50))
    catalog.sync_shop(r, "shop", f)

    engine.run_pass(r)

    assert [len(c) for c in f.calls] == [50, 50, 20]


def test_a_platform_writing_one_product_a_call_gets_batches_per_product(db: Database) -> None:
    r = Rig(db, routes(*[{"sku": f"M-{i}", "supplier": "api", "supplier_sku": f"A{i}"} for i in range(30)]))
    r.add_supplier("api", FakeSource({f"A{i}": (i, None) for i in range(30)}))
    listing = [sku(f"M-{i}", i, product="P-A" if i < 25 else "P-B") for i in range(30)]
    f = r.add_shop("shop", FakeFront(listing, limit=20, within_product=True))
    catalog.sync_shop(r, "shop", f)

    engine.run_pass(r)

    assert sorted(len(c) for c in f.calls) == [5, 5, 20]  # P-A: 20 + 5, P-B: 5 (FakeFront asserts one product)


def test_a_supplier_at_zero_pushed_takes_its_listings_to_zero_at_once(rig: Rig) -> None:
    engine.run_pass(rig)
    front(rig).calls.clear()
    with rig.db.begin() as s:
        intake.record(s, "api", [SupplierStock("A1", 0)], intake.PUSH)

    report = engine.due_pass(rig)

    assert front(rig).written == [("S1", 0)]
    assert source(rig).reads == [["A1", "A2", "A3"]]  # the first pass only: the due pass reads nothing
    assert report.written == 1
    with rig.db.read() as s:
        assert s.scalars(select(StockSupplier).where(StockSupplier.due.is_(True))).all() == []
    front(rig).calls.clear()
    assert engine.due_pass(rig).plans == [] and front(rig).calls == []


def test_a_retryable_failure_keeps_the_intent_and_is_sent_again_next_pass(rig: Rig) -> None:
    front(rig).answers.append(lambda ws: [StockWriteResult(w.sku_id, ok=w.sku_id != "S2", code="2010401",
                                                           retryable=w.sku_id == "S2") for w in ws])
    report = engine.run_pass(rig)
    assert report.failed == 1
    row = written(rig)["S2"]
    assert (row.value, row.pending, row.error_code, row.attempts) == (None, 4, "2010401", 1)
    front(rig).calls.clear()

    engine.run_pass(rig)

    assert front(rig).written == [("S2", 4)]
    assert (written(rig)["S2"].value, written(rig)["S2"].pending) == (4, None)


def test_a_refusal_for_good_is_recorded_and_not_sent_again(rig: Rig) -> None:
    front(rig).answers.append(lambda ws: [StockWriteResult(w.sku_id, ok=w.sku_id != "S1", code="-40001",
                                                           message="商品审核中") for w in ws])
    report = engine.run_pass(rig)
    assert report.refused == 1
    row = written(rig)["S1"]
    assert (row.refused, row.pending, row.error_code, row.last_error) == (10, None, "-40001", "商品审核中")
    front(rig).calls.clear()

    assert engine.run_pass(rig).refused_kept == 1
    assert front(rig).calls == []
    catalog.sync_shop(rig, "shop", front(rig))  # a new catalogue: tried once more, not in a loop
    engine.run_pass(rig)
    assert front(rig).written == [("S1", 10)]


def test_a_refusal_naming_the_platforms_floor_makes_the_next_pass_write_the_floor(rig: Rig) -> None:
    front(rig).answers.append(lambda ws: [StockWriteResult(w.sku_id, ok=w.sku_id != "S3", code="-20008",
                                                           floor=6) for w in ws])
    engine.run_pass(rig)
    front(rig).calls.clear()

    engine.run_pass(rig)

    assert front(rig).written == [("S3", 6)]
    row = written(rig)["S3"]
    assert (row.value, row.floor, row.error_code) == (6, 6, "floor")
    assert "held at 6" in (row.last_error or "")


def test_the_listings_reserved_quantity_is_never_gone_below(db: Database) -> None:
    r = Rig(db, dict(BASIC))
    r.add_supplier("api", FakeSource({"A1": (0, None)}))
    f = r.add_shop("shop", FakeFront([sku("M-1", 1, reserved=3)]))
    catalog.sync_shop(r, "shop", f)

    engine.run_pass(r)

    assert f.written == [("S1", 3)]


def test_a_crash_in_the_middle_of_a_pass_resends_the_unfinished_batch_only(db: Database) -> None:
    many = routes(*[{"sku": f"M-{i}", "supplier": "api", "supplier_sku": f"A{i}"} for i in range(6)])
    listing = [sku(f"M-{i}", i) for i in range(6)]
    first = Rig(db, many)
    first.add_supplier("api", FakeSource({f"A{i}": (10 + i, None) for i in range(6)}))
    f1 = first.add_shop("shop", FakeFront(listing, limit=2))
    catalog.sync_shop(first, "shop", f1)
    f1.answers += [lambda ws: [StockWriteResult(w.sku_id, ok=True) for w in ws], KeyboardInterrupt()]

    with pytest.raises(KeyboardInterrupt):  # the process dies during the second call
        engine.run_pass(first)

    assert [len(c) for c in f1.calls] == [2, 2]
    after_crash = written(first)
    # S0, S1 confirmed; S2, S3 in the call the crash cut; S4, S5's intent recorded with theirs, never sent
    assert {k for k, w in after_crash.items() if w.pending is not None} == {"S2", "S3", "S4", "S5"}
    assert {k for k, w in after_crash.items() if w.value is not None} == {"S0", "S1"}
    # the restarted daemon: a new adapter, the same database
    second = Rig(db, many)
    second.add_supplier("api", FakeSource({f"A{i}": (10 + i, None) for i in range(6)}))
    f2 = second.add_shop("shop", FakeFront(listing, limit=2))

    engine.run_pass(second)

    assert sorted(f2.written) == [("S2", 12), ("S3", 13), ("S4", 14), ("S5", 15)]  # S0, S1 not again
    assert all(w.pending is None and w.value == 10 + int(k[1:]) for k, w in written(second).items())


def test_a_whole_call_that_fails_transiently_keeps_the_intents(rig: Rig) -> None:
    front(rig).answers.append(TransientError("system busy"))

    report = engine.run_pass(rig)

    assert report.failed == 3 and "busy" in report.shop_errors["shop"]
    assert all(w.pending is not None and w.value is None for w in written(rig).values())
    engine.run_pass(rig)
    assert all(w.pending is None and w.value is not None for w in written(rig).values())


def test_an_authorisation_failure_stops_that_shop_and_the_others_go_on(rig: Rig) -> None:
    other = rig.add_shop("other", FakeFront([sku("M-1", 71)]))
    catalog.sync_shop(rig, "other", other)
    front(rig).answers.append(AuthError("token revoked"))

    report = engine.run_pass(rig)

    assert "token revoked" in report.shop_errors["shop"]
    assert {w.error_code for k, w in written(rig).items() if k != "S71"} == {"auth"}
    assert other.written == [("S71", 10)]


def test_an_answer_that_does_not_mention_a_sku_keeps_its_intent(rig: Rig) -> None:
    front(rig).answers.append(lambda ws: [StockWriteResult(w.sku_id, ok=True) for w in ws if w.sku_id != "S1"])

    report = engine.run_pass(rig)

    assert report.failed == 1 and report.written == 2
    row = written(rig)["S1"]
    assert (row.pending, row.value, row.error_code) == (10, None, "no-answer")


def test_an_unreadable_answer_to_the_whole_call_keeps_every_intent(rig: Rig) -> None:
    front(rig).answers.append(ProtocolError("answer is not JSON"))

    report = engine.run_pass(rig)

    assert report.failed == 3
    assert {(w.pending is not None, w.error_code) for w in written(rig).values()} == {(True, "transient")}


def test_a_sku_whose_supplier_was_never_read_is_not_written(rig: Rig) -> None:
    del source(rig).figures["A3"]

    report = engine.run_pass(rig)

    assert "S3" not in dict(front(rig).written)
    assert ("shop", "M-3") in report.unknown


def test_a_sku_the_supplier_no_longer_serves_counts_as_zero(rig: Rig) -> None:
    engine.run_pass(rig)
    front(rig).calls.clear()
    source(rig).failed["A1"] = "delisted"

    engine.run_pass(rig)

    assert front(rig).written == [("S1", 0)]


def test_a_failed_read_keeps_the_last_figures(rig: Rig) -> None:
    engine.run_pass(rig)
    front(rig).calls.clear()
    source(rig).error = TransientError("supplier down")

    report = engine.run_pass(rig)

    assert "supplier down" in report.read_errors["api"]
    assert front(rig).calls == []


def test_a_figure_older_than_stale_hours_counts_as_zero(db: Database) -> None:
    r = Rig(db, dict(BASIC))
    r.add_supplier("file", stale_hours=1)
    r.routes = {"M-1": r.routes["M-1"].model_copy(update={"supplier": "file"})}
    f = r.add_shop("shop", FakeFront([sku("M-1", 1)]))
    catalog.sync_shop(r, "shop", f)
    from datetime import timedelta

    from syncd import clock
    with r.db.begin() as s:
        intake.record(s, "file", [SupplierStock("A1", 50, observed_at=clock.now() - timedelta(hours=2))],
                      intake.FILE)

    engine.run_pass(r)

    assert f.written == [("S1", 0)]


def test_dry_run_writes_and_records_nothing(rig: Rig) -> None:
    report = engine.run_pass(rig, dry_run=True)

    assert len(report.plans) == 3
    assert front(rig).calls == [] and written(rig) == {}


def test_price_guard_alerts_without_touching_stock_unless_configured(db: Database) -> None:
    r = Rig(db, dict(BASIC))
    src = FakeSource({"A1": (10, 4000)})
    r.add_supplier("api", src)
    f = r.add_shop("shop", FakeFront([sku("M-1", 1, price=5000)]), min_margin=Decimal("15"))
    catalog.sync_shop(r, "shop", f)

    report = engine.run_pass(r)

    assert report.margin_low == [("shop", "M-1", 1000)]
    assert f.written == [("S1", 10)]
    with r.db.read() as s:
        m = s.get(StockMargin, ("shop", "M-1"))
        assert m is not None and (m.low, m.held, m.margin_fen, m.floor_fen) == (True, False, 1000, 1500)


def test_price_guard_holds_at_zero_until_released_and_again_on_a_further_rise(db: Database) -> None:
    r = Rig(db, dict(BASIC))
    src = FakeSource({"A1": (10, 3000)})
    r.add_supplier("api", src)
    f = r.add_shop("shop", FakeFront([sku("M-1", 1, price=5000)]), min_margin=Decimal("15"),
                   shipping=Decimal("2"), zero_on_low_margin=True)
    catalog.sync_shop(r, "shop", f)
    engine.run_pass(r)
    assert f.written == [("S1", 10)]  # margin 5000 - 3000 - 200 = 1800: fine

    src.figures["A1"] = (10, 3600)  # margin 1200 < 1500
    engine.run_pass(r)
    assert f.written[-1] == ("S1", 0)

    assert guard.release(r.db, "M-1", by="ops") == ["shop"]
    engine.run_pass(r)
    assert f.written[-1] == ("S1", 10)

    src.figures["A1"] = (10, 3700)  # dearer than the cost released
    engine.run_pass(r)
    assert f.written[-1] == ("S1", 0)


def test_a_push_during_a_long_pass_is_written_through_and_never_overwritten_by_the_older_plan(db: Database) -> None:
    many = routes(*[{"sku": f"M-{i}", "supplier": "api", "supplier_sku": f"A{i}"} for i in range(30)])
    r = Rig(db, many)
    r.add_supplier("api", FakeSource({f"A{i}": (10 + i, None) for i in range(30)}))
    f = r.add_shop("shop", FakeFront([sku(f"M-{i}", i, product=f"P{i:02d}") for i in range(30)], limit=1))
    catalog.sync_shop(r, "shop", f)

    def push_then_ok(ws: object) -> list[StockWriteResult]:  # the supplier pushes zeros during the first call
        with r.db.begin() as s:
            intake.record(s, "api", [SupplierStock("A5", 0), SupplierStock("A25", 0)], intake.PUSH)
        return [StockWriteResult(w.sku_id, ok=True) for w in ws]  # type: ignore[attr-defined]
    f.answers.append(push_then_ok)

    engine.run_pass(r)

    assert f.stock["S25"] == 0 and f.stock["S5"] == 0
    assert [v for k, v in f.written if k == "S25"] == [0]  # the planned 35 is never sent
    assert [v for k, v in f.written if k == "S5"] == [15, 0]  # sent in the group under way, then put right
    assert all(f.stock[f"S{i}"] == 10 + i for i in range(30) if i not in (5, 25))


def test_a_due_pass_that_fails_leaves_the_intent_for_the_next_pass_and_does_not_retry_every_few_seconds(
        rig: Rig) -> None:
    engine.run_pass(rig)
    source(rig).figures["A1"] = (0, 1000)  # the supplier's API agrees with its push
    with rig.db.begin() as s:
        intake.record(s, "api", [SupplierStock("A1", 0)], intake.PUSH)
    front(rig).calls.clear()
    front(rig).answers.append(TransientError("system busy"))

    engine.due_pass(rig)
    assert engine.due_pass(rig).plans == []  # no mark left: the due job does not hammer the shop

    assert written(rig)["S1"].pending == 0
    engine.run_pass(rig)
    assert front(rig).stock["S1"] == 0


def test_catalog_check_reports_unrouted_codes_per_shop_and_routes_sold_nowhere(db: Database) -> None:
    r = Rig(db, routes({"sku": "M-1", "supplier": "api", "supplier_sku": "A1"},
                       {"sku": "M-2", "supplier": "api", "supplier_sku": "A2"},
                       {"sku": "M-3", "supplier": "api", "supplier_sku": "A3"}))
    a = r.add_shop("a", FakeFront([sku("M-1", 1), sku("NEW", 2), sku("M-3", 3, on_sale=False)]))
    b = r.add_shop("b", FakeFront([sku("M-1", 11)]))
    assert [(f.shop_id, f.kind) for f in catalog.check(r)] == [("a", "never_synced"), ("b", "never_synced")]
    catalog.sync_shop(r, "a", a)
    catalog.sync_shop(r, "b", b)

    found = [(f.shop_id, f.kind, f.merchant_sku, f.detail) for f in catalog.check(r)]

    assert found == [("a", "unrouted", "NEW", "P0 item 2"),
                     ("*", "not_on_sale", "M-2", "not listed in any shop"),
                     ("*", "not_on_sale", "M-3", "listed in a, not on sale")]

"""The stock alerts (stock_margin_low, stock_write_refused) from what a pass recorded, and the stock metrics."""

from __future__ import annotations

from decimal import Decimal

from syncd import clock, i18n
from syncd.alerts.config import AlertsConfig
from syncd.alerts.facts import load_facts
from syncd.alerts.rules import evaluate
from syncd.domain import Severity
from syncd.metrics import stock_samples
from syncd.stock import catalog, engine
from syncd.stockmodel import StockWriteResult
from syncd.store.db import Database
from tests.stock.rig import FakeFront, FakeSource, Rig, routes, sku


def _rig(db: Database, *, zero: bool) -> Rig:
    r = Rig(db, routes({"sku": "M-1", "supplier": "api", "supplier_sku": "A1"},
                       {"sku": "M-2", "supplier": "api", "supplier_sku": "A2"}))
    r.add_supplier("api", FakeSource({"A1": (10, 4800), "A2": (0, 100)}))
    f = r.add_shop("shop", FakeFront([sku("M-1", 1, price=5000), sku("M-2", 2, price=5000)]),
                   min_margin=Decimal("3"), zero_on_low_margin=zero)
    catalog.sync_shop(r, "shop", f)
    return r


def _findings(r: Rig, language: str = "zh-CN") -> dict[str, list]:  # type: ignore[type-arg]
    facts = load_facts(r.db, AlertsConfig(), clock.now(), ship_within={}, shops=["shop"], suppliers=["api"],
                       channels=[], stock_shops=["shop"])
    with i18n.use(language):
        out: dict[str, list] = {}  # type: ignore[type-arg]
        for f in evaluate(facts, AlertsConfig(), {}, clock.now()):
            out.setdefault(f.rule, []).append(f)
        return out


def test_a_margin_below_the_floor_alerts_in_chinese_critical_when_held(db: Database) -> None:
    r = _rig(db, zero=True)
    engine.run_pass(r)

    found = _findings(r)["stock_margin_low"]

    assert [(f.subject, f.severity) for f in found] == [("stock:margin:shop:M-1", Severity.CRITICAL)]
    assert "毛利 2.00 元" in found[0].title and "低于下限 3.00 元" in found[0].title
    assert any("syncd stock release M-1" in line for line in found[0].lines)


def test_a_margin_below_the_floor_without_hold_is_a_warning(db: Database) -> None:
    r = _rig(db, zero=False)
    engine.run_pass(r)

    found = _findings(r, "en")["stock_margin_low"]

    assert [f.severity for f in found] == [Severity.WARNING]
    assert "Stock is not touched" in found[0].lines[1]


def test_a_margin_back_above_the_floor_leaves_no_finding(db: Database) -> None:
    r = _rig(db, zero=False)
    engine.run_pass(r)
    src: FakeSource = r.api_suppliers["api"]
    src.figures["A1"] = (10, 3000)
    engine.run_pass(r)

    assert "stock_margin_low" not in _findings(r)


def test_a_refused_write_alerts_naming_the_sku_and_the_platforms_words(db: Database) -> None:
    r = _rig(db, zero=False)
    front: FakeFront = r.storefronts["shop"]
    front.answers.append(lambda ws: [StockWriteResult(w.sku_id, ok=w.sku_id != "S2", code="-40001",
                                                      message="商品审核中") for w in ws])
    engine.run_pass(r)

    found = _findings(r)["stock_write_refused"]

    assert [f.subject for f in found] == ["stock:write:shop:S2:M-2"]
    assert "拒绝" in found[0].title and "商品审核中" in found[0].lines[0]


def test_metrics_count_skus_at_zero_margins_low_and_writes(db: Database) -> None:
    r = _rig(db, zero=False)
    before = engine.COUNTERS.writes["shop"]
    engine.run_pass(r)

    got = {(s.name, s.labels["shop"]): s.value for s in stock_samples(db, ["shop", "idle"])}

    assert got[("syncd_stock_skus_at_zero", "shop")] == 1
    assert got[("syncd_stock_margin_low", "shop")] == 1
    assert got[("syncd_stock_writes_total", "shop")] - before == 2
    assert got[("syncd_stock_skus_at_zero", "idle")] == 0


def test_stock_held_at_the_platforms_floor_alerts_with_the_figure_shown(db: Database) -> None:
    r = Rig(db, routes({"sku": "M-1", "supplier": "api", "supplier_sku": "A1"}))
    r.add_supplier("api", FakeSource({"A1": (0, None)}))
    f = r.add_shop("shop", FakeFront([sku("M-1", 1, reserved=4)]))
    catalog.sync_shop(r, "shop", f)
    engine.run_pass(r)

    found = _findings(r)["stock_write_refused"]

    assert [f.subject for f in found] == ["stock:write:shop:S1:M-1"]
    assert "店铺显示 4 件" in found[0].lines[0]


def test_a_released_margin_is_not_alerted_until_the_cost_rises_again(db: Database) -> None:
    from syncd.stock import guard

    r = _rig(db, zero=True)
    engine.run_pass(r)
    assert guard.release(r.db, "M-1", by="ops") == ["shop"]
    engine.run_pass(r)
    assert "stock_margin_low" not in _findings(r)

    src: FakeSource = r.api_suppliers["api"]
    src.figures["A1"] = (10, 4900)
    engine.run_pass(r)
    assert [f.severity for f in _findings(r)["stock_margin_low"]] == [Severity.CRITICAL]

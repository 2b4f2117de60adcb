"""The sellable formula: bundles, fallbacks, buffers, caps, the platform's floor; the margin."""

from __future__ import annotations

from decimal import Decimal

import pytest

from syncd.config.models import Component, Route, ShopStock, StockBuffer, fen
from syncd.stock import formula
from syncd.stock.formula import Rule


def route(**kw: object) -> Route:
    raw: dict[str, object] = {"sku": "M-1", "supplier": "a", "supplier_sku": "A1"}
    raw.update(kw)
    return Route.model_validate(raw)


def test_one_supplier_one_unit_shows_its_stock() -> None:
    assert formula.sellable(route(), {("a", "A1"): 17}, Rule()) == 17


def test_a_pack_of_three_needs_three_per_sale_floor_division() -> None:
    assert formula.sellable(route(multiplier=3), {("a", "A1"): 10}, Rule()) == 3


def test_a_bundle_serves_as_many_as_its_scarcest_part() -> None:
    r = route(supplier_sku="", components=[Component(supplier_sku="P1", multiplier=2),
                                           Component(supplier_sku="P2", multiplier=1)])
    assert formula.sellable(r, {("a", "P1"): 9, ("a", "P2"): 100}, Rule()) == 4
    assert formula.sellable(r, {("a", "P1"): 9, ("a", "P2"): 3}, Rule()) == 3


def test_a_bundle_with_one_part_unknown_is_unknown() -> None:
    r = route(supplier_sku="", components=[Component(supplier_sku="P1"), Component(supplier_sku="P2")])
    assert formula.sellable(r, {("a", "P1"): 9}, Rule()) is None


def test_fallback_supplier_adds_what_it_can_serve() -> None:
    r = route(multiplier=2, fallback_supplier="b", fallback_sku="B1")
    assert formula.sellable(r, {("a", "A1"): 5, ("b", "B1"): 7}, Rule()) == 2 + 3


def test_fallback_defaults_to_the_same_supplier_sku() -> None:
    r = route(fallback_supplier="b")
    assert formula.sellable(r, {("a", "A1"): 0, ("b", "A1"): 4}, Rule()) == 4


def test_primary_unknown_fallback_known_counts_the_fallback_only() -> None:
    r = route(fallback_supplier="b", fallback_sku="B1")
    assert formula.sellable(r, {("b", "B1"): 6}, Rule()) == 6


def test_nothing_known_is_unknown_not_zero() -> None:
    assert formula.sellable(route(), {}, Rule()) is None
    assert formula.sellable(route(), {("a", "A1"): None}, Rule()) is None


@pytest.mark.parametrize(("have", "rule", "shown"), [
    (20, Rule(buffer=3), 17),
    (2, Rule(buffer=3), 0),  # floored at zero, never negative
    (20, Rule(buffer_percent=10), 18),
    (21, Rule(buffer_percent=10), 18),  # 2.1 kept back rounds up to 3
    (100, Rule(buffer=3, buffer_percent=10), 90),  # both given: the larger
    (10, Rule(buffer=3, buffer_percent=50), 5),
    (1000, Rule(max=200), 200),
    (1000, Rule(buffer=5, max=200), 200),
    (0, Rule(buffer_percent=10), 0),
])
def test_buffer_and_cap(have: int, rule: Rule, shown: int) -> None:
    assert formula.sellable(route(), {("a", "A1"): have}, rule) == shown


def test_negative_supplier_figure_counts_as_zero() -> None:
    assert formula.sellable(route(), {("a", "A1"): -4}, Rule()) == 0


def test_route_settings_override_the_shop() -> None:
    shop = ShopStock(enabled=True, buffer=5, max=100, min_margin=Decimal("3"))
    assert formula.rule_for(shop, None) == Rule(buffer=5, max=100, min_margin_fen=300)
    assert formula.rule_for(shop, StockBuffer(buffer=0, min_margin=Decimal("1.5"))) == Rule(
        buffer=0, max=100, min_margin_fen=150)


@pytest.mark.parametrize(("target", "floor", "written"), [(0, 4, 4), (10, 4, 10), (0, None, 0), (3, 0, 3)])
def test_never_below_the_platform_floor(target: int, floor: int | None, written: int) -> None:
    assert formula.with_floor(target, floor) == written


def test_cost_is_the_serving_suppliers_price_times_units() -> None:
    r = route(multiplier=2, fallback_supplier="b", fallback_sku="B1")
    prices = {("a", "A1"): 1000, ("b", "B1"): 1300}
    assert formula.cost_fen(r, prices, {("a", "A1"): 9, ("b", "B1"): 9}) == 2000
    assert formula.cost_fen(r, prices, {("a", "A1"): 1, ("b", "B1"): 9}) == 2600  # primary cannot serve a sale
    assert formula.cost_fen(r, {("a", "A1"): None}, {("a", "A1"): 9}) is None


def test_margin_subtracts_cost_shipping_and_commission_in_fen() -> None:
    assert formula.margin_fen(5990, 3000, 400, 5.0) == 5990 - 3000 - 400 - 300  # 299.5 rounds up
    assert formula.margin_fen(None, 3000, 0, 0) is None
    assert fen(Decimal("12.34")) == 1234


@pytest.mark.parametrize(("typed", "fen_"), [(4.15, 415), (0.1, 10), (3, 300), ("2.35", 235), ("0", 0)])
def test_yuan_typed_in_a_config_file_becomes_exact_fen(typed: object, fen_: int) -> None:
    assert fen(ShopStock.model_validate({"shipping": typed}).shipping) == fen_


def test_yuan_with_more_than_two_decimals_is_refused() -> None:
    with pytest.raises(ValueError, match="2 decimal places"):
        ShopStock.model_validate({"min_margin": 12.345})


def test_a_shops_share_splits_a_thin_stock_rounding_down() -> None:
    assert formula.sellable(route(), {("a", "A1"): 12}, Rule(buffer=2, share_percent=60)) == 6
    assert formula.sellable(route(), {("a", "A1"): 12}, Rule(buffer=2, share_percent=40)) == 4
    assert formula.sellable(route(), {("a", "A1"): 1}, Rule(share_percent=50)) == 0
    assert formula.rule_for(ShopStock(share_percent=30), StockBuffer(buffer=1)).share_percent == 30

"""Where the supplier cost of a supplier order comes from: the configuration at routing, the supplier's own
amount once placed (API suppliers); a cost nobody gave stays unknown, never zero."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from syncd.config.models import Component, Route
from syncd.domain import PlacedOrder, SupplierOrderRequest
from syncd.money import basis_points, fen_text, percent_of, yuan_to_fen
from syncd.routing import config_cost_fen
from syncd.store.db import Database
from tests.stages.test_supplier_api import API, FakeApiSupplier, _build, _route, _sos

ROUTES = {
    "TEE": Route(sku="TEE", supplier="gz", supplier_sku="GZ-T1", cost=18.5),
    "TEE-2PK": Route(sku="TEE-2PK", supplier="gz", supplier_sku="GZ-T1", multiplier=2, cost=18.5, shipping_fee=4),
    "SOCK": Route(sku="SOCK", supplier="gz", supplier_sku="GZ-S1", cost=9.8),
    "SET": Route(sku="SET", supplier="gz", cost=25,
                 components=[Component(supplier_sku="GZ-T1"), Component(supplier_sku="GZ-S1")]),
    "FREE": Route(sku="FREE", supplier="gz", supplier_sku="GZ-F1"),
}


def _line(sku: str, qty: int, *, line_id: int = 1, supplier_sku: str | None = None) -> list[dict[str, Any]]:
    route = ROUTES[sku]
    return [{"order_line_id": line_id, "merchant_sku": sku, "supplier_sku": supplier_sku or part.supplier_sku,
             "quantity": qty * part.multiplier, "storefront_quantity": qty} for part in route.parts()]


def test_config_cost_is_the_routes_cost_per_supplier_unit_plus_the_suppliers_freight() -> None:
    assert config_cost_fen(_line("TEE", 3), ROUTES) == 3 * 1850
    assert config_cost_fen(_line("TEE", 3) + _line("SOCK", 1, line_id=2), ROUTES, 5.5) == 3 * 1850 + 980 + 550


def test_config_cost_takes_a_routes_shipping_fee_over_the_suppliers() -> None:
    # a 2-pack is 2 supplier units per storefront unit; the route's freight (4) wins over the supplier's (5.5)
    assert config_cost_fen(_line("TEE-2PK", 1) + _line("TEE", 1, line_id=2), ROUTES, 5.5) == 3 * 1850 + 400


def test_config_cost_of_a_bundle_is_per_storefront_unit() -> None:
    assert config_cost_fen(_line("SET", 2), ROUTES) == 2 * 2500


def test_config_cost_unknown_when_a_route_has_no_cost_or_the_line_went_to_a_fallback() -> None:
    assert config_cost_fen(_line("TEE", 1) + _line("FREE", 1, line_id=2), ROUTES) is None
    assert config_cost_fen(_line("TEE", 1, supplier_sku="OTHER-SKU"), ROUTES) is None
    assert config_cost_fen(_line("TEE", 1), {}) is None


def test_money_helpers_stay_in_integer_fen() -> None:
    assert (yuan_to_fen(9.8), yuan_to_fen(0.1 + 0.2), yuan_to_fen("12.345")) == (980, 30, 1235)
    assert (fen_text(123456), fen_text(-5), fen_text(0)) == ("1234.56", "-0.05", "0.00")
    assert (basis_points(5), basis_points(0.6)) == (500, 60)
    assert (percent_of(1999, 500), percent_of(-1999, 500)) == (100, -100)  # 99.95 rounds half up


class _Charging(FakeApiSupplier):
    """Answers the amount it charges, as 1688 and webhook suppliers do."""

    def place(self, request: SupplierOrderRequest) -> PlacedOrder:
        placed = super().place(request)
        return PlacedOrder(placed.supplier_ref, placed.paid, amount_fen=3980)


def test_route_stamps_the_configured_cost_and_placing_replaces_it_by_the_suppliers_amount(
        db: Database, tmp_path: Path) -> None:
    h, _ = _build(db, tmp_path, {"SKU-X": Route(sku="SKU-X", supplier=API, supplier_sku="610001:aa", cost=12.5)})
    h.rt.api_suppliers[API] = _Charging()
    _route(h, ("7001", ("SKU-X",)))
    (so,) = _sos(db)
    assert (so.cost_fen, so.cost_source) == (1250, "config")
    h.stage("forward")
    (so,) = _sos(db)
    assert (so.state, so.cost_fen, so.cost_source) == ("placed", 3980, "supplier")


def test_placing_without_an_amount_keeps_the_configured_cost_or_none(db: Database, tmp_path: Path) -> None:
    h, _ = _build(db, tmp_path, {"SKU-X": Route(sku="SKU-X", supplier=API, supplier_sku="610001:aa", cost=12.5),
                                 "SKU-Y": Route(sku="SKU-Y", supplier=API, supplier_sku="610002:bb")})
    _route(h, ("7002", ("SKU-X",)), ("7003", ("SKU-Y",)))
    h.stage("forward")
    assert [(so.state, so.cost_fen, so.cost_source) for so in _sos(db)] == [("placed", 1250, "config"),
                                                                            ("placed", None, None)]


def test_a_file_suppliers_order_and_its_reship_carry_the_configured_cost(db: Database, tmp_path: Path) -> None:
    from syncd import operations
    from tests.stages.harness import build
    from tests.stages.test_operations import _shipped

    h = build(db, tmp_path)
    h.rt.config.routes["SKU-A"] = Route(sku="SKU-A", supplier="acme", supplier_sku="A-1", cost=12.5, shipping_fee=3)
    order = _shipped(h, db, "7101")
    new_id = operations.reship(h.rt, order.id, who="li")
    assert [(so.kind, so.cost_fen, so.cost_source) for so in _sos(db)] == [("normal", 1550, "config"),
                                                                           ("reship", 1550, "config")]
    assert _sos(db)[1].id == new_id

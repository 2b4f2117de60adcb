"""``POST /callbacks/suppliers/<id>/stock``: a supplier's signed stock push (webhook stock push, 1688 message).

The adapter checks the signature, the timestamp window and replays (:meth:`SupplierStockSource.parse_stock_push`);
everything refused before the sender is known to be genuine answers the same 401 bytes as the other supplier
callbacks (an unknown id included), ``malformed`` (raised only once the signature matched) a 400. Accepted
figures are stored with their due mark in one transaction (:func:`syncd.stock.intake.record`), and the
``stock_due`` job writes the storefronts within seconds. Bodies are bounded by the listener (1 MiB) and never
logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from syncd import clock
from syncd.callbacks import _REFUSED_BODY, REFUSALS, Handler, Reply, _json, refused
from syncd.errors import RejectedError
from syncd.stock import intake
from syncd.stockmodel import SupplierStockSource

log = logging.getLogger("syncd.stock")

SUFFIX = "/stock"


def stock_path(supplier_id: str) -> str:
    return f"/callbacks/suppliers/{supplier_id}{SUFFIX}"


def stock_handler(rt: Any, supplier_id: str) -> Handler:
    """The handler of one supplier's stock pushes (registered per supplier: the path names it)."""

    def handle(path: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes) -> Reply:
        adapter = rt.api_suppliers.get(supplier_id)
        if path.rstrip("/") != stock_path(supplier_id) or not isinstance(adapter, SupplierStockSource):
            REFUSALS.note("suppliers (unknown id)", "no such stock push route (401)")
            return _json(401, _REFUSED_BODY)
        try:
            figures = adapter.parse_stock_push(headers, body, clock.now())
        except RejectedError as err:
            return refused(err, f"supplier {supplier_id} stock")
        with rt.db.begin() as s:
            changed = intake.record(s, supplier_id, figures, intake.PUSH)
        if changed:
            log.info("supplier %s: stock push changed %d figure(s); the storefronts follow within seconds",
                     supplier_id, len(changed))
        return _json(200, {"ok": True, "figures": len(figures), "changed": len(changed)})

    return handle


def register(listener: Any, rt: Any) -> list[str]:
    """One route per API supplier that pushes stock; the paths registered."""
    paths = []
    for supplier_id, adapter in sorted(rt.api_suppliers.items()):
        if isinstance(adapter, SupplierStockSource):
            listener.register("POST", stock_path(supplier_id), stock_handler(rt, supplier_id))
            paths.append(stock_path(supplier_id))
    return paths

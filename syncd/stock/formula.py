"""What a storefront SKU may show, from its suppliers' figures. Pure functions, no database, no network.

sellable = Σ over the route's suppliers (the primary, then the fallback) of what each can serve, where a supplier
serves ``its stock ÷ units per sale`` (floor division; a bundle serves as many as its scarcest part allows),
minus the safety buffer (absolute or percent of that figure, rounded up; both given: the larger), times the shop's
share (rounded down), capped by the maximum, floored at zero. A supplier whose figure is unknown (never read, or
not trusted any more) adds nothing; a SKU none of whose suppliers is known has no target at all (nothing is
written: unknown is not zero).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from syncd.config.models import Route, StockBuffer, fen

Figures = Mapping[tuple[str, str], int | None]  # (supplier id, supplier SKU) → units on sale, None = unknown


@dataclass(frozen=True, slots=True)
class Rule:
    """The buffer, cap and margin floor that apply to one SKU in one shop (the route's over the shop's)."""

    buffer: int = 0
    buffer_percent: float = 0.0
    max: int | None = None
    min_margin_fen: int | None = None
    share_percent: float = 100.0  # the shop's part of what the suppliers can serve


def rule_for(shop: StockBuffer, route: StockBuffer | None) -> Rule:
    """The route's settings where it gives them, else the shop's."""

    def pick(name: str) -> Any:
        value = getattr(route, name, None) if route is not None else None
        return value if value is not None else getattr(shop, name)

    margin = pick("min_margin")
    return Rule(buffer=int(pick("buffer") or 0), buffer_percent=float(pick("buffer_percent") or 0.0),
                max=pick("max"), min_margin_fen=None if margin is None else fen(margin),
                share_percent=float(getattr(shop, "share_percent", 100.0)))


def sources(route: Route) -> list[tuple[str, list[tuple[str, int]]]]:
    """Each supplier of a route with the (supplier SKU, units per sale) one sale takes from it: the primary (a
    bundle's parts), then the fallback (its one SKU, the route's multiplier unless a bundle) — as the router
    splits an order (:func:`syncd.routing.supplier_lines`)."""
    out = [(route.supplier, [(p.supplier_sku, p.multiplier) for p in route.parts()])]
    if route.fallback_supplier:
        sku = route.fallback_sku or route.supplier_sku
        if sku:
            out.append((route.fallback_supplier, [(sku, route.multiplier if not route.components else 1)]))
    return out


def servable(parts: list[tuple[str, int]], supplier: str, figures: Figures) -> int | None:
    """Sales one supplier can serve: its scarcest part ÷ that part's units per sale; None when a part is unknown."""
    counts = []
    for sku, units in parts:
        have = figures.get((supplier, sku))
        if have is None:
            return None
        counts.append(max(have, 0) // max(units, 1))
    return min(counts) if counts else None


def supply(route: Route, figures: Figures) -> int | None:
    """What every supplier of the route can serve together; None when none of them is known."""
    known = [n for supplier, parts in sources(route) if (n := servable(parts, supplier, figures)) is not None]
    return sum(known) if known else None


def sellable(route: Route, figures: Figures, rule: Rule) -> int | None:
    """The figure to show for this route's SKU (before the platform's floor), or None when unknown."""
    total = supply(route, figures)
    if total is None:
        return None
    kept = max(rule.buffer, math.ceil(total * rule.buffer_percent / 100)) if total > 0 else 0
    value = total - kept
    if rule.share_percent < 100:
        value = math.floor(max(value, 0) * rule.share_percent / 100)
    if rule.max is not None:
        value = min(value, rule.max)
    return max(value, 0)


def with_floor(target: int, floor: int | None) -> int:
    """Never below what the platform holds back (reserved / activity-locked): it refuses anything less."""
    return max(target, floor or 0)


def cost_fen(route: Route, prices: Mapping[tuple[str, str], int | None],
             figures: Figures) -> int | None:
    """What one sale costs at the supplier that would serve it (the primary while it has stock, else the fallback):
    Σ price × units per sale. None when that supplier's price is not known."""
    chosen = None
    for supplier, parts in sources(route):
        n = servable(parts, supplier, figures)
        if chosen is None or (n or 0) > 0:
            chosen = (supplier, parts)
        if (n or 0) > 0:
            break
    if chosen is None:
        return None
    supplier, parts = chosen
    total = 0
    for sku, units in parts:
        price = prices.get((supplier, sku))
        if price is None:
            return None
        total += price * units
    return total


def margin_fen(price_fen: int | None, cost: int | None, shipping_fen: int, commission_percent: float) -> int | None:
    """storefront price − supplier cost − shipping − commission (percent of the price, rounded up)."""
    if price_fen is None or cost is None:
        return None
    return price_fen - cost - shipping_fen - math.ceil(price_fen * commission_percent / 100)

"""Shadow mode: pull and route for real, change nothing outside.

A shop with ``mode: shadow`` (and every shop in ``syncd once --dry-run``) is gated here, in one place:

* route: an order that would go to its suppliers is held ``shadow`` instead (:func:`hold_instead`), so no
  supplier order exists that forward could send;
* forward (file and API suppliers): nothing of a shadow shop is exported or placed, not even a supplier order
  made before the switch or a reship (:func:`live_orders`, a condition in their queries);
* writeback: a shadow shop uploads nothing (the stage skips it), and its storefront adapter refuses every write
  (:class:`ShadowStorefront`) should some other path reach it;
* back to live: the shop's shadow holds are looked at again at the next route run (:func:`release_live`) and go
  through the pipeline once, under the same idempotency keys as any order.

Cancellations of supplier orders placed while the shop was live still go out: shadow mode creates nothing new at
a supplier or on a storefront, it does not abandon what was sent before.

What would have been sent is :func:`plan` (``syncd shadow``, and the end of ``syncd once --dry-run``).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, select, true, update
from sqlalchemy.orm import Session

from syncd import details
from syncd.errors import TransientError
from syncd.i18n import _, ngettext
from syncd.lifecycle import HoldReason, OrderState, SupplierOrderState, WritebackState
from syncd.routing import Hold, LineView, RouteTo, split
from syncd.status import masked_receiver
from syncd.store.db import Database
from syncd.store.models import Hold as HoldRow
from syncd.store.models import Order, OrderLine, Shipment, SupplierOrder

if TYPE_CHECKING:
    from syncd.config.loader import Config
    from syncd.protocols import TokenStore
    from syncd.runtime import Runtime

log = logging.getLogger("syncd.shadow")

SHADOW = "shadow"
LIVE = "live"


def shadow_shops(config: Config) -> frozenset[str]:
    """The shops whose ``mode`` is ``shadow``."""
    return frozenset(sid for sid, shop in config.shops.items() if getattr(shop, "mode", LIVE) == SHADOW)


def is_shadow(config: Config, shop_id: str) -> bool:
    """Whether ``shop_id`` runs in shadow mode (nothing of it is sent anywhere)."""
    shop = config.shops.get(shop_id)
    return shop is not None and getattr(shop, "mode", LIVE) == SHADOW


def live_orders(config: Config) -> ColumnElement[bool]:
    """SQL: the order (``Order`` joined in the query) belongs to no shadow shop. Every query that picks what is
    sent to a supplier carries it."""
    shops = shadow_shops(config)
    return Order.shop_id.not_in(sorted(shops)) if shops else true()


def hold_instead(decision: RouteTo) -> Hold:
    """The hold a shadow shop's order gets where a live shop's order would go to its suppliers. The detail says
    what would have been sent (supplier: supplier SKU x quantity)."""
    parts = "; ".join(f"{p.supplier_id}: " + ", ".join(f"{ln['supplier_sku']} x{ln['quantity']}" for ln in p.lines)
                      for p in decision.parts)
    return Hold(HoldReason.SHADOW, details.SHADOW.format(parts=parts)[:500])


def release_live(s: Session, config: Config, now: datetime) -> int:
    """Shadow holds of shops that are live now: due for the route stage at once (it forwards them, or holds them
    for whatever else stops them). Returns how many."""
    live = sorted(sid for sid in config.shops if not is_shadow(config, sid))
    if not live:
        return 0
    due = (Order.recheck_at.is_(None)) | (Order.recheck_at > now)
    shops = list(s.execute(select(Order.shop_id).where(Order.state == OrderState.HELD, Order.hold_reason == SHADOW,
                                                       Order.shop_id.in_(live), due)).scalars())
    if not shops:
        return 0
    s.execute(update(Order).where(Order.state == OrderState.HELD, Order.hold_reason == SHADOW,
                                  Order.shop_id.in_(live), due).values(recheck_at=now))
    counts: dict[str, int] = defaultdict(int)
    for shop in shops:
        counts[shop] += 1
    for shop, n in sorted(counts.items()):
        log.info(ngettext("shop {shop} is live: {n} order held in shadow mode goes to its suppliers now",
                          "shop {shop} is live: {n} orders held in shadow mode go to their suppliers now", n)
                 .format(shop=shop, n=n))
    return len(shops)


class ShadowRefused(TransientError):
    """A write to a shadow shop's storefront: refused before anything is sent (it waits until the shop is live)."""


class ShadowStorefront:
    """A shadow shop's storefront adapter: every read goes through, every write is refused unsent."""

    def __init__(self, inner: Any, shop_id: str) -> None:
        self._inner = inner
        self._shop_id = shop_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _refuse(self, what: str) -> TransientError:
        return ShadowRefused(f"shop {self._shop_id} is in shadow mode: {what} not sent", code="shadow")

    def ship(self, *_args: Any, **_kw: Any) -> Any:
        """Tracking upload: refused (nothing reaches the storefront)."""
        raise self._refuse("tracking upload")

    def write_stock(self, *_args: Any, **_kw: Any) -> Any:
        """Stock write: refused (nothing reaches the storefront)."""
        raise self._refuse("stock write")

    def close(self) -> None:
        self._inner.close()


def guard(rt: Runtime) -> None:
    """Wrap the storefront adapters of shadow shops (:class:`ShadowStorefront`); called by build_runtime."""
    for shop_id in shadow_shops(rt.config):
        adapter = rt.storefronts.get(shop_id)
        if adapter is not None and not isinstance(adapter, ShadowStorefront):
            rt.storefronts[shop_id] = ShadowStorefront(adapter, shop_id)


class ReadOnlyTokens:
    """The token store of a dry run: the stored tokens are used, never refreshed. A refresh would rotate the
    shop's refresh token at the platform while the new pair lands only in the copy of the database, leaving the
    real daemon with a dead one; a shop whose token must be refreshed fails its pull in the dry run instead."""

    def __init__(self, inner: TokenStore) -> None:
        self._inner = inner

    def load(self, shop_id: str) -> Any:
        return self._inner.load(shop_id)

    def save(self, shop_id: str, token: Any) -> None:
        raise self._refused(shop_id)

    @contextmanager
    def refresh_lock(self, shop_id: str) -> Iterator[bool]:
        # an early refresh that fails falls back to the stored pair; with none usable, the shop's pull fails
        raise self._refused(shop_id)
        yield False  # pragma: no cover - never reached; makes this a context manager

    @staticmethod
    def _refused(shop_id: str) -> TransientError:
        return TransientError(f"{shop_id}: a dry run neither creates nor refreshes platform tokens; start the daemon "
                              "once (mode: shadow sends nothing) so that it stores a usable token, then dry-run again",
                              code="dry-run-token")


def as_dry_run(config: Config) -> Config:
    """``config`` with every shop in shadow mode (``syncd once --dry-run``)."""
    from dataclasses import replace

    shops = {sid: shop.model_copy(update={"mode": SHADOW}) for sid, shop in config.shops.items()}
    return replace(config, shops=shops)


# -- what would have been sent ---------------------------------------------------------------------------------

def _lines(parts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{"supplier_sku": ln["supplier_sku"], "quantity": int(ln["quantity"]),
             "merchant_sku": ln.get("merchant_sku", "")} for ln in parts]


def plan(db: Database, config: Config, shops: Sequence[str] | None = None) -> dict[str, Any]:
    """What shadow mode kept back: per order, what each supplier would have received (supplier SKU, quantity,
    the receiver masked), and the tracking numbers each storefront would have received. ``shops``: those to
    list (default: the shadow shops of ``config``); orders held ``shadow`` are listed whatever their shop."""
    scope = sorted(shadow_shops(config) if shops is None else shops)
    to_suppliers: list[dict[str, Any]] = []
    with db.read() as s:
        held = list(s.scalars(select(Order).where(Order.state == OrderState.HELD, Order.hold_reason == SHADOW)
                              .order_by(Order.id)))
        pending = list(s.execute(
            select(SupplierOrder.order_id, SupplierOrder.supplier_id, SupplierOrder.lines, SupplierOrder.kind)
            .join(Order, Order.id == SupplierOrder.order_id)
            .where(Order.shop_id.in_(scope), SupplierOrder.state == SupplierOrderState.PENDING,
                   SupplierOrder.cancel_state == "none",
                   (Order.state == OrderState.ROUTED) | (SupplierOrder.kind == "reship"))
            .order_by(SupplierOrder.id)))
        ids = {o.id for o in held} | {p.order_id for p in pending}
        orders = {o.id: o for o in s.scalars(select(Order).where(Order.id.in_(ids)))}
        lines: dict[int, list[LineView]] = defaultdict(list)
        for ln in s.scalars(select(OrderLine).where(OrderLine.order_id.in_([o.id for o in held]))
                            .order_by(OrderLine.id)):
            lines[ln.order_id].append(LineView(ln.id, ln.platform_line_id, ln.merchant_sku, ln.quantity, ln.title,
                                               ln.spec, ln.refund_state))
        since = {r.order_id: r.created_at for r in s.execute(select(HoldRow.order_id, HoldRow.created_at).where(
            HoldRow.order_id.in_([o.id for o in held]), HoldRow.released_at.is_(None), HoldRow.reason == SHADOW))}
        uploads = list(s.execute(
            select(Order.shop_id, Order.platform_order_id, Shipment.carrier, Shipment.tracking_no)
            .join(Order, Order.id == Shipment.order_id)
            .where(Order.shop_id.in_(scope), Shipment.writeback_state.in_(
                [WritebackState.PENDING, WritebackState.UPLOADING]))
            .order_by(Shipment.id)))
    for o in held:
        mapped = all(ln.merchant_sku in config.routes for ln in lines[o.id]) and lines[o.id]
        parts = split(o.shop_id, o.platform_order_id, lines[o.id], config.routes) if mapped else []
        when = since.get(o.id)
        for p in parts:
            to_suppliers.append({"shop": o.shop_id, "order": o.platform_order_id, "supplier": p.supplier_id,
                                 "lines": _lines(p.lines), "receiver": masked_receiver(o.receiver),
                                 "held_since": when.isoformat() if when else None, "kind": "normal"})
        if not parts:  # the routes changed since: the next route run holds it for that
            to_suppliers.append({"shop": o.shop_id, "order": o.platform_order_id, "supplier": None, "lines": [],
                                 "receiver": masked_receiver(o.receiver),
                                 "held_since": when.isoformat() if when else None, "kind": "normal"})
    for row in pending:
        o = orders[row.order_id]
        to_suppliers.append({"shop": o.shop_id, "order": o.platform_order_id, "supplier": row.supplier_id,
                             "lines": _lines(row.lines), "receiver": masked_receiver(o.receiver), "held_since": None,
                             "kind": row.kind})
    return {"shops": scope,
            "to_suppliers": to_suppliers,
            "to_shops": [{"shop": u.shop_id, "order": u.platform_order_id, "carrier": u.carrier,
                          "tracking_no": u.tracking_no} for u in uploads]}


def plan_text(p: Mapping[str, Any]) -> str:
    """:func:`plan` for a person."""
    from syncd.views import table

    out = [_("Shadow mode: nothing below was sent (shops: {shops}).").format(shops=", ".join(p["shops"]) or "-")]
    rows = p["to_suppliers"]
    orders = len({(r["shop"], r["order"]) for r in rows})
    out += ["", ngettext("Would be sent to suppliers ({n} order):", "Would be sent to suppliers ({n} orders):",
                         orders).format(n=orders)]
    if rows:
        body = []
        for r in rows:
            rc = r["receiver"]
            who = " ".join(x for x in (rc["name"], rc["phone"], rc["province"], rc["city"]) if x)
            if r["supplier"] is None:
                body.append([r["shop"], r["order"], _("(no route now)"), "", "", who])
                continue
            for ln in r["lines"]:
                body.append([r["shop"], r["order"], r["supplier"], ln["supplier_sku"], ln["quantity"], who])
        out.append(table([_("shop"), _("order"), _("supplier"), _("supplier SKU"), _("qty"), _("receiver")], body,
                         right=(4,), indent="  "))
    else:
        out.append("  " + _("(none)"))
    ups = p["to_shops"]
    out += ["", ngettext("Would be uploaded to shops ({n} tracking number):",
                         "Would be uploaded to shops ({n} tracking numbers):", len(ups)).format(n=len(ups))]
    if ups:
        out.append(table([_("shop"), _("order"), _("carrier"), _("tracking number")],
                         [[u["shop"], u["order"], u["carrier"], u["tracking_no"]] for u in ups], indent="  "))
    else:
        out.append("  " + _("(none)"))
    return "\n".join(out)

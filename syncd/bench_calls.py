"""Calls against the floor: for each platform API the bench saw, the fewest calls the same work needs.

The floor of a workload, per shop or API supplier (what a bare client that knew everything would call):

- **list** (the order listing): the first pull reads the look-back, one call per page of the shop's orders but
  at least one per window the platform allows (Pinduoduo lists 30 minutes at a time, Taobao a day); every later
  scheduled pull asks at least once (nobody learns that nothing changed without asking), and together they page
  through the orders the run itself changed — each order written back comes back in the listing, stamped by
  the ship call, as no listing can leave out changes of one's own:
  ``max(ceil(orders / page), ceil(look-back / window)) + max(pulls - 1, ceil(shipped orders / page))``.
- **refunds** (the refund stream): the first look-back at one call per page of the orders with a refund entry
  in it (as the floor line's bare client counts them; each has at least one entry) but at least one per allowed
  window, then one per later scheduled pull: ``max(ceil(refunded / page), ceil(look-back / window)) + pulls - 1``.
  Until 2026-12-07 the look-back counted one call per window whatever it held: 180 after-sale entries in one
  Douyin window need two calls of 100. That strict figure is still printed beside it.

Until 2026-12-06 both floors took the *largest* of pages, pulls and windows, as if the first pull's calls
also served the later pulls, and counted no page for the orders the run shipped, which every incremental
listing returns again: no client that keeps pulling gets below the floor above.
- **decrypt**: the addresses that went to a supplier, in calls as full as the platform allows: Douyin's
  ``order.batchDecrypt`` takes 50 cipher texts and an order has three (name, phone, address), Pinduoduo's
  ``pdd.open.decrypt.batch`` 100 texts (three an order), Taobao's ``taobao.top.oaid.decrypt`` 20 trades.
  Until 2026-12-07 the floor was one call per 50 orders on every platform, fewer calls than any of them
  allows (Douyin's and Taobao's by 3× and 2.5×): that strict figure is still printed beside it.
- **ship**: one call per parcel written back (the ship APIs of a platform counted together).
- **create**: one per supplier order sent (preview, create and pay at 1688; create at the webhook supplier).
- **shipped**: one per supplier order the supplier shipped (1688's logistics numbers).
- **poll**: the status polls the configured interval implies: per supplier order, one per interval it waited
  at the supplier (at least one for a shipped one).
- **session** (tokens, carrier lists): one per shop or supplier per run.
- **detail** (a single order's details): zero; such a call is only right where the list answer lacks a field.

APIs not named here (parcel tracking, stock) have no floor in this workload and are listed without one.
A ratio above 1.2 is marked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

ABOVE = 1.2
DECRYPT_BATCH = 50  # the strict decrypt floor: 50 orders a call, whatever the platform allows
# what one decrypt call takes, and what an order needs of it: (items a call, items an order) (reference §1.4, §2.4,
# §3.4: 50 cipher texts a call at Douyin, 100 at Pinduoduo, an order's name, phone and address each one; 20 trades
# a call at Taobao)
DECRYPT_LIMITS = {"douyin": (50, 3), "pdd": (100, 3), "taobao": (20, 1)}
PAGE = 100  # the most each storefront's order listing gives a page
# the longest span each platform's incremental listings accept (minutes); Douyin's search has no such limit
FORCED_WINDOW_MINUTES = {"pdd": 30, "taobao": 24 * 60}

# (system, APIs counted together, floor kind)
FLOORS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("douyin", ("order.searchList",), "list"),
    ("douyin", ("afterSale.List",), "refunds"),
    ("douyin", ("order.batchDecrypt",), "decrypt"),
    ("douyin", ("order.logisticsAdd", "order.logisticsAddMultiPack"), "ship"),
    ("douyin", ("order.logisticsCompanyList",), "session"),
    ("douyin", ("token.create",), "session"),
    ("douyin", ("order.orderDetail",), "detail"),
    ("pdd", ("pdd.order.number.list.increment.get",), "list"),
    ("pdd", ("pdd.refund.list.increment.get",), "refunds"),
    ("pdd", ("pdd.open.decrypt.batch",), "decrypt"),
    ("pdd", ("pdd.logistics.online.send", "pdd.order.upload.extra.logistics"), "ship"),
    ("pdd", ("pdd.logistics.companies.get",), "session"),
    ("pdd", ("pdd.pop.auth.token.refresh",), "session"),
    ("pdd", ("pdd.order.information.get",), "detail"),
    ("taobao", ("taobao.trades.sold.increment.get",), "list"),
    ("taobao", ("taobao.refunds.receive.get",), "refunds"),
    ("taobao", ("taobao.top.oaid.decrypt",), "decrypt"),
    ("taobao", ("taobao.logistics.offline.send",), "ship"),
    ("taobao", ("taobao.logistics.companies.get",), "session"),
    ("taobao", ("taobao.top.auth.token.refresh",), "session"),
    ("taobao", ("taobao.trade.fullinfo.get",), "detail"),
    ("1688", ("alibaba.createOrder.preview",), "create"),
    ("1688", ("alibaba.trade.fastCreateOrder",), "create"),
    ("1688", ("alibaba.trade.pay.protocolPay.preparePay",), "create"),
    ("1688", ("alibaba.trade.get.buyerView",), "poll"),
    ("1688", ("alibaba.trade.getLogisticsInfos.buyerView",), "shipped"),
    ("1688", ("alibaba.trade.getBuyerOrderList",), "detail"),
    ("1688", ("getToken",), "session"),
    ("webhook", ("create",), "create"),
    ("webhook", ("status",), "poll"),
)


@dataclass
class ShopWork:
    """What one storefront shop's orders needed."""

    orders: int = 0
    decrypted: int = 0  # orders whose address went to a supplier
    parcels: int = 0  # parcels written back
    shipped_orders: int = 0  # orders with a parcel written back: each comes back in the listing, stamped by it
    lookback_refunds: int = 0  # orders with a refund entry in the first look-back (the floor line counts them)


@dataclass
class SupplierWork:
    """What one API supplier's orders needed."""

    sent: int = 0
    shipped: int = 0
    poll_floor: int = 0  # the status polls the interval implies, summed over its supplier orders


@dataclass
class Workload:
    wall_seconds: float
    pull_seconds: float
    shops: dict[str, ShopWork] = field(default_factory=dict)  # by platform (one shop each in the bench)
    suppliers: dict[str, SupplierWork] = field(default_factory=dict)  # by supplier kind (1688, webhook)
    shops_per_platform: dict[str, int] = field(default_factory=dict)
    lookback_hours: float = 0.0  # the first pull's look-back


def poll_floor(waits: list[float], interval: float, shipped: list[bool]) -> int:
    """Status polls a supplier order needs: one per interval it waited, at least one once it shipped."""
    total = 0
    for wait, done in zip(waits, shipped, strict=True):
        n = math.floor(max(wait, 0.0) / interval)
        total += max(n, 1) if done else n
    return total


def _floor(kind: str, system: str, work: Workload) -> int | None:
    shop = work.shops.get(system)
    sup = work.suppliers.get(system)
    shops = work.shops_per_platform.get(system, 1)
    later = (max(1, math.ceil(work.wall_seconds / work.pull_seconds)) - 1) * shops  # pulls after the first
    forced = FORCED_WINDOW_MINUTES.get(system)
    windows = max(1, math.ceil(work.lookback_hours * 60 / forced)) * shops if forced else shops
    if shop is not None:
        if kind == "list":
            return max(math.ceil(shop.orders / PAGE), windows) + max(later, math.ceil(shop.shipped_orders / PAGE))
        if kind == "refunds":
            return max(math.ceil(shop.lookback_refunds / PAGE), windows) + later
        if kind == "decrypt":
            per_call, per_order = DECRYPT_LIMITS.get(system, (DECRYPT_BATCH, 1))
            return math.ceil(shop.decrypted * per_order / per_call)
        if kind == "ship":
            return shop.parcels
        if kind == "session":
            return shops
        if kind == "detail":
            return 0
    if sup is not None:
        return {"create": sup.sent, "shipped": sup.shipped, "poll": sup.poll_floor, "session": 1,
                "detail": 0}.get(kind)
    return None


def _strict_floor(kind: str, system: str, work: Workload) -> int | None:
    """The floor as it stood before 2026-12-07 where it differs: decrypt at 50 orders a call on every platform, the
    refund stream's look-back at one call per window whatever it held."""
    shop = work.shops.get(system)
    if shop is not None and kind == "decrypt":
        return math.ceil(shop.decrypted / DECRYPT_BATCH)
    if shop is not None and kind == "refunds":
        return _floor(kind, system, replace(work, shops={**work.shops, system: replace(shop, lookback_refunds=0)}))
    return None


def floor_table(calls: dict[tuple[str, str], int], work: Workload) -> list[dict[str, Any]]:
    """One row per API (or group of ship APIs) called: calls, floor, ratio, per order, marked above 1.2×."""
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    by_name: dict[tuple[str, str], int] = {}
    for (system, api), n in calls.items():  # a webhook supplier's calls are named <supplier>/<call>
        key = (system, api.rsplit("/", 1)[-1] if system == "webhook" else api)
        by_name[key] = by_name.get(key, 0) + n
    calls = by_name
    for system, apis, kind in FLOORS:
        n = sum(calls.get((system, api), 0) for api in apis)
        seen.update((system, api) for api in apis)
        if not n:
            continue
        row = _row(system, " + ".join(a for a in apis if calls.get((system, a))), kind, n,
                   _floor(kind, system, work), work)
        strict = _strict_floor(kind, system, work)
        if strict is not None and strict != row["floor"]:
            row["strict_floor"] = strict
            row["strict_ratio"] = round(n / strict, 2) if strict else None
        rows.append(row)
    for (system, api), n in sorted(calls.items()):
        if (system, api) not in seen and (system in work.shops or system in work.suppliers):
            rows.append(_row(system, api, "-", n, None, work))
    return rows


def _row(system: str, api: str, kind: str, n: int, floor: int | None, work: Workload) -> dict[str, Any]:
    per = work.shops[system].orders if system in work.shops else (
        work.suppliers[system].sent if system in work.suppliers else 0)
    ratio = None if floor is None or floor == 0 else round(n / floor, 2)
    return {"system": system, "api": api, "floor_kind": kind, "calls": n, "floor": floor,
            "per_order": round(n / per, 4) if per else None,
            "floor_per_order": round(floor / per, 4) if per and floor is not None else None,
            "ratio": ratio, "above": floor is not None and (n > floor * ABOVE)}


def format_table(rows: list[dict[str, Any]]) -> str:
    """The table the bench prints: per order (per supplier order at API suppliers), floor, ratio, a mark."""
    out = [f"{'system':<8} {'API':<62} {'calls':>7} {'/order':>8} {'floor':>7} {'/order':>8} {'ratio':>7}",
           "-" * 113]
    for r in rows:
        floor = "-" if r["floor"] is None else str(r["floor"])
        fpo = "-" if r["floor_per_order"] is None else f"{r['floor_per_order']:.4f}"
        ratio = ("-" if r["ratio"] is None else f"{r['ratio']:.2f}x") if r["floor"] != 0 else "floor 0"
        po = "-" if r["per_order"] is None else f"{r['per_order']:.4f}"
        mark = "  << above 1.2x" if r["above"] else ""
        if "strict_floor" in r:
            mark += f"  (strict floor {r['strict_floor']}: {r['strict_ratio']:.2f}x)"
        out.append(f"{r['system']:<8} {r['api'][:62]:<62} {r['calls']:>7} {po:>8} {floor:>7} {fpo:>8} {ratio:>7}{mark}")
    return "\n".join(out)

"""One stock pass: supplier figures → each routed storefront SKU's target → full-value writes of what changed.

Crash safety: before a write call, every SKU in it gets its intent (``stock_written.pending``) committed; after
the call, each SKU's result. A SKU with an intent left over (the daemon died during the call) is sent again on
the next pass — a full value, so sending it twice is harmless — and a SKU whose confirmed value already equals its
target is never sent again. So a crash in the middle of a pass writes nothing twice needlessly and skips nothing.

A platform refusal that will not pass by itself (activity lock, SKU deleted, under review) is recorded with the
refused value and not retried: the same target is not sent again until something changes (the supplier's figure,
the platform's floor). A refusal that names the platform's floor (reserved / activity-locked stock) makes the next
pass write that floor instead. A retryable failure (flow control, a failed call) keeps the intent and is retried
on the next pass.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, tuple_, update

from syncd import clock
from syncd.config.models import Route, fen
from syncd.errors import AuthError, ProtocolError, ReauthorizationRequired, SyncdError, TransientError
from syncd.stock import formula, intake
from syncd.stock.store import upsert
from syncd.stockmodel import StockWrite, StockWriteResult, StorefrontStock, SupplierStockSource
from syncd.store.models import StockCatalog, StockMargin, StockSupplier, StockWritten

log = logging.getLogger("syncd.stock")

READ_CHUNK = 200  # supplier SKUs per read_stock call (the adapter groups them per product / call)


class WriteCounters:
    """Writes and write errors per shop since the start (the ``/metrics`` counters)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.writes: Counter[str] = Counter()  # SKUs written
        self.errors: Counter[str] = Counter()  # SKUs whose write failed or was refused
        self.calls: Counter[str] = Counter()  # write calls

    def add(self, shop: str, written: int, failed: int) -> None:
        with self._lock:
            self.writes[shop] += written
            self.errors[shop] += failed
            self.calls[shop] += 1


COUNTERS = WriteCounters()


@dataclass(frozen=True, slots=True)
class Plan:
    """One storefront SKU to write, and why."""

    shop_id: str
    product_id: str
    sku_id: str
    merchant_sku: str
    value: int  # the full value to write
    before: int | None  # the value last confirmed (None: never written)
    supply: int  # what the suppliers can serve, before buffer and floor
    note: str = ""  # held at the floor, held by the price guard, an intent left by a crash (English, for logs)
    reason: str = ""  # the note's kind: "guard", "floor", "resend" (the CLI words it in the reader's language)
    target: int | None = None  # what the suppliers allow, before the platform's floor


@dataclass
class PassReport:
    """What one pass did."""

    shops: list[str] = field(default_factory=list)
    read: dict[str, int] = field(default_factory=dict)  # supplier → figures read
    read_errors: dict[str, str] = field(default_factory=dict)  # supplier → why its read failed
    plans: list[Plan] = field(default_factory=list)
    unchanged: int = 0
    unknown: list[tuple[str, str]] = field(default_factory=list)  # (shop, merchant SKU) with no known figure
    refused_kept: int = 0  # SKUs whose target was refused for good before: not sent again
    written: int = 0
    failed: int = 0  # retryable: sent again next pass
    refused: int = 0  # refused for good: recorded
    calls: int = 0
    shop_errors: dict[str, str] = field(default_factory=dict)
    margin_low: list[tuple[str, str, int]] = field(default_factory=list)  # (shop, merchant SKU, margin fen)
    covered: set[str] = field(default_factory=set)  # a due pass: the merchant SKUs it looked at afresh


def stock_shops(rt: Any, only: Collection[str] | None = None) -> dict[str, StorefrontStock]:
    """The enabled shops whose ``stock.enabled`` is on and whose adapter can write stock."""
    out: dict[str, StorefrontStock] = {}
    for shop_id, adapter in rt.storefronts.items():
        cfg = rt.config.shops.get(shop_id)
        if cfg is None or not cfg.stock.enabled or (only and shop_id not in only):
            continue
        if isinstance(adapter, StorefrontStock):
            out[shop_id] = adapter
        else:
            log.warning("shop %s: stock is enabled but its platform adapter cannot write stock", shop_id)
    return out


def routes_serving(routes: Mapping[str, Route], pairs: Collection[tuple[str, str]]) -> set[str]:
    """Merchant SKUs whose route takes from one of these (supplier, supplier SKU)."""
    wanted = set(pairs)
    return {code for code, route in routes.items()
            if any((sup, sku) in wanted for sup, parts in formula.sources(route) for sku, _u in parts)}


def needed(routes: Iterable[Route]) -> dict[str, set[str]]:
    """Supplier → the supplier SKUs these routes take from."""
    out: dict[str, set[str]] = defaultdict(set)
    for route in routes:
        for supplier, parts in formula.sources(route):
            out[supplier].update(sku for sku, _u in parts)
    return out


def read_suppliers(rt: Any, routes: Iterable[Route], report: PassReport) -> None:
    """Ask each API supplier that answers stock (and has ``stock_sync.read`` on) for the SKUs the routes take."""
    for supplier_id, skus in sorted(needed(routes).items()):
        api = rt.api_suppliers.get(supplier_id)
        cfg = rt.config.suppliers.get(supplier_id)
        if api is None or cfg is None or not cfg.stock_sync.read or not isinstance(api, SupplierStockSource):
            continue
        ordered = sorted(skus)
        try:
            for start in range(0, len(ordered), READ_CHUNK):
                if rt.stop.is_set():
                    return
                result = api.read_stock(ordered[start:start + READ_CHUNK])
                with rt.db.begin() as s:
                    intake.record_read(s, supplier_id, result)
                report.read[supplier_id] = report.read.get(supplier_id, 0) + len(result.stock)
        except SyncdError as err:  # its last figures stand; the other suppliers go on
            report.read_errors[supplier_id] = f"{type(err).__name__}: {err}"[:300]
            log.warning("supplier %s: stock read failed (%s); its last figures are kept", supplier_id,
                        report.read_errors[supplier_id])


FEW = 500  # up to this many keys a query names them; past it, it reads the whole shop / supplier


def figures(rt: Any, wanted: Mapping[str, Collection[str]], now: datetime
            ) -> tuple[dict[tuple[str, str], int | None], dict[tuple[str, str], int | None]]:
    """(quantities, prices) per (supplier, supplier SKU) of ``wanted`` (supplier → SKUs); a figure older than its
    supplier's ``stale_hours`` counts as zero."""
    qty: dict[tuple[str, str], int | None] = {}
    price: dict[tuple[str, str], int | None] = {}
    pairs = [(sup, sku) for sup, skus in wanted.items() for sku in skus]
    q = select(StockSupplier.supplier_id, StockSupplier.supplier_sku, StockSupplier.quantity,
               StockSupplier.price_fen, StockSupplier.observed_at)
    q = (q.where(tuple_(StockSupplier.supplier_id, StockSupplier.supplier_sku).in_(pairs)) if len(pairs) <= FEW
         else q.where(StockSupplier.supplier_id.in_(list(wanted))))
    with rt.db.read() as s:
        for r in s.execute(q):
            cfg = rt.config.suppliers.get(r.supplier_id)
            stale = cfg.stock_sync.stale_hours if cfg is not None else None
            have = r.quantity
            if stale is not None and have is not None and now - r.observed_at > timedelta(hours=stale):
                have = 0
            qty[(r.supplier_id, r.supplier_sku)] = have
            price[(r.supplier_id, r.supplier_sku)] = r.price_fen
    return qty, price


def run_pass(rt: Any, *, shops: Collection[str] | None = None, skus: Collection[str] | None = None,
             dry_run: bool = False, read: bool = True, serve_due: bool = True) -> PassReport:
    """One pass over the enabled shops (or ``shops``) and routed SKUs (or ``skus``). ``serve_due``: between its
    write groups the pass writes through what pushes and files changed meanwhile (a long pass — thousands of
    one-SKU Pinduoduo calls — must not hold a supplier's zero back), and drops those SKUs from its own plan."""
    report = PassReport()
    adapters = stock_shops(rt, shops)
    report.shops = sorted(adapters)
    routes = {k: v for k, v in rt.config.routes.items() if skus is None or k in skus}
    if not adapters or not routes:
        return report
    if read:
        read_suppliers(rt, routes.values(), report)
    now = clock.now()
    qty, price = figures(rt, needed(routes.values()), now)
    for shop_id in report.shops:
        if rt.stop.is_set():
            break
        plans = plan_shop(rt, shop_id, routes, qty, price, now, report, dry_run=dry_run)
        report.plans += plans
        if not dry_run and plans:
            try:
                write_shop(rt, shop_id, adapters[shop_id], plans, report, serve_due=serve_due)
            except (ReauthorizationRequired, AuthError) as err:  # this shop stops; the others go on
                log.error("shop %s: stock writes stopped, the authorisation is refused (%s); the pull stage "
                          "pauses the shop until it is authorised again", shop_id, err)
    return report


def plan_shop(rt: Any, shop_id: str, routes: Mapping[str, Route], qty: formula.Figures,
              price: Mapping[tuple[str, str], int | None], now: datetime, report: PassReport, *,
              dry_run: bool = False) -> list[Plan]:
    """The SKUs of one shop whose target differs from what was written (or whose write is unfinished); the
    price guard's margins recorded on the way."""
    shop = rt.config.shops[shop_id].stock
    # the shop's one commission rate, the same the margin reports use (shops/*.yaml commission_percent)
    shipping, commission = fen(shop.shipping), float(rt.config.shops[shop_id].commission_percent or 0)
    with rt.db.read() as s:
        links = s.execute(select(StockCatalog.product_id, StockCatalog.sku_id, StockCatalog.merchant_sku,
                                 StockCatalog.price_fen, StockCatalog.reserved)
                          .where(StockCatalog.shop_id == shop_id, StockCatalog.on_sale.is_(True),
                                 StockCatalog.merchant_sku.in_(list(routes)))).all()
        wq = select(StockWritten).where(StockWritten.shop_id == shop_id)
        mq = select(StockMargin).where(StockMargin.shop_id == shop_id)
        if len(routes) <= FEW:  # a due pass over a few SKUs reads their rows only
            wq = wq.where(StockWritten.merchant_sku.in_(list(routes)))
            mq = mq.where(StockMargin.merchant_sku.in_(list(routes)))
        written = {(w.product_id, w.sku_id): w for w in s.scalars(wq)}
        margins = {m.merchant_sku: m for m in s.scalars(mq)}
    plans: list[Plan] = []
    margin_rows: dict[str, dict[str, Any]] = {}
    for link in links:
        code = link.merchant_sku
        route = routes[code]
        rule = formula.rule_for(shop, route.stock)
        target = formula.sellable(route, qty, rule)
        cost = formula.cost_fen(route, price, qty)
        margin = formula.margin_fen(link.price_fen, cost, shipping, commission)
        held = _guard(shop_id, code, margin, cost, link.price_fen, rule, shop.zero_on_low_margin, margins.get(code),
                      margin_rows, now, report)
        if target is None:
            report.unknown.append((shop_id, code))
            continue
        supply = formula.supply(route, qty) or 0
        note, reason = "", ""
        if held:
            target, note, reason = 0, "price guard: margin below the floor, kept at zero until `syncd stock release`", \
                "guard"
        w = written.get((link.product_id, link.sku_id))
        floor = max(link.reserved or 0, (w.floor if w is not None else None) or 0)
        value = formula.with_floor(target, floor)
        if value > target:
            note = f"held at {value} by the platform (reserved / activity-locked); the suppliers can serve {target}"
            reason = "floor"
        if w is not None and w.pending is None and w.value == value:
            report.unchanged += 1
            continue
        if w is not None and w.pending is None and w.refused == value:
            report.refused_kept += 1  # refused for good before: recorded, not sent again
            continue
        if w is not None and w.pending is not None and not note:
            note = f"an earlier write of {w.pending} did not finish: sent again (a full value)"
            reason = "resend"
        plans.append(Plan(shop_id, link.product_id, link.sku_id, code, value, w.value if w else None, supply, note,
                          reason, target))
    changed = [{k: v for k, v in m.items() if k != "_same"} for m in margin_rows.values() if not m["_same"]]
    if changed and not dry_run:
        with rt.db.begin() as s:
            upsert(s, StockMargin, changed, ["shop_id", "merchant_sku"])
    return plans


def _guard(shop_id: str, code: str, margin: int | None, cost: int | None, price_fen: int | None,
           rule: formula.Rule, zero: bool, row: StockMargin | None, out: dict[str, dict[str, Any]],
           now: datetime, report: PassReport) -> bool:
    """Record the margin of one SKU; True when the price guard keeps its stock at zero."""
    low = margin is not None and rule.min_margin_fen is not None and margin < rule.min_margin_fen
    released = row.released_cost_fen if row is not None else None
    # a person released it at this cost: the hold comes back only if the cost rises again
    held = bool(low and zero and not (released is not None and cost is not None and cost <= released))
    if low:
        report.margin_low.append((shop_id, code, int(margin or 0)))
    if code in out:  # the same code on two listings of the shop: one margin row
        return held or bool(out[code]["held"])
    values = {"shop_id": shop_id, "merchant_sku": code, "margin_fen": margin, "storefront_price_fen": price_fen,
              "supplier_cost_fen": cost, "floor_fen": rule.min_margin_fen, "low": low, "held": held,
              "released_cost_fen": released if (low or held) else None,
              "released_by": row.released_by if row is not None and low else None,
              "released_at": row.released_at if row is not None and low else None, "updated_at": now}
    same = row is not None and all(getattr(row, k) == v for k, v in values.items() if k != "updated_at")
    out[code] = {**values, "_same": same}
    return held


def batches(plans: Sequence[Plan], limit: int, within_product: bool) -> list[list[Plan]]:
    """Full batches: up to ``limit`` SKUs a call, of one product each when the platform needs it (Taobao)."""
    ordered = sorted(plans, key=lambda p: (p.product_id, p.sku_id))
    if not within_product:
        return [ordered[i:i + limit] for i in range(0, len(ordered), max(limit, 1))]
    per: dict[str, list[Plan]] = defaultdict(list)
    for p in ordered:
        per[p.product_id].append(p)
    return [group[i:i + limit] for group in per.values() for i in range(0, len(group), max(limit, 1))]


INTENT_GROUP = 200  # SKUs whose intent one transaction records (several one-SKU calls share it)
GROUP_CALLS = 20  # calls per group: between groups the pass looks for pushed changes (a few seconds apart)


def write_shop(rt: Any, shop_id: str, adapter: StorefrontStock, plans: Sequence[Plan], report: PassReport, *,
               serve_due: bool = False) -> None:
    """Write these SKUs: intent committed before the calls, each call's result after it. An intent recorded for a
    call the pass never made is harmless: the next pass sends it (for the first time)."""
    pending = batches(plans, adapter.stock_batch_limit, adapter.batch_within_product)
    while pending:
        if serve_due:
            fresh = _serve_due(rt, report)
            if fresh:  # written from newer figures than this pass planned with: not again, and not older
                pending = [kept for b in pending if (kept := [p for p in b if p.merchant_sku not in fresh])]
                if not pending:
                    return
        group: list[list[Plan]] = []
        while pending and len(group) < GROUP_CALLS and (
                not group or sum(map(len, group)) + len(pending[0]) <= INTENT_GROUP):
            group.append(pending.pop(0))
        if rt.stop.is_set():
            return
        _intent(rt, [p for batch in group for p in batch])
        for batch in group:
            if rt.stop.is_set():
                return
            if not _call(rt, shop_id, adapter, batch, report):
                return


def _serve_due(rt: Any, report: PassReport) -> set[str]:
    """A due pass inside a long pass; the merchant SKUs it looked at (written, or found already right)."""
    with rt.db.read() as s:
        if not intake.due(s):
            return set()
    inner = due_pass(rt)
    report.written += inner.written
    report.failed += inner.failed
    report.refused += inner.refused
    report.calls += inner.calls
    return inner.covered


def _call(rt: Any, shop_id: str, adapter: StorefrontStock, batch: Sequence[Plan], report: PassReport) -> bool:
    """One write call and its results; False when the shop's pass stops here (a failure of the whole call)."""
    try:
        results = adapter.write_stock([StockWrite(p.product_id, p.sku_id, p.value) for p in batch])
    except (ReauthorizationRequired, AuthError) as err:
        _failed(rt, batch, f"authorisation: {err}", "auth")
        report.shop_errors[shop_id] = f"{type(err).__name__}: {err}"[:300]
        report.failed += len(batch)
        COUNTERS.add(shop_id, 0, len(batch))
        raise
    except (TransientError, ProtocolError) as err:  # nothing known written: the intent stays, next pass resends
        _failed(rt, batch, f"{type(err).__name__}: {err}", getattr(err, "code", None) or "transient")
        report.shop_errors[shop_id] = f"{type(err).__name__}: {err}"[:300]
        report.failed += len(batch)
        report.calls += 1
        COUNTERS.add(shop_id, 0, len(batch))
        log.warning("shop %s: stock write of %d SKU(s) failed (%s); sent again next pass", shop_id, len(batch), err)
        return False
    report.calls += 1
    _results(rt, shop_id, batch, results, report)
    return True


def _intent(rt: Any, batch: Sequence[Plan]) -> None:
    now = clock.now()
    with rt.db.begin() as s:
        upsert(s, StockWritten, [{"shop_id": p.shop_id, "product_id": p.product_id, "sku_id": p.sku_id,
                                  "merchant_sku": p.merchant_sku, "pending": p.value, "pending_at": now,
                                  "attempts": 0} for p in batch],
               ["shop_id", "product_id", "sku_id"], update=["merchant_sku", "pending", "pending_at"])


def _failed(rt: Any, batch: Sequence[Plan], why: str, code: str) -> None:
    now = clock.now()
    with rt.db.begin() as s:
        s.execute(update(StockWritten).where(
            tuple_(StockWritten.shop_id, StockWritten.product_id, StockWritten.sku_id).in_(
                [(p.shop_id, p.product_id, p.sku_id) for p in batch]))
            .values(last_error=why[:500], error_code=code[:64], error_at=now, attempts=StockWritten.attempts + 1))


def _results(rt: Any, shop_id: str, batch: Sequence[Plan], results: Sequence[StockWriteResult],
             report: PassReport) -> None:
    now = clock.now()
    by_sku = {r.sku_id: r for r in results}
    done = [p for p in batch if (r := by_sku.get(p.sku_id)) is not None and r.ok]
    rest = [p for p in batch if p not in done]
    with rt.db.begin() as s:
        if done:  # the usual answer: one statement for the whole batch
            s.execute(update(StockWritten), [{
                "shop_id": p.shop_id, "product_id": p.product_id, "sku_id": p.sku_id, "value": p.value,
                "written_at": now, "pending": None, "pending_at": None, "refused": None, "attempts": 0,
                "last_error": p.note[:500] if p.note.startswith("held at") else None,
                "error_code": "floor" if p.note.startswith("held at") else None,
                "error_at": now if p.note.startswith("held at") else None} for p in done])
        for p in rest:
            w = s.get(StockWritten, (p.shop_id, p.product_id, p.sku_id))
            if w is None:
                continue
            _failure(shop_id, p, w, by_sku.get(p.sku_id), now, report)
    report.written += len(done)
    COUNTERS.add(shop_id, len(done), len(rest))


def _failure(shop_id: str, p: Plan, w: StockWritten, r: StockWriteResult | None, now: datetime,
             report: PassReport) -> None:
    """Record one SKU's failed write: unknown and retryable keep the intent; a refusal for good does not."""
    w.attempts += 1
    if r is None:  # the answer does not mention it: unknown, the intent stays
        w.last_error, w.error_code, w.error_at = "the platform's answer did not mention this SKU", "no-answer", now
        report.failed += 1
    elif r.retryable:
        w.last_error, w.error_code, w.error_at = (r.message or r.code)[:500], (r.code or "retry")[:64], now
        report.failed += 1
    else:  # refused for good: recorded, not sent again until the target or the floor changes
        w.pending, w.pending_at, w.refused = None, None, p.value
        w.last_error, w.error_code, w.error_at = (r.message or r.code)[:500], (r.code or "refused")[:64], now
        if r.floor is not None:
            w.floor = r.floor
        report.refused += 1
        log.warning("shop %s: %s (SKU %s) stock %d refused by the platform: %s%s", shop_id, p.merchant_sku,
                    p.sku_id, p.value, r.code, f" (floor {r.floor})" if r.floor is not None else "")


def due_pass(rt: Any) -> PassReport:
    """Write through what pushes and files changed (a supplier at zero → its listings at zero, now)."""
    started = clock.now()
    with rt.db.read() as s:
        pairs = intake.due(s)
    if not pairs:
        return PassReport()
    skus = routes_serving(rt.config.routes, pairs)
    report = run_pass(rt, skus=skus, read=False, serve_due=False) if skus else PassReport()
    report.covered = set(skus)
    # cleared even when a shop failed: its unfinished writes keep their intent and the next full pass sends them;
    # keeping the marks would make this job call a failing shop every few seconds
    with rt.db.begin() as s:
        intake.clear_due(s, pairs, started)
    return report

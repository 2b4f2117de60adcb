"""Upsert pulled orders: insert new ones, apply changes to known ones, never move backwards in time."""

from __future__ import annotations

import dataclasses
import threading
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, exists, insert, select, update
from sqlalchemy.orm import Session

from syncd.domain import PAST_SHIPPING, OrderIn, OrderStatus, ReceiverRef, RefundEvent, RefundState, order_refund_state
from syncd.jsoncodec import fingerprint
from syncd.lifecycle import AT_SUPPLIER, OrderState, SupplierOrderState, WritebackState
from syncd.store.models import Hold, Order, OrderLine, Shipment, SupplierOrder

CHUNK = 500


@dataclasses.dataclass
class UpsertResult:
    inserted: int = 0
    updated: int = 0
    stale: int = 0
    unchanged: int = 0
    # (platform order id, update time as Unix seconds, payload hash) of each version the database now holds
    versions: list[tuple[str, float, str]] = dataclasses.field(default_factory=list)


class CommittedVersions:
    """One shop's order versions this process committed lately, for ``list_orders(seen=...)``.

    Every stretch is read twice, fresh and settled (``syncd.stages.pull``): in a busy shop every shipped
    order comes back, and mapping and comparing it again is most of what that second read costs. An entry
    listed again with the update time and payload of a version recorded here is one the database holds
    (only committed versions are recorded, and a stored order never goes back to an older version), so the
    adapter may leave it out. Bounded: versions stamped before what the next settling read can list are
    forgotten as the cursors move.
    """

    def __init__(self) -> None:
        self._versions: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def unchanged(self, key: str, stamp: float, raw: Any) -> bool:
        with self._lock:
            got = self._versions.get(key)
        return got is not None and got[0] == stamp and got[1] == payload_hash(raw)

    def record(self, versions: Sequence[tuple[str, float, str]], keep_from: float) -> None:
        """After a commit: remember these versions; forget every version stamped before ``keep_from``."""
        with self._lock:
            for key, stamp, digest in versions:
                old = self._versions.get(key)
                if old is None or stamp >= old[0]:
                    self._versions[key] = (stamp, digest)
            stale = [k for k, (stamp, _) in self._versions.items() if stamp < keep_from]
            for k in stale:
                del self._versions[k]

    def __len__(self) -> int:
        return len(self._versions)


def lock_orders(s: Session, order_ids: Sequence[int]) -> None:
    """Lock these order rows (in id order, so two transactions cannot deadlock) before deciding from their
    children that an order moves on. Two replicas finishing an order's last two children at once would each
    see the other's still open (neither committed) and leave the order where it was for ever; with the lock
    the second waits, then sees the first's commit. A no-op on SQLite, which serialises writers anyway."""
    if order_ids and s.get_bind().dialect.name != "sqlite":  # SQLite has no row locks: the SELECT would be waste
        s.execute(_LOCK_ORDERS, {"order_ids": sorted(set(order_ids))})


# Built once: the write-back finishes orders one at a time, and building these expressions cost more CPU than
# running them (``syncd bench``: 2 of the stage's 3.6 ms per order).
_LOCK_ORDERS = (select(Order.id).where(Order.id.in_(bindparam("order_ids", expanding=True))).order_by(Order.id)
                .with_for_update())


def payload_hash(raw: Any) -> str:
    """A fingerprint of a platform payload, to tell a version read again (the window overlap) from a change
    stamped in the same second: canonical JSON's SHA-1 (:func:`syncd.jsoncodec.fingerprint`). Every re-read
    of every order pays for it, hence orjson."""
    return fingerprint(raw)


_RECEIVER_FIELDS = tuple(f.name for f in dataclasses.fields(ReceiverRef))


def _receiver_values(ref: ReceiverRef) -> dict[str, str]:
    # what dataclasses.asdict gives for these flat text fields, without its deep copies
    return {name: getattr(ref, name) for name in _RECEIVER_FIELDS}


def _order_values(o: OrderIn, digest: str) -> dict[str, Any]:
    return {"payload_hash": digest,
        "platform_status": o.platform_status, "status": o.status.value, "ready_to_ship": o.ready_to_ship,
        "not_ready_reason": o.not_ready_reason, "refund_state": o.refund_state.value,
        "payment_mode": o.payment_mode.value, "paid_at": o.paid_at, "ship_by": o.ship_by,
        "platform_created_at": o.created_at, "platform_updated_at": o.updated_at,
        "buyer_note": o.buyer_note, "seller_memo": o.seller_memo,
        "receiver": _receiver_values(o.receiver), "shipped_tracking": list(o.shipped_tracking), "raw": o.raw,
    }


_LINE_COLUMNS = (OrderLine.order_id, OrderLine.platform_line_id, OrderLine.platform_sku_id, OrderLine.merchant_sku,
                 OrderLine.title, OrderLine.spec, OrderLine.quantity, OrderLine.unit_price_fen, OrderLine.refund_state)


def _line_values(order_id: int, ln: Any) -> dict[str, Any]:
    return {"order_id": order_id, "platform_line_id": ln.platform_line_id, "platform_sku_id": ln.platform_sku_id,
            "merchant_sku": ln.merchant_sku, "title": ln.title, "spec": ln.spec, "quantity": ln.quantity,
            "unit_price_fen": ln.unit_price_fen, "refund_state": ln.refund_state.value}


def upsert_orders(s: Session, shop_id: str, orders: Sequence[OrderIn], now: datetime) -> UpsertResult:
    """Write one window's orders in the caller's transaction."""
    result = UpsertResult()
    latest: dict[str, OrderIn] = {}
    for o in orders:  # the same order twice in one window: keep the newest version
        if o.platform_order_id not in latest or o.updated_at >= latest[o.platform_order_id].updated_at:
            latest[o.platform_order_id] = o
    ids = list(latest)
    existing: dict[str, Any] = {}
    for i in range(0, len(ids), CHUNK):
        found = s.execute(select(Order.id, Order.platform_order_id, Order.platform_updated_at, Order.state,
                                 Order.payload_hash)
                          .where(Order.shop_id == shop_id, Order.platform_order_id.in_(ids[i:i + CHUNK])))
        existing.update({r.platform_order_id: r for r in found})

    new = [o for pid, o in latest.items() if pid not in existing]
    if new:
        digests = [payload_hash(o.raw) for o in new]
        result.versions += [(o.platform_order_id, o.updated_at.timestamp(), d)
                            for o, d in zip(new, digests, strict=True)]
        rows = [{"shop_id": shop_id, "platform_order_id": o.platform_order_id, **_order_values(o, d),
                 "state": OrderState.NEW.value, "first_seen_at": now, "updated_at": now}
                for o, d in zip(new, digests, strict=True)]
        inserted = s.execute(insert(Order).returning(Order.id, Order.platform_order_id), rows)
        id_of = {r.platform_order_id: r.id for r in inserted}
        line_rows = [_line_values(id_of[o.platform_order_id], ln) for o in new for ln in o.lines]
        if line_rows:
            s.execute(insert(OrderLine), line_rows)
        result.inserted = len(new)

    changed = []
    for pid, o in latest.items():
        row = existing.get(pid)
        if row is None:
            continue
        if o.updated_at < row.platform_updated_at:  # an older version: never move backwards
            result.stale += 1
            continue
        digest = payload_hash(o.raw)
        result.versions.append((pid, o.updated_at.timestamp(), digest))
        if o.updated_at == row.platform_updated_at and digest == row.payload_hash:
            result.unchanged += 1  # the same version read again (window overlap): nothing to do
            continue
        changed.append((row, o, digest))
    if changed:
        _apply_changes(s, changed, now)
        result.updated = len(changed)
    return result


def _apply_changes(s: Session, changed: list[tuple[Any, OrderIn, str]], now: datetime) -> None:
    order_ids = [row.id for row, _, _ in changed]
    updates = []
    for row, o, digest in changed:
        values = {"id": row.id, **_order_values(o, digest), "updated_at": now}
        if row.state == OrderState.HELD:
            values["recheck_at"] = now  # the order changed: an automatic hold is evaluated again now
        updates.append(values)
    s.execute(update(Order), updates)

    # Most changes are the order's own status (shipped, completed): lines as stored are left alone.
    stored = {(ln.order_id, ln.platform_line_id): ln for ln in s.execute(
        select(OrderLine.id, *_LINE_COLUMNS).where(OrderLine.order_id.in_(order_ids)))}
    line_updates, line_inserts = [], []
    for row, o, _ in changed:
        for ln in o.lines:
            values = _line_values(row.id, ln)
            old = stored.get((row.id, ln.platform_line_id))
            if old is None:
                line_inserts.append(values)
            elif any(getattr(old, k) != v for k, v in values.items()):
                line_updates.append({"id": old.id, **values})
    if line_updates:
        s.execute(update(OrderLine), line_updates)
    if line_inserts:
        s.execute(insert(OrderLine), line_inserts)

    react_to_stops(s, [(row.id, row.state) for row, o, _ in changed if must_not_ship(o)], now)


def must_not_ship(o: OrderIn) -> bool:
    """The storefront says this order must not ship: cancelled, a refund asked, or held back before shipping
    (unpaid again, a risk review). Shipped or completed on the storefront (our own upload read back) is no
    stop, although such an order is no longer "ready to ship" either."""
    if o.status == OrderStatus.CANCELLED or o.refund_state != RefundState.NONE:
        return True
    return not o.ready_to_ship and o.status not in PAST_SHIPPING


def finish_orders(s: Session, order_ids: list[int], now: datetime) -> None:
    """Orders whose every supplier order shipped and every parcel is on the storefront become shipped.

    Called where an order's last piece falls into place: the write-back of its last parcel, and the order
    becoming placed (a supplier can answer a file before the batch is recorded, so its parcels may be on the
    storefront while the order is still routed)."""
    if not order_ids:
        return
    lock_orders(s, order_ids)  # two replicas uploading its last two parcels at once: see lock_orders
    s.execute(_FINISH_ORDERS, {"order_ids": list(order_ids), "now": now})


_FINISH_ORDERS = update(Order).where(
    Order.id.in_(bindparam("order_ids", expanding=True)), Order.state == OrderState.PLACED,
    ~exists().where(SupplierOrder.order_id == Order.id, SupplierOrder.state.in_(
        [SupplierOrderState.PENDING, SupplierOrderState.PLACING, SupplierOrderState.PLACED])),
    ~exists().where(Shipment.order_id == Order.id, Shipment.writeback_state.in_(
        [WritebackState.PENDING, WritebackState.UPLOADING, WritebackState.REJECTED]))).values(
    state=OrderState.SHIPPED, updated_at=bindparam("now"))


AFTER_FORWARD = "refund or cancellation after the order was sent to the supplier: tell the supplier not to ship"


def react_to_stops(s: Session, stopped: list[tuple[int, str]], now: datetime) -> None:
    """Orders the storefront says must not ship (cancelled, refund asked, no longer ready).

    Every order with a supplier order at its supplier (:data:`AT_SUPPLIER`), whatever its own state (held ones
    included: a ``tracking_rejected`` order's goods are on their way), gets its cancellation requested and a
    notice a person can act on; the cancellation stage raises ``cancel_too_late`` where the supplier cannot stop
    it. Routed orders whose supplier orders all wait still are withdrawn and go back to the route stage, which
    holds or cancels them; held orders with nothing at a supplier are decided again by the route stage (the
    caller sets their ``recheck_at``).
    """
    sent = {oid for oid, state in stopped if state in (OrderState.PLACED, OrderState.SHIPPED)}
    maybe = sorted({oid for oid, state in stopped if state in (OrderState.ROUTED, OrderState.HELD)})
    for i in range(0, len(maybe), CHUNK):
        sent |= set(s.scalars(select(SupplierOrder.order_id).where(
            SupplierOrder.order_id.in_(maybe[i:i + CHUNK]), SupplierOrder.state.in_(AT_SUPPLIER))))
    routed = [oid for oid, state in stopped if state == OrderState.ROUTED and oid not in sent]
    if routed:
        s.execute(update(SupplierOrder).where(SupplierOrder.order_id.in_(routed),
                                              SupplierOrder.state == SupplierOrderState.PENDING)
                  .values(state=SupplierOrderState.CANCELLED, updated_at=now,
                          last_error="withdrawn: order changed on the storefront before it was sent"))
        s.execute(update(Order).where(Order.id.in_(routed), Order.state == OrderState.ROUTED)
                  .values(state=OrderState.NEW, recheck_at=None))
    if sent:
        s.execute(update(Order).where(Order.id.in_(sent)).values(last_error=AFTER_FORWARD, updated_at=now))
        request_cancellations(s, sorted(sent), now)


def apply_refund_events(s: Session, shop_id: str, events: Sequence[RefundEvent], now: datetime) -> int:
    """Record the refund stream on known orders (orders not pulled yet get it with their own pull)."""
    ids = sorted({e.platform_order_id for e in events})
    if not ids:  # a quiet stretch: nothing to look up (a fleet's every shop reads one every run)
        return 0
    orders = {r.platform_order_id: r for r in s.execute(
        select(Order.id, Order.platform_order_id, Order.state, Order.status, Order.ready_to_ship, Order.refund_state)
        .where(Order.shop_id == shop_id, Order.platform_order_id.in_(ids)))}
    if not orders:
        return 0
    order_ids = [r.id for r in orders.values()]
    lines: dict[int, dict[str, str]] = {}
    for ln in s.execute(select(OrderLine.id, OrderLine.order_id, OrderLine.platform_line_id, OrderLine.refund_state)
                        .where(OrderLine.order_id.in_(order_ids))):
        lines.setdefault(ln.order_id, {})[ln.platform_line_id] = ln.refund_state
    before = {oid: dict(own) for oid, own in lines.items()}
    touched: set[int] = set()
    for e in sorted(events, key=lambda e: e.updated_at):  # the latest word on a line wins
        row = orders.get(e.platform_order_id)
        if row is None:
            continue
        own = lines.setdefault(row.id, {})
        targets = [e.platform_line_id] if e.platform_line_id in own else list(own)
        for lid in targets:
            own[lid] = e.state.value
        touched.add(row.id)
    changed: set[int] = set()
    for oid in touched:
        old = before.get(oid, {})
        for lid, state in lines[oid].items():
            if old.get(lid) != state:  # the settling read lists unchanged events again: write only what changed
                s.execute(update(OrderLine).where(OrderLine.order_id == oid, OrderLine.platform_line_id == lid)
                          .values(refund_state=state))
                changed.add(oid)
    stopped = []
    updated = 0
    for row in orders.values():
        if row.id not in touched:
            continue
        refund = order_refund_state(lines[row.id].values())
        if row.id not in changed and refund.value == row.refund_state:
            continue  # an event read again: the order already reflects it, nothing to redo
        updated += 1
        values: dict[str, Any] = {"refund_state": refund.value, "updated_at": now}
        if row.state == OrderState.HELD:
            values["recheck_at"] = now
        s.execute(update(Order).where(Order.id == row.id).values(**values))
        if refund != RefundState.NONE:
            stopped.append((row.id, row.state))
    react_to_stops(s, stopped, now)
    return updated


def open_hold(s: Session, order_id: int, reason: str, detail: str, now: datetime, *, auto: bool) -> None:
    """Release any other open hold of the order and open this one (one open hold per order)."""
    open_holds(s, [(order_id, reason, detail)], now, auto=auto)


def open_holds(s: Session, holds: Sequence[tuple[int, str, str]], now: datetime, *, auto: bool) -> None:
    """:func:`open_hold` for many orders at once, ``(order id, reason, detail)`` each, in four statements at
    most whatever their number (a batch of routed orders may hold hundreds). One entry per order: the last
    entry of an order wins."""
    wanted = {order_id: (reason, detail) for order_id, reason, detail in holds}
    if not wanted:
        return
    superseded: list[int] = []
    details: list[dict[str, Any]] = []
    already: set[int] = set()  # orders already held for the reason wanted: the detail may change
    ids = list(wanted)
    for i in range(0, len(ids), CHUNK):
        for h in s.execute(select(Hold.id, Hold.order_id, Hold.reason, Hold.detail)
                           .where(Hold.order_id.in_(ids[i:i + CHUNK]), Hold.released_at.is_(None))):
            reason, detail = wanted[h.order_id]
            if h.reason != reason:
                superseded.append(h.id)
            else:
                already.add(h.order_id)
                if h.detail != detail:
                    details.append({"id": h.id, "detail": detail})
    for i in range(0, len(superseded), CHUNK):
        s.execute(update(Hold).where(Hold.id.in_(superseded[i:i + CHUNK]))
                  .values(released_at=now, released_by="superseded")
                  .execution_options(synchronize_session=False))
    if details:
        s.execute(update(Hold), details)
    new = [{"order_id": oid, "reason": reason, "detail": detail, "auto": auto, "created_at": now}
           for oid, (reason, detail) in wanted.items() if oid not in already]
    if new:
        s.execute(insert(Hold), new)


def release_holds(s: Session, order_ids: Sequence[int], now: datetime, by: str) -> None:
    if order_ids:
        s.execute(update(Hold).where(Hold.order_id.in_(list(order_ids)), Hold.released_at.is_(None))
                  .values(released_at=now, released_by=by).execution_options(synchronize_session=False))


def request_cancellations(s: Session, order_ids: Sequence[int], now: datetime) -> int:
    """Mark the supplier orders of refunded / cancelled orders for cancellation at their supplier (every
    supplier order when the whole order stops, else those holding a refunded line)."""
    if not order_ids:
        return 0
    orders = {r.id: r for r in s.execute(select(Order.id, Order.status, Order.refund_state)
                                         .where(Order.id.in_(order_ids)))}
    refunded: dict[int, set[str]] = defaultdict(set)
    for r in s.execute(select(OrderLine.order_id, OrderLine.platform_line_id).where(
            OrderLine.order_id.in_(order_ids), OrderLine.refund_state != "none")):
        refunded[r.order_id].add(r.platform_line_id)
    marked = []
    for so in s.execute(select(SupplierOrder.id, SupplierOrder.order_id, SupplierOrder.lines).where(
            SupplierOrder.order_id.in_(order_ids), SupplierOrder.cancel_state == "none",
            SupplierOrder.state.in_(AT_SUPPLIER))):
        o = orders[so.order_id]
        whole = o.status == "cancelled" or o.refund_state == "refunded"
        if whole or any(ln["platform_line_id"] in refunded[so.order_id] for ln in so.lines):
            marked.append(so.id)
    if marked:
        s.execute(update(SupplierOrder).where(SupplierOrder.id.in_(marked)).values(
            cancel_state="requested", next_check_at=None, updated_at=now))
    return len(marked)

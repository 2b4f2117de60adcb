"""forward: send routed supplier orders to their supplier — for file suppliers, as outbox batches.

Exactly once: the batch row and its members are recorded (the intent) before the file is written;
a batch left in ``writing`` by a crash is written again under the same name with the same orders.
Receivers are decrypted here, in the platform's batches filled across suppliers (``syncd.receivers``), and exist in
memory only.

One order never stops the file: a shop that cannot decrypt, or an order whose row cannot be built, is left out
of the batch with the reason on its supplier orders (``faults``, backoff in ``next_check_at``; a busy shop only
delays its orders) while the others are exported; after MAX_FAULTS the order is held for a person. A batch that
cannot be written again after a crash keeps its own orders and no longer keeps new ones from being exported.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from syncd import clock, details, shadow
from syncd.domain import OutboxBatch, OutboxRow, Receiver, ReceiverRef
from syncd.errors import AuthError, RejectedError, SyncdError, TransientError
from syncd.lifecycle import HoldReason, OrderState, SupplierOrderState
from syncd.protocols import FileSupplierAdapter
from syncd.runtime import Runtime
from syncd.stages.route import hold_order
from syncd.stages.runner import StageReport, audit, for_each_scope, stops_the_batch
from syncd.store.db import stage_lease
from syncd.store.models import ExportBatch, Order, SupplierOrder
from syncd.store.orders import finish_orders, lock_orders

log = logging.getLogger("syncd.forward")

MAX_PER_BATCH = 2000  # orders per outbox file: bounded memory, and a file a person can still open
MAX_FAULTS = 5  # failed exports of one order in a row (not a busy shop) before it is held for a person
FAULT_WAIT = timedelta(minutes=1)  # first backoff after a failed export; doubles after each further one
MAX_FAULT_WAIT = timedelta(hours=6)


def _receivers(rt: Runtime, supplier_id: str, orders: Sequence[Order]
               ) -> tuple[dict[int, Receiver | str], dict[int, Exception]]:
    """Decrypt shop by shop (:meth:`syncd.receivers.ReceiverPool.by_shop`): a storefront that cannot decrypt now
    holds up only its own orders. Returns the receivers, and per order id the error of a shop whose decryption
    failed."""
    receivers: dict[int, Receiver | str] = {}
    unreadable: dict[int, Exception] = {}
    for shop_id, shop_orders, got in rt.receivers.by_shop(rt, orders, name=f"decrypt-{supplier_id}"):
        if not isinstance(got, Exception):
            receivers.update(got)
            continue
        if isinstance(got, SyncdError):
            log.warning("supplier %s: shop %s could not decrypt the receivers of %d orders (%s); they wait, "
                        "the other shops' orders are exported", supplier_id, shop_id, len(shop_orders), got)
        else:
            log.error("supplier %s: shop %s: unexpected error decrypting the receivers of %d orders; they are "
                      "set aside, the other shops' orders are exported", supplier_id, shop_id,
                      len(shop_orders), exc_info=got)
        unreadable.update((o.id, got) for o in shop_orders)
    return receivers, unreadable


def _words(err: Exception) -> str:
    """An error as recorded on the row: a SyncdError says what happened, anything else names only its class
    (its text may hold a value from the order)."""
    return f"{type(err).__name__}: {err}" if isinstance(err, SyncdError) else f"unexpected error: {type(err).__name__}"


def _log_fault(supplier_id: str, order: Order, what: str, err: Exception) -> None:
    subject = f"order {order.shop_id}/{order.platform_order_id}"
    if isinstance(err, SyncdError):
        log.warning("supplier %s: %s: %s failed: %s; it is left out of this batch", supplier_id, subject, what, err)
    else:
        log.error("supplier %s: %s: %s failed with an unexpected error; it is left out of this batch", supplier_id,
                  subject, what, exc_info=err)


def fault_wait(faults: int) -> timedelta:
    """Backoff after the ``faults``-th failed export of an order in a row: doubling, capped."""
    return min(MAX_FAULT_WAIT, FAULT_WAIT * (1 << min(max(faults - 1, 0), 10)))


def _fault(rt: Runtime, s: Session, supplier_id: str, order: Order, sos: Sequence[SupplierOrder], err: Exception,
           now: datetime) -> None:
    """One order could not be made ready for the file: left out of this batch with the reason on its supplier
    orders. A shop that is busy or whose token is refused only delays it (the shop's trouble, alerted as such);
    anything else counts as a fault, waits for its backoff, and after MAX_FAULTS the order is held for a person."""
    words = f"not exported: {_words(err)}"[:500]
    ids = [so.id for so in sos]
    if isinstance(err, TransientError | AuthError):
        s.execute(update(SupplierOrder).where(SupplierOrder.id.in_(ids)).values(last_error=words, updated_at=now))
        return
    faults = max(so.faults or 0 for so in sos) + 1
    values: dict[str, Any] = {"faults": faults, "next_check_at": now + fault_wait(faults), "last_error": words,
                              "updated_at": now}
    if faults >= MAX_FAULTS:
        fresh = s.get(Order, order.id)
        if fresh is not None and fresh.state == OrderState.ROUTED:
            values.update(faults=0, next_check_at=None)
            hold_order(s, fresh, HoldReason.SUPPLIER_REJECTED,
                       f"supplier {supplier_id}: the order could not be made ready for its export file {faults} "
                       f"times ({_words(err)}); check the shop's decryption or the order, then release it", now,
                       auto=False)
    s.execute(update(SupplierOrder).where(SupplierOrder.id.in_(ids),
                                          SupplierOrder.state == SupplierOrderState.PENDING).values(**values))


def _rows(supplier_orders: Sequence[SupplierOrder], orders: dict[int, Order],
          receivers: dict[int, Receiver | str], rt: Runtime) -> list[OutboxRow]:
    rows = []
    for so in supplier_orders:
        o = orders[so.order_id]
        r = receivers.get(o.id)
        if not isinstance(r, Receiver):  # only on re-writing a batch whose order can no longer be decrypted
            masked = ReceiverRef(**o.receiver)
            r = Receiver(masked.name_masked, masked.phone_masked, masked.province, masked.city, masked.district,
                         masked.street, masked.address_masked)
        shop = rt.config.shops.get(o.shop_id)
        remark = "；".join(p for p in (o.buyer_note, o.seller_memo) if p)
        for ln in so.lines:
            rows.append(OutboxRow(
                order_no=o.platform_order_id, sub_order_no=ln["platform_line_id"], receiver_name=r.name,
                receiver_phone=r.phone, province=r.province, city=r.city, district=r.district,
                address=r.full_address(), supplier_sku=ln["supplier_sku"], title=ln.get("title", ""),
                spec=ln.get("spec", ""), quantity=int(ln["quantity"]), remark=remark,
                shop=(shop.name or shop.id) if shop else o.shop_id, paid_at=o.paid_at))
    return rows


def write_batch(rt: Runtime, supplier_id: str, batch_id: int,
                receivers: dict[int, Receiver | str] | None = None) -> str:
    """Write (or write again) one batch file and mark its orders placed."""
    adapter = rt.suppliers[supplier_id]
    with rt.db.read() as s:
        batch = s.get(ExportBatch, batch_id)
        assert batch is not None
        sos = list(s.scalars(select(SupplierOrder).where(SupplierOrder.batch_id == batch_id)
                             .order_by(SupplierOrder.id)))
        orders = {o.id: o for o in s.scalars(select(Order).where(Order.id.in_([so.order_id for so in sos])))}
        stem, created = batch.file_stem, batch.created_at
    if receivers is None:  # written again (a batch a crash left unwritten): its shops asked as the export asks them
        receivers = {}
        for _shop, _orders, got in rt.receivers.by_shop(rt, list(orders.values()), name=f"decrypt-{supplier_id}"):
            if isinstance(got, Exception):
                raise got  # as before: the batch waits for its next attempt whole
            receivers.update(got)
    rows = _rows(sos, orders, receivers, rt)
    name = adapter.write_batch(OutboxBatch(batch_id, supplier_id, created, stem, rows))
    now = clock.now()
    with rt.db.begin() as s:
        s.execute(update(ExportBatch).where(ExportBatch.id == batch_id)
                  .values(state="written", file_name=name, row_count=len(rows), written_at=now))
        s.execute(update(SupplierOrder).where(SupplierOrder.batch_id == batch_id,
                                              SupplierOrder.state == SupplierOrderState.PLACING)
                  .values(state=SupplierOrderState.PLACED, placed_at=now, updated_at=now))
        s.execute(update(SupplierOrder).where(SupplierOrder.batch_id == batch_id, SupplierOrder.placed_at.is_(None))
                  .values(placed_at=now))  # answered before the batch was recorded (see collect.SENT)
        order_ids = list(orders)
        _mark_orders_placed(s, order_ids, now)
        audit(s, rt, supplier_id, "export_batch", f"batch {batch_id}", key=stem, outcome="ok",
              detail=f"{name}: {len(sos)} orders, {len(rows)} rows")
    log.info("supplier %s: wrote %s (%d orders)", supplier_id, name, len(sos))
    return name


def _mark_orders_placed(s: Session, order_ids: list[int], now: datetime) -> None:
    if not order_ids:
        return
    lock_orders(s, order_ids)  # two replicas placing its last two supplier orders at once: see lock_orders
    open_states = [SupplierOrderState.PENDING, SupplierOrderState.PLACING]
    still_open = set(s.scalars(select(SupplierOrder.order_id).where(
        SupplierOrder.order_id.in_(order_ids), SupplierOrder.state.in_(open_states))))
    done = [i for i in order_ids if i not in still_open]
    if done:
        s.execute(update(Order).where(Order.id.in_(done), Order.state == OrderState.ROUTED)
                  .values(state=OrderState.PLACED, updated_at=now))
        finish_orders(s, done, now)  # shipped and written back already: see finish_orders


def _file_stem(supplier_id: str, now: datetime, batch_id: int) -> str:
    local = clock.ensure_utc(now).astimezone(clock.SHANGHAI).strftime("%Y%m%d-%H%M%S")
    return f"{supplier_id}-{local}-b{batch_id:06d}"


def _idle(rt: Runtime, supplier_id: str, adapter: FileSupplierAdapter) -> bool:
    """Whether this run has nothing to do for the supplier, read in one statement without its lease: no batch
    left half-written, no cancellation to pass on, and no new batch due or nothing waiting for one. The stage
    runs every few seconds and a supplier's batch is due every few minutes: most runs end here."""
    writing = select(ExportBatch.id).where(ExportBatch.supplier_id == supplier_id,
                                           ExportBatch.state == "writing").exists()
    last = (select(func.max(ExportBatch.created_at))
            .where(ExportBatch.supplier_id == supplier_id, ExportBatch.kind == "orders").scalar_subquery())
    cancels = select(SupplierOrder.id).where(SupplierOrder.supplier_id == supplier_id,
                                             SupplierOrder.cancel_state == "requested").exists()
    waiting = select(SupplierOrder.id).where(SupplierOrder.supplier_id == supplier_id,
                                             SupplierOrder.state == SupplierOrderState.PENDING).exists()
    with rt.db.read() as s:
        row = s.execute(select(writing, last, cancels, waiting)).one()
    unfinished, last_batch, cancel, pending = row
    due = pending and adapter.batch_due(last_batch, clock.now())
    return not (unfinished or cancel or due)


def forward_file_supplier(rt: Runtime, supplier_id: str, adapter: FileSupplierAdapter) -> int:
    """Finish interrupted batches, then export what is pending when a batch is due."""
    if _idle(rt, supplier_id, adapter):
        return 0
    with stage_lease(rt.db, f"forward:{supplier_id}", rt.holder, timedelta(minutes=15)):
        with rt.db.read() as s:
            unfinished = list(s.execute(select(ExportBatch.id, ExportBatch.kind).where(
                ExportBatch.supplier_id == supplier_id, ExportBatch.state == "writing").order_by(ExportBatch.id)))
            last = s.scalar(select(func.max(ExportBatch.created_at)).where(ExportBatch.supplier_id == supplier_id,
                                                                          ExportBatch.kind == "orders"))
        stuck: Exception | None = None
        for batch_id, kind in unfinished:
            log.warning("supplier %s: batch %d was interrupted; writing it again", supplier_id, batch_id)
            try:
                if kind == "cancel":
                    write_cancel_batch(rt, supplier_id, batch_id)
                else:
                    write_batch(rt, supplier_id, batch_id)
            except Exception as err:
                if stops_the_batch(err):
                    raise
                # Its orders are claimed by that batch (``placing``) and wait for it; the pending ones can still go.
                stuck = stuck or err
        cancel_file_orders(rt, supplier_id)
        now = clock.now()
        exported = _export_pending(rt, supplier_id, now) if adapter.batch_due(last, now) else 0
        if stuck is not None:
            raise stuck  # recorded as this supplier's failure; the batch is written again next run
        return exported


def _export_pending(rt: Runtime, supplier_id: str, now: datetime) -> int:
    """One new batch of what is pending: every order that can be exported now, the others set aside."""
    with rt.db.begin() as s:
        pending = list(s.scalars(
            select(SupplierOrder)
            .join(Order, Order.id == SupplierOrder.order_id)
            .where(SupplierOrder.supplier_id == supplier_id, SupplierOrder.state == SupplierOrderState.PENDING,
                   # a reship belongs to an order placed or shipped long ago (as supplier_api places them)
                   or_(Order.state == OrderState.ROUTED, SupplierOrder.kind == "reship"),
                   # an order whose export failed waits for its backoff (see _fault)
                   or_(SupplierOrder.next_check_at.is_(None), SupplierOrder.next_check_at <= now),
                   shadow.live_orders(rt.config))  # a shadow shop's orders are never exported
            .order_by(SupplierOrder.id).limit(MAX_PER_BATCH)))
        if not pending:
            return 0
        orders = {o.id: o for o in s.scalars(select(Order).where(Order.id.in_({p.order_id for p in pending})))}
    receivers, unreadable = _receivers(rt, supplier_id, list(orders.values()))
    failed = dict(unreadable)
    for so in pending:  # a row one order's data cannot fill leaves that order out, not the whole file
        if so.order_id in failed or not isinstance(receivers.get(so.order_id), Receiver):
            continue
        try:
            _rows([so], orders, receivers, rt)
        except Exception as err:
            if stops_the_batch(err):
                raise
            failed[so.order_id] = err
            _log_fault(supplier_id, orders[so.order_id], "building its export row", err)
    now = clock.now()
    with rt.db.begin() as s:
        ok_orders = set()
        for o in orders.values():
            if o.id in failed:
                _fault(rt, s, supplier_id, o, [so for so in pending if so.order_id == o.id], failed[o.id], now)
                continue
            r = receivers[o.id]
            problem = details.receiver_problem(r)
            if problem:
                fresh = s.get(Order, o.id)
                if fresh is not None and fresh.state == OrderState.ROUTED:
                    hold_order(s, fresh, HoldReason.ADDRESS_INCOMPLETE,
                               details.AFTER_DECRYPTION.format(problem=problem), now, auto=True)
            else:
                ok_orders.add(o.id)
        so_ids = [p.id for p in pending if p.order_id in ok_orders]
        if not so_ids:
            return 0
        batch = ExportBatch(supplier_id=supplier_id, kind="orders", state="writing", file_stem="",
                            created_at=now)
        s.add(batch)
        s.flush()
        batch.file_stem = _file_stem(supplier_id, now, batch.id)
        # Guarded: only rows still pending join the batch (a pull may have withdrawn one meanwhile).
        claimed = s.execute(update(SupplierOrder).where(SupplierOrder.id.in_(so_ids),
                                                        SupplierOrder.state == SupplierOrderState.PENDING)
                            .values(state=SupplierOrderState.PLACING, batch_id=batch.id, updated_at=now,
                                    faults=0, next_check_at=None))
        audit(s, rt, supplier_id, "export_batch", f"batch {batch.id}", key=batch.file_stem, outcome="intent",
              detail=f"{claimed.rowcount} orders")  # type: ignore[attr-defined]
        batch_id = batch.id
    write_batch(rt, supplier_id, batch_id, receivers)
    return len(so_ids)


def _cancel_marker(batch_id: int) -> str:
    return f"cancel batch {batch_id}:"


def cancel_file_orders(rt: Runtime, supplier_id: str) -> int:
    """Refunded orders a file supplier already received: a cancellation file in the outbox (the supplier's
    people read it; an operator notice follows from the alert rules). Shipped ones are flagged for a person."""
    now = clock.now()
    with rt.db.begin() as s:
        s.execute(update(SupplierOrder).where(
            SupplierOrder.supplier_id == supplier_id, SupplierOrder.cancel_state == "requested",
            SupplierOrder.state == SupplierOrderState.SHIPPED).values(
            cancel_state="too_late", updated_at=now,
            cancel_detail="the supplier had already sent tracking: intercept the parcel or arrange a return"))
        s.execute(update(SupplierOrder).where(
            SupplierOrder.supplier_id == supplier_id, SupplierOrder.cancel_state == "requested",
            SupplierOrder.state == SupplierOrderState.PENDING).values(
            cancel_state="cancelled", state=SupplierOrderState.CANCELLED, updated_at=now,
            cancel_detail="never sent to the supplier"))
        ids = list(s.scalars(select(SupplierOrder.id).where(
            SupplierOrder.supplier_id == supplier_id, SupplierOrder.cancel_state == "requested",
            SupplierOrder.state == SupplierOrderState.PLACED).order_by(SupplierOrder.id).limit(MAX_PER_BATCH)
            .with_for_update(skip_locked=True)))
        ids = _cancellable(rt, s, supplier_id, ids, now) if ids else ids  # nothing to cancel: no more queries
        if not ids:
            return 0
        batch = ExportBatch(supplier_id=supplier_id, kind="cancel", state="writing", file_stem="", created_at=now)
        s.add(batch)
        s.flush()
        batch.file_stem = _file_stem(supplier_id, now, batch.id) + "-cancel"
        s.execute(update(SupplierOrder).where(SupplierOrder.id.in_(ids)).values(
            cancel_state="notified", cancel_detail=f"{_cancel_marker(batch.id)} writing", updated_at=now))
        audit(s, rt, supplier_id, "cancel_file", f"batch {batch.id}", key=batch.file_stem, outcome="intent",
              detail=f"{len(ids)} orders")
        batch_id = batch.id
    write_cancel_batch(rt, supplier_id, batch_id)
    return len(ids)


def _cancellable(rt: Runtime, s: Session, supplier_id: str, ids: list[int], now: datetime) -> list[int]:
    """The supplier orders whose cancellation row can be written. One whose row cannot be built would leave the
    file unwritten for every order in it, run after run: it is left out and handed to a person (``too_late``
    raises the cancel_too_late alert naming it)."""
    sos = list(s.scalars(select(SupplierOrder).where(SupplierOrder.id.in_(ids)).order_by(SupplierOrder.id)))
    orders = {o.id: o for o in s.scalars(select(Order).where(Order.id.in_({so.order_id for so in sos})))}
    good = []
    for so in sos:
        try:
            _rows([so], orders, {}, rt)
        except Exception as err:
            if stops_the_batch(err):
                raise
            _log_fault(supplier_id, orders[so.order_id], "building its cancellation row", err)
            s.execute(update(SupplierOrder).where(SupplierOrder.id == so.id).values(
                cancel_state="too_late", updated_at=now, cancel_detail=(
                    f"the cancellation file could not list it ({_words(err)}): tell the supplier yourself not to "
                    "ship it")[:500]))
        else:
            good.append(so.id)
    return good


def write_cancel_batch(rt: Runtime, supplier_id: str, batch_id: int) -> str:
    """Write (or write again) one cancellation file: the orders the supplier must not ship."""
    adapter = rt.suppliers[supplier_id]
    marker = _cancel_marker(batch_id)
    with rt.db.read() as s:
        batch = s.get(ExportBatch, batch_id)
        assert batch is not None
        sos = list(s.scalars(select(SupplierOrder).where(SupplierOrder.supplier_id == supplier_id,
                                                         SupplierOrder.cancel_detail.startswith(marker))
                             .order_by(SupplierOrder.id)))
        orders = {o.id: o for o in s.scalars(select(Order).where(Order.id.in_([so.order_id for so in sos])))}
        stem, created = batch.file_stem, batch.created_at
    rows = _rows(sos, orders, {}, rt)  # masked receivers: a cancellation needs the order, not the address
    for row in rows:
        row.remark = "取消订单，请勿发货 (cancelled: do not ship)"
    name = adapter.write_batch(OutboxBatch(batch_id, supplier_id, created, stem, rows, kind="cancel"))
    now = clock.now()
    with rt.db.begin() as s:
        s.execute(update(ExportBatch).where(ExportBatch.id == batch_id)
                  .values(state="written", file_name=name, row_count=len(rows), written_at=now))
        s.execute(update(SupplierOrder).where(SupplierOrder.id.in_([so.id for so in sos])).values(
            cancel_detail=f"{marker} {name} written; confirm with the supplier that it will not ship"))
        audit(s, rt, supplier_id, "cancel_file", f"batch {batch_id}", key=stem, outcome="ok",
              detail=f"{name}: {len(sos)} orders")
    log.warning("supplier %s: wrote cancellation file %s (%d orders): the supplier must not ship them",
                supplier_id, name, len(sos))
    return name


def run(rt: Runtime, report: StageReport) -> None:
    from syncd.stages import supplier_api

    # API suppliers first: a line their stock check sends to a drop-folder fallback then joins that
    # supplier's waiting order and leaves in this run's batch, instead of in a second batch later. Each in a
    # worker of its own: a 1688 account waiting out its rate budget (three calls a supplier order at 5 a second
    # each) holds up neither the webhook supplier nor, past a share of the interval, the drop-folder exports; its
    # run finishes in the pool (runner.for_each_scope) and what it sends to a fallback leaves in the next batch.
    def place(supplier_id: str) -> int:
        api = rt.api_suppliers[supplier_id]
        return (supplier_api.cancel_orders(rt, supplier_id, api)
                + supplier_api.place_orders(rt, supplier_id, api, on_more=report.again))

    # The drop-folder exports work in the same pool, after the API suppliers' share of the wait: a big batch
    # (its receivers read from every shop, a slow one's at its pace) took 20 s in a fifty-shop run, and while the
    # stage's own thread wrote it no API supplier could start its next run — 1688's budgets stood idle.
    scopes = len(rt.api_suppliers) + len(rt.suppliers)
    started = clock.now()
    for_each_scope(rt, report, list(rt.api_suppliers), place, scopes=scopes)
    if len(rt.api_suppliers) > 1 and not rt.stop.is_set():
        # a line one API supplier was short of went to another API supplier as its fallback during this pass:
        # that one places it now, as it did when the suppliers took turns, not a whole interval later
        with rt.db.read() as s:
            fell_back = set(s.scalars(select(SupplierOrder.supplier_id).distinct().where(
                SupplierOrder.supplier_id.in_(list(rt.api_suppliers)),
                SupplierOrder.state == SupplierOrderState.PENDING, SupplierOrder.created_at >= started)))
        if fell_back:
            for_each_scope(rt, report, sorted(fell_back), place, scopes=scopes)
    for_each_scope(rt, report, list(rt.suppliers), lambda sid: forward_file_supplier(rt, sid, rt.suppliers[sid]),
                   scopes=scopes)


def reexport(rt: Runtime, batch_id: int) -> str:
    """``syncd suppliers reexport BATCH``: write a batch file again, same name, same orders."""
    with rt.db.begin() as s:
        batch = s.get(ExportBatch, batch_id)
        if batch is None:
            raise RejectedError(f"there is no batch {batch_id}")
        supplier_id, kind = batch.supplier_id, batch.kind
    if supplier_id not in rt.suppliers:
        raise RejectedError(f"batch {batch_id} belongs to supplier {supplier_id}, which is not configured")
    if kind == "cancel":
        return write_cancel_batch(rt, supplier_id, batch_id)
    return write_batch(rt, supplier_id, batch_id)

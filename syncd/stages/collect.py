"""collect: import the reply files suppliers dropped in their inbox; each valid row records a shipment.

A file is imported once (by its SHA-256, in the same transaction as its shipments); a row that names an
unknown order, or a tracking number already used by another order, is rejected into ``.errors.csv``. A file that
makes the import fail (an unreadable file, our own bug) is recorded and moved to rejected/ with the reason; the
files after it go on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from syncd import clock
from syncd.domain import InboxFile, ParsedInbox, RowError
from syncd.errors import SyncdError
from syncd.lifecycle import SupplierOrderState, WritebackState
from syncd.protocols import FileSupplierAdapter
from syncd.runtime import Runtime
from syncd.stages.runner import StageReport, for_each_scope, stops_the_batch
from syncd.stock import intake as stock_intake
from syncd.store.db import stage_lease
from syncd.store.models import InboxFileRecord, Order, Shipment, SupplierOrder

log = logging.getLogger("syncd.collect")

MAX_FILES_PER_RUN = 200
# A supplier can only quote an order it received: PLACING means its file was (being) written, and a crash may
# have stopped the daemon before it recorded that.
SENT = (SupplierOrderState.PLACING, SupplierOrderState.PLACED, SupplierOrderState.SHIPPED)


def _match(s: Session, supplier_id: str, order_nos: set[str]) -> dict[str, Any]:
    """Order number as the supplier quotes it (storefront order id, or our supplier-order key) → supplier order."""
    if not order_nos:
        return {}
    cols = (SupplierOrder.id, SupplierOrder.order_id, SupplierOrder.state, SupplierOrder.idempotency_key,
            SupplierOrder.lines, SupplierOrder.supplier_id, Order.platform_order_id)
    base = select(*cols).join(Order, Order.id == SupplierOrder.order_id)
    # Two lookups, each on its own index (an OR across the two tables would scan them whole). The supplier is
    # checked here, not in SQL: given it, SQLite walks every supplier order of the supplier instead.
    found = {r.id: r for cond in (Order.platform_order_id.in_(order_nos), SupplierOrder.idempotency_key.in_(order_nos))
             for r in s.execute(base.where(cond)) if r.supplier_id == supplier_id}
    rows = [found[k] for k in sorted(found)]
    out: dict[str, Any] = {}
    for r in rows:  # prefer a supplier order that was actually sent; among those the newest
        for key in (r.platform_order_id, r.idempotency_key):
            if key in order_nos and (key not in out or r.state in SENT or out[key].state not in SENT):
                out[key] = r
    return out


def import_rows(s: Session, supplier_id: str, file: InboxFile, parsed: ParsedInbox) -> list[RowError]:
    """Record the shipments of one parsed file in the caller's transaction; returns every rejected row."""
    now = clock.now()
    errors = list(parsed.errors)
    matched = _match(s, supplier_id, {r.order_no for r in parsed.rows})
    numbers = {tn for r in parsed.rows for tn in r.tracking_nos}
    used: dict[str, int] = {}
    known: set[tuple[int, str]] = set()
    if numbers:
        for sh in s.execute(select(Shipment.tracking_no, Shipment.order_id, Shipment.supplier_order_id)
                            .where(Shipment.tracking_no.in_(numbers))):
            used.setdefault(sh.tracking_no, sh.order_id)
            known.add((sh.supplier_order_id, sh.tracking_no))
    new_rows: list[dict[str, Any]] = []
    shipped_sos: set[int] = set()
    provinces = {oid: str((rcv or {}).get("province", ""))[:32] for oid, rcv in s.execute(
        select(Order.id, Order.receiver).where(Order.id.in_({so.order_id for so in matched.values()})))}
    for row in parsed.rows:
        so = matched.get(row.order_no)
        if so is None:
            errors.append(RowError(row.row_no, f"unknown order number {row.order_no}: no order was sent to "
                                               f"supplier {supplier_id} under that number", row.raw))
            continue
        if so.state == SupplierOrderState.CANCELLED:
            errors.append(RowError(row.row_no, f"order {row.order_no} was cancelled before it was sent; "
                                               "a person must check this parcel", row.raw))
            continue
        if so.state not in SENT:
            errors.append(RowError(row.row_no, f"order {row.order_no} has not been sent to this supplier yet",
                                   row.raw))
            continue
        lines = None
        if row.sub_order_no:
            line = next((ln for ln in so.lines if ln["platform_line_id"] == row.sub_order_no), None)
            if line is None:
                errors.append(RowError(row.row_no, f"sub-order {row.sub_order_no} is not part of order "
                                                   f"{row.order_no} at this supplier", row.raw))
                continue
            lines = [{"platform_line_id": line["platform_line_id"],
                      "quantity": int(line.get("storefront_quantity", line["quantity"]))}]
        for tn in row.tracking_nos:
            other = used.get(tn)
            if other is not None and other != so.order_id:
                errors.append(RowError(row.row_no, f"tracking number {tn} is already used by another order", row.raw))
                continue
            if (so.id, tn) in known:
                continue  # the same parcel listed on several lines (one per product), or a file sent again
            known.add((so.id, tn))
            used[tn] = so.order_id
            new_rows.append({"order_id": so.order_id, "supplier_order_id": so.id, "carrier": row.carrier,
                             "carrier_text": row.carrier_text[:64], "tracking_no": tn, "lines": lines,
                             "source": file.name[:255], "writeback_state": WritebackState.PENDING,
                             "writeback_attempts": 0, "logistics_state": "none", "created_at": now,
                             "handed_over_at": now, "province": provinces.get(so.order_id, "")})
            shipped_sos.add(so.id)
    if new_rows:
        s.execute(insert(Shipment), new_rows)
    if shipped_sos:
        s.execute(update(SupplierOrder).where(SupplierOrder.id.in_(shipped_sos),
                                              SupplierOrder.state.in_([SupplierOrderState.PLACING,
                                                                       SupplierOrderState.PLACED]))
                  .values(state=SupplierOrderState.SHIPPED, shipped_at=now, updated_at=now))
    s.add(InboxFileRecord(supplier_id=supplier_id, file_name=file.name[:255], sha256=file.sha256,
                          rows_ok=len(new_rows), rows_rejected=len(errors), file_error=parsed.file_error,
                          errors=[{"row_no": e.row_no, "reason": e.reason, "raw": e.raw} for e in errors],
                          processed_at=now))
    return errors


def collect_file_supplier(rt: Runtime, supplier_id: str, adapter: FileSupplierAdapter) -> int:
    """Import the reply files waiting in the supplier's inbox, under its lease. An empty inbox (most runs: the
    stage runs every few seconds, a supplier replies a few times a day) costs no lease and no transaction."""
    if not adapter.list_inbox(clock.now()):
        return 0
    with stage_lease(rt.db, f"collect:{supplier_id}", rt.holder, timedelta(minutes=15)):
        imported = 0
        for file in adapter.list_inbox(clock.now())[:MAX_FILES_PER_RUN]:
            if rt.stop.is_set():
                break
            try:
                imported += _collect_file(rt, supplier_id, adapter, file)
            except Exception as err:  # one file we cannot read or move must not hold up the files after it
                if stops_the_batch(err):
                    raise  # the database or the disk itself: the other files would fail the same way
                _file_failed(rt, supplier_id, adapter, file, err)
        return imported


def _collect_file(rt: Runtime, supplier_id: str, adapter: FileSupplierAdapter, file: InboxFile) -> int:
    """Import one reply file (once, by its SHA-256) and move it out of the inbox; 1 when it was imported."""
    with rt.db.read() as s:
        seen = s.scalar(select(InboxFileRecord).where(InboxFileRecord.supplier_id == supplier_id,
                                                      InboxFileRecord.sha256 == file.sha256))
        previous = None if seen is None else (seen.file_name, seen.file_error, _errors(seen.errors))
    if previous is not None:
        # Imported before (a crash before the move, or the same file dropped again): nothing changes.
        log.info("supplier %s: %s was imported before (as %s); moved aside", supplier_id, file.name, previous[0])
        adapter.finish_inbox(file, previous[2], previous[1])
        return 0
    parsed = adapter.parse_inbox(file)
    with rt.db.begin() as s:
        errors = import_rows(s, supplier_id, file, parsed) if parsed.file_error is None else []
        if parsed.kind == "stock" and parsed.file_error is None:  # a 库存表: figures in, due at once (issue 19)
            stock_intake.record_file(s, supplier_id, parsed.stock, file.name)
        if parsed.file_error is not None:
            s.add(InboxFileRecord(supplier_id=supplier_id, file_name=file.name[:255], sha256=file.sha256,
                                  rows_ok=0, rows_rejected=0, file_error=parsed.file_error, errors=[],
                                  processed_at=clock.now()))
    moved = adapter.finish_inbox(file, errors, parsed.file_error)
    if parsed.file_error:
        log.error("supplier %s: file %s rejected: %s (moved to %s)", supplier_id, file.name, parsed.file_error, moved)
    elif errors:
        log.warning("supplier %s: %s: %d rows rejected, see %s.errors.csv", supplier_id, file.name, len(errors),
                    moved)
    else:
        log.info("supplier %s: %r imported (moved to %s)", supplier_id, file.name, moved)
    return 1


def _file_failed(rt: Runtime, supplier_id: str, adapter: FileSupplierAdapter, file: InboxFile,
                 err: Exception) -> None:
    """A file that made the import fail: rejected with the reason (recorded, moved aside), never retried blindly.
    When it cannot even be moved it stays in the inbox, and the next run tries it again after the others."""
    reason = f"could not be imported: {type(err).__name__}" + (f": {err}" if isinstance(err, SyncdError | OSError)
                                                               else "")
    log.error("supplier %s: file %r %s; the other files go on", supplier_id, file.name, reason,
              exc_info=not isinstance(err, SyncdError | OSError))
    with rt.db.begin() as s:
        imported = s.scalar(select(InboxFileRecord.id).where(InboxFileRecord.supplier_id == supplier_id,
                                                             InboxFileRecord.sha256 == file.sha256))
        if imported is None:
            s.add(InboxFileRecord(supplier_id=supplier_id, file_name=file.name[:255], sha256=file.sha256, rows_ok=0,
                                  rows_rejected=0, file_error=reason[:2000], errors=[], processed_at=clock.now()))
    if imported is not None:
        return  # its rows are in: only the move failed; the next run moves it aside
    try:
        adapter.finish_inbox(file, [], reason)
    except OSError as move_err:
        log.error("supplier %s: file %r cannot be moved out of the inbox: %s", supplier_id, file.name, move_err)


def _errors(raw: Sequence[dict[str, Any]]) -> list[RowError]:
    return [RowError(int(e["row_no"]), str(e["reason"]), dict(e.get("raw") or {})) for e in raw]


def run(rt: Runtime, report: StageReport) -> None:
    from syncd.stages import supplier_api

    # Every supplier in a worker of its own, as in forward: an API supplier waiting out its budget holds up no
    # other, and a big reply file being imported holds up no API supplier's next run (the stage's own thread
    # only waits its share of the interval).
    scopes = len(rt.suppliers) + len(rt.api_suppliers)
    for_each_scope(rt, report, list(rt.suppliers),
                   lambda supplier_id: collect_file_supplier(rt, supplier_id, rt.suppliers[supplier_id]), scopes=scopes)
    for_each_scope(rt, report, list(rt.api_suppliers),
                   lambda supplier_id: supplier_api.follow_orders(rt, supplier_id, rt.api_suppliers[supplier_id]),
                   scopes=scopes)

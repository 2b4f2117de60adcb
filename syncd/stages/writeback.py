"""writeback: upload carrier + tracking number to the storefront, once per parcel.

Shipments are claimed (``uploading`` with a claim deadline; SKIP LOCKED on PostgreSQL) and the intent is
audited before the call. A claim left by a crash expires and the parcel is sent again: the adapters make
that safe (Douyin's deterministic ``request_id``; "already shipped" verified against the tracking number).
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from syncd import clock
from syncd.domain import Parcel, ParcelLine
from syncd.errors import AuthError, RejectedError, TransientError
from syncd.lifecycle import HoldReason, OrderState, SupplierOrderState, WritebackState
from syncd.runtime import Runtime
from syncd.stages.route import hold_order
from syncd.stages.runner import StageReport, audit, scope, shop_paused
from syncd.store.models import Order, OrderLine, Shipment, SupplierOrder

log = logging.getLogger("syncd.writeback")

MAX_BATCHES_PER_RUN = 200
CLAIM_BATCH = 100  # small claims: a crashed replica leaves little behind


def request_id(shop_id: str, platform_order_id: str, tracking_no: str) -> str:
    """Deterministic per (order, parcel): the same parcel always carries the same id."""
    return hashlib.sha256(f"{shop_id}|{platform_order_id}|{tracking_no}".encode()).hexdigest()[:32]


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 30 * 2 ** min(attempts, 7)))


def _claim(rt: Runtime, s: Session, shop_id: str, now: datetime) -> list[int]:
    ready = and_(Shipment.writeback_state == WritebackState.PENDING,
                 or_(Shipment.next_attempt_at.is_(None), Shipment.next_attempt_at <= now))
    abandoned = and_(Shipment.writeback_state == WritebackState.UPLOADING, Shipment.claim_until < now)
    ids = list(s.scalars(
        select(Shipment.id).join(Order, Order.id == Shipment.order_id)
        .where(Order.shop_id == shop_id, or_(ready, abandoned), Order.state != OrderState.HELD)
        .order_by(Shipment.order_id, Shipment.id).limit(min(CLAIM_BATCH, rt.config.global_.batch_size))
        .with_for_update(skip_locked=True, of=Shipment)))
    if ids:
        s.execute(update(Shipment).where(Shipment.id.in_(ids)).values(
            writeback_state=WritebackState.UPLOADING, claimed_by=rt.holder,
            claim_until=now + timedelta(seconds=rt.config.global_.claim_seconds)))
    return ids


def _plan(s: Session, shop_id: str, order: Order, claimed: list[Shipment]) -> tuple[list[Parcel], bool, list[int]]:
    """The parcels to report for one order, whether it is a whole-order shipment, and shipments to skip."""
    sos = {so.id: so for so in s.scalars(select(SupplierOrder).where(SupplierOrder.order_id == order.id))}
    all_shipments = list(s.scalars(select(Shipment).where(Shipment.order_id == order.id).order_by(Shipment.id)))
    order_lines = list(s.scalars(select(OrderLine.platform_line_id).where(OrderLine.order_id == order.id)))
    first_of_so: dict[int, int] = {}
    for sh in all_shipments:
        if sh.lines is None:
            first_of_so.setdefault(sh.supplier_order_id, sh.id)
    parcels, skipped = [], []
    for sh in claimed:
        if sh.lines is not None:
            lines = [ParcelLine(ln["platform_line_id"], int(ln["quantity"])) for ln in sh.lines]
        elif first_of_so.get(sh.supplier_order_id) == sh.id:
            lines = [ParcelLine(ln["platform_line_id"], int(ln.get("storefront_quantity", ln["quantity"])))
                     for ln in sos[sh.supplier_order_id].lines]
        else:
            skipped.append(sh.id)  # a second parcel with no line detail: the storefront needs goods per parcel
            continue
        parcels.append(Parcel(sh.carrier, sh.tracking_no, lines,
                              request_id(shop_id, order.platform_order_id, sh.tracking_no)))
    live_sos = [so for so in sos.values() if so.state != SupplierOrderState.CANCELLED]
    uploaded_before = any(sh.writeback_state == WritebackState.UPLOADED for sh in all_shipments)
    covered = {ln.platform_line_id for p in parcels for ln in p.lines}
    whole = (len(parcels) == 1 and len(live_sos) == 1 and not uploaded_before
             and covered == set(order_lines) and claimed[0].lines is None)
    return parcels, whole, skipped


def _finish_order(s: Session, order_id: int, now: datetime) -> None:
    open_so = s.scalar(select(SupplierOrder.id).where(
        SupplierOrder.order_id == order_id,
        SupplierOrder.state.in_([SupplierOrderState.PENDING, SupplierOrderState.PLACING, SupplierOrderState.PLACED])
    ).limit(1))
    open_sh = s.scalar(select(Shipment.id).where(
        Shipment.order_id == order_id,
        Shipment.writeback_state.in_([WritebackState.PENDING, WritebackState.UPLOADING, WritebackState.REJECTED])
    ).limit(1))
    if open_so is None and open_sh is None:
        s.execute(update(Order).where(Order.id == order_id, Order.state == OrderState.PLACED)
                  .values(state=OrderState.SHIPPED, updated_at=now))


def _ship_order(rt: Runtime, shop_id: str, order_id: int, shipment_ids: list[int]) -> None:
    adapter = rt.storefronts[shop_id]
    with rt.db.begin() as s:
        order = s.get(Order, order_id)
        assert order is not None
        claimed = list(s.scalars(select(Shipment).where(Shipment.id.in_(shipment_ids)).order_by(Shipment.id)))
        parcels, whole, skipped = _plan(s, shop_id, order, claimed)
        now = clock.now()
        if skipped:
            s.execute(update(Shipment).where(Shipment.id.in_(skipped)).values(
                writeback_state=WritebackState.SKIPPED, claimed_by=None,
                writeback_error="extra parcel without line detail: recorded, not uploaded (the storefront needs "
                                "the goods of each parcel; add 子订单号 to the supplier's file to upload it)"))
        platform_order_id = order.platform_order_id
        sent = [sh for sh in claimed if sh.id not in skipped]
        for sh in sent:
            audit(s, rt, shop_id, "upload_tracking", f"order {platform_order_id}", outcome="intent",
                  key=request_id(shop_id, platform_order_id, sh.tracking_no), detail=f"{sh.carrier} {sh.tracking_no}")
    if not parcels:
        return
    ids = [sh.id for sh in sent]
    outcome: dict[str, Any]
    try:
        result = adapter.ship(platform_order_id, parcels, whole)
        outcome = {"state": WritebackState.UPLOADED, "note": "already on the storefront" if result.already_shipped
                   else ("whole order" if whole else f"{len(parcels)} parcel(s)")}
    except (TransientError, AuthError) as err:
        outcome = {"state": WritebackState.PENDING, "error": str(err), "raise": err}
    except RejectedError as err:
        outcome = {"state": WritebackState.REJECTED, "error": str(err)}
    now = clock.now()
    with rt.db.begin() as s:
        if outcome["state"] == WritebackState.UPLOADED:
            s.execute(update(Shipment).where(Shipment.id.in_(ids)).values(
                writeback_state=WritebackState.UPLOADED, uploaded_at=now, claimed_by=None, writeback_error=None))
            result_text = "ok"
        elif outcome["state"] == WritebackState.PENDING:
            for failed in s.scalars(select(Shipment).where(Shipment.id.in_(ids))):
                failed.writeback_attempts += 1
                failed.writeback_state = WritebackState.PENDING
                failed.next_attempt_at = now + backoff(failed.writeback_attempts)
                failed.writeback_error = outcome["error"][:2000]
                failed.claimed_by = None
            result_text = "failed"
        else:
            s.execute(update(Shipment).where(Shipment.id.in_(ids)).values(
                writeback_state=WritebackState.REJECTED, claimed_by=None, writeback_error=outcome["error"][:2000]))
            held = s.get(Order, order_id)
            assert held is not None
            hold_order(s, held, HoldReason.TRACKING_REJECTED, outcome["error"], now, auto=False)
            log.error("order %s/%s: storefront refused the tracking number: %s", shop_id, platform_order_id,
                      outcome["error"])
            result_text = "failed"
        for p in parcels:
            audit(s, rt, shop_id, "upload_tracking", f"order {platform_order_id}", key=p.request_id,
                  outcome=result_text, detail=outcome.get("note") or outcome.get("error", ""))
        if outcome["state"] == WritebackState.UPLOADED:
            _finish_order(s, order_id, now)
    if "raise" in outcome:
        raise outcome["raise"]


def writeback_shop(rt: Runtime, shop_id: str) -> int:
    done = 0
    last_error: Exception | None = None
    for _ in range(MAX_BATCHES_PER_RUN):
        if rt.stop.is_set():
            break
        now = clock.now()
        with rt.db.begin() as s:
            ids = _claim(rt, s, shop_id, now)
            by_order: dict[int, list[int]] = defaultdict(list)
            for sh_id, order_id in s.execute(select(Shipment.id, Shipment.order_id).where(Shipment.id.in_(ids))):
                by_order[order_id].append(sh_id)
        if not ids:
            break
        for order_id, sh_ids in by_order.items():
            try:
                _ship_order(rt, shop_id, order_id, sh_ids)
                done += len(sh_ids)
            except AuthError:
                raise  # the whole shop is affected: the runner pauses it or reports it
            except TransientError as err:
                last_error = err  # this order waits for its backoff; the others go on
    if last_error is not None:
        raise last_error
    return done


def run(rt: Runtime, report: StageReport) -> None:
    for shop_id in rt.storefronts:
        if rt.stop.is_set():
            break
        with scope(rt, report, shop_id, shop=shop_id):
            if shop_paused(rt, shop_id):
                continue
            report.work += writeback_shop(rt, shop_id)

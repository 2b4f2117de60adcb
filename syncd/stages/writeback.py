"""writeback: upload carrier + tracking number to the storefront, once per parcel.

Shipments are claimed (``uploading`` with a claim deadline; SKIP LOCKED on PostgreSQL) and the intent is
audited before the call. A claim left by a crash expires and the parcel counts as attempted: the order is read
back before it is sent again (and the adapters check too: Douyin's deterministic ``request_id``; "already
shipped" verified against the tracking number).
Work is batched: a claimed batch is planned in a few queries; then order by order the call is made, up to
``IN_FLIGHT`` of them at once (:mod:`syncd.inflight`), and one bad answer never holds up the others. Outcomes are
recorded as they complete: an outcome that is not a plain success at once (with the successes before it), successes
together at most ``RECORD_EVERY`` after the first of them and at the end of the batch — one transaction for many
orders costs what one order's own would. A crash inside that window leaves claims that expire and count as
attempted, so those orders are read back, not sent again. An answer that cannot be read (a ProtocolError, an
unexpected error) is an unknown outcome: the order waits for its backoff and is read back from the storefront
(``get_order``) before anything is sent again; after ``MAX_FAULTS`` of them in a row it is set aside (held
``tracking_rejected``, which alerts at once) and the batch goes on.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, insert, or_, select, update
from sqlalchemy.orm import Session

from syncd import clock, shadow
from syncd.domain import OrderIn, Parcel, ParcelLine
from syncd.errors import AuthError, RejectedError, SyncdError, TransientError
from syncd.i18n import _
from syncd.inflight import bounded_calls
from syncd.lifecycle import HoldReason, OrderState, SupplierOrderState, WritebackState, order_sources
from syncd.logs import order_fields
from syncd.runtime import Runtime
from syncd.stages.route import hold_order
from syncd.stages.runner import StageReport, for_each_scope, paused_shops, record_idle
from syncd.store.audit import order_subject
from syncd.store.models import AuditEntry, Order, OrderLine, Shipment, SupplierOrder
from syncd.store.orders import finish_orders

log = logging.getLogger("syncd.writeback")

MAX_BATCHES_PER_RUN = 200
CLAIM_BATCH = 100  # small claims: a crashed replica leaves little behind
MAX_FAULTS = 5  # unreadable answers in a row before an order is set aside for a person
RECORD_EVERY = 1.0  # seconds: the longest a completed upload waits to be recorded with the ones after it
# uploads of one shop at once (syncd.inflight): one at a time, a gateway answering in 0.25 s allows four a second of
# a budget of 10–20; the rate limiter still spaces them to the budget
IN_FLIGHT = 4
SKIPPED_EXTRA = ("extra parcel without line detail: recorded, not uploaded (the storefront needs the goods of "
                 "each parcel; add 子订单号 to the supplier's file to upload it)")


def request_id(shop_id: str, platform_order_id: str, tracking_no: str) -> str:
    """Deterministic per (order, parcel): the same parcel always carries the same id."""
    return hashlib.sha256(f"{shop_id}|{platform_order_id}|{tracking_no}".encode()).hexdigest()[:32]


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 30 * 2 ** min(attempts, 7)))


@dataclass
class OrderPlan:
    """What to report for one order: its parcels, whether they are the whole order, what to skip."""

    order_id: int
    platform_order_id: str
    parcels: list[Parcel] = field(default_factory=list)
    shipment_ids: list[int] = field(default_factory=list)  # the claimed shipments the parcels stand for
    whole_order: bool = False
    skipped: list[int] = field(default_factory=list)
    # held by a person since a replica that died mid-upload claimed it: its parcels are only read back (on the
    # storefront: uploaded; else they wait for the release), nothing is sent for a held order
    held: bool = False


def plan_order(shop_id: str, order_id: int, platform_order_id: str, claimed: list[Any], so_lines: dict[int, list[Any]],
               live_sos: int, others: list[Any], order_lines: set[str]) -> OrderPlan:
    """Pure: ``claimed`` and ``others`` are shipment rows (id, supplier_order_id, carrier, tracking_no, lines,
    writeback_state); ``so_lines`` the lines of each supplier order of the order."""
    plan = OrderPlan(order_id, platform_order_id)
    first_of_so: dict[int, int] = {}
    for sh in sorted([*claimed, *others], key=lambda r: r.id):
        if sh.lines is None:
            first_of_so.setdefault(sh.supplier_order_id, sh.id)
    for sh in claimed:
        if sh.lines is not None:
            lines = [ParcelLine(ln["platform_line_id"], int(ln["quantity"])) for ln in sh.lines]
        elif first_of_so.get(sh.supplier_order_id) == sh.id:
            # one entry per storefront line: a bundle's components share their storefront line
            per_line = {ln["platform_line_id"]: int(ln.get("storefront_quantity", ln["quantity"]))
                        for ln in so_lines.get(sh.supplier_order_id, [])}
            lines = [ParcelLine(lid, q) for lid, q in per_line.items()]
        else:
            plan.skipped.append(sh.id)  # a second parcel with no line detail: the storefront needs goods per parcel
            continue
        # Sent before without a known outcome (a failed try, or a dead replica's claim): the adapter reads the
        # order back before sending again, where the platform has no idempotency key.
        plan.parcels.append(Parcel(sh.carrier, sh.tracking_no, lines,
                                   request_id(shop_id, platform_order_id, sh.tracking_no),
                                   attempted=sh.writeback_attempts > 0))
        plan.shipment_ids.append(sh.id)
    uploaded_before = any(sh.writeback_state == WritebackState.UPLOADED for sh in others)
    covered = {ln.platform_line_id for p in plan.parcels for ln in p.lines}
    plan.whole_order = (len(plan.parcels) == 1 and live_sos == 1 and not uploaded_before
                        and covered == order_lines and claimed[0].lines is None)
    return plan


def _due(now: datetime) -> tuple[Any, Any]:
    """What the write-back takes now, as two conditions each read by the write-back index (an OR of the two would
    scan every parcel): an upload a dead replica left, then a parcel ready. A dead replica's upload is taken over
    even when a person has held its order since: the call may have gone through, and only a read-back tells
    (OrderPlan.held); nothing new is sent for a held order."""
    ready = and_(Shipment.writeback_state == WritebackState.PENDING,
                 or_(Shipment.next_attempt_at.is_(None), Shipment.next_attempt_at <= now),
                 Order.state != OrderState.HELD)
    return and_(Shipment.writeback_state == WritebackState.UPLOADING, Shipment.claim_until < now), ready


def _claim(rt: Runtime, s: Session, shop_id: str, now: datetime) -> list[int]:
    limit = min(CLAIM_BATCH, rt.config.global_.batch_size)
    ids: list[int] = []
    for cond in _due(now):
        ids += s.scalars(
            select(Shipment.id).join(Order, Order.id == Shipment.order_id)
            .where(Order.shop_id == shop_id, cond)
            .order_by(Shipment.order_id, Shipment.id).limit(limit - len(ids))
            .with_for_update(skip_locked=True, of=Shipment))
        if len(ids) >= limit:
            break
    if ids:
        # A claim taken over from a replica that died mid-call: the call may have gone through.
        s.execute(update(Shipment).where(Shipment.id.in_(ids), Shipment.writeback_state == WritebackState.UPLOADING)
                  .values(writeback_attempts=Shipment.writeback_attempts + 1))
        s.execute(update(Shipment).where(Shipment.id.in_(ids)).values(
            writeback_state=WritebackState.UPLOADING, claimed_by=rt.holder,
            claim_until=now + timedelta(seconds=rt.config.global_.claim_seconds)))
    return ids


_SH_COLS = (Shipment.id, Shipment.order_id, Shipment.supplier_order_id, Shipment.carrier, Shipment.tracking_no,
            Shipment.lines, Shipment.writeback_state, Shipment.writeback_attempts)


def _plan_batch(rt: Runtime, s: Session, shop_id: str, ids: list[int], now: datetime) -> list[OrderPlan]:
    """Plan every order of a claimed batch in a handful of queries, and audit the intents."""
    claimed = list(s.execute(select(*_SH_COLS).where(Shipment.id.in_(ids)).order_by(Shipment.id)))
    order_ids = sorted({sh.order_id for sh in claimed})
    pids: dict[int, str] = {}
    held: set[int] = set()
    for oid, pid, state in s.execute(select(Order.id, Order.platform_order_id, Order.state)
                                     .where(Order.id.in_(order_ids))):
        pids[oid] = pid
        if state == OrderState.HELD:
            held.add(oid)
    so_lines: dict[int, list[Any]] = {}
    live: dict[int, int] = defaultdict(int)
    for so in s.execute(select(SupplierOrder.id, SupplierOrder.order_id, SupplierOrder.lines, SupplierOrder.state)
                        .where(SupplierOrder.order_id.in_(order_ids))):
        so_lines[so.id] = so.lines
        if so.state != SupplierOrderState.CANCELLED:
            live[so.order_id] += 1
    claimed_set = set(ids)
    others: dict[int, list[Any]] = defaultdict(list)
    for sh in s.execute(select(*_SH_COLS).where(Shipment.order_id.in_(order_ids))):
        if sh.id not in claimed_set:
            others[sh.order_id].append(sh)
    lines: dict[int, set[str]] = defaultdict(set)
    for oid, lid in s.execute(select(OrderLine.order_id, OrderLine.platform_line_id)
                              .where(OrderLine.order_id.in_(order_ids))):
        lines[oid].add(lid)
    by_order: dict[int, list[Any]] = defaultdict(list)
    for sh in claimed:
        by_order[sh.order_id].append(sh)
    plans = [plan_order(shop_id, oid, pids[oid], by_order[oid], so_lines, live[oid], others[oid], lines[oid])
             for oid in order_ids]
    for plan in plans:
        plan.held = plan.order_id in held
    skipped = [i for p in plans for i in p.skipped]
    if skipped:
        s.execute(update(Shipment).where(Shipment.id.in_(skipped)).values(
            writeback_state=WritebackState.SKIPPED, claimed_by=None, writeback_error=SKIPPED_EXTRA))
    intents = [{"actor": rt.holder, "at": now, "system": shop_id, "action": "upload_tracking",
                "subject": order_subject(shop_id, p.platform_order_id), "idempotency_key": parcel.request_id,
                "outcome": "intent", "detail": f"{parcel.carrier} {parcel.tracking_no}"}
               for p in plans for parcel in p.parcels]
    if intents:
        s.execute(insert(AuditEntry), intents)
    return plans


class Result(enum.Enum):
    """How one order's call ended."""

    UPLOADED = "uploaded"
    REFUSED = "refused"  # a business no: held with the platform's words
    FAILED = "failed"  # a clear failure (busy, token): nothing was done, try again after the backoff
    UNKNOWN = "unknown"  # an answer we could not read: the upload may have gone through; read back first


@dataclass
class Outcome:
    plan: OrderPlan
    result: Result
    note: str = ""
    error: Exception | None = None


def on_storefront(order: OrderIn, parcels: Sequence[Parcel]) -> bool:
    """Pure: whether the order as read back carries every one of our tracking numbers."""
    have = {n.strip().upper() for n in order.shipped_tracking}
    return bool(parcels) and all(p.tracking_no.strip().upper() in have for p in parcels)


def _call(rt: Runtime, shop_id: str, plan: OrderPlan) -> Outcome:
    """Upload one order's parcels; never raises for what the storefront answered.

    A parcel sent before without a readable answer is first looked for on the order (``get_order``): if the
    storefront shows it shipped with our tracking number it is done, and nothing is sent again."""
    adapter = rt.storefronts[shop_id]
    try:
        if (plan.held or any(p.attempted for p in plan.parcels)) and on_storefront(
                adapter.get_order(plan.platform_order_id), plan.parcels):
            return Outcome(plan, Result.UPLOADED, "already on the storefront (read back after an unknown outcome)")
        if plan.held:
            return Outcome(plan, Result.FAILED, "not on the storefront, and the order is held: nothing is uploaded "
                                                "until it is released")
        result = adapter.ship(plan.platform_order_id, plan.parcels, plan.whole_order)
    except AuthError as err:
        return Outcome(plan, Result.FAILED, str(err), err)
    except TransientError as err:
        # a timeout may hide an upload that went through: the next try reads the order back first (attempted)
        return Outcome(plan, Result.FAILED, str(err), err)
    except RejectedError as err:
        return Outcome(plan, Result.REFUSED, str(err), err)
    except SyncdError as err:  # ProtocolError & co: an answer we cannot read
        return Outcome(plan, Result.UNKNOWN, f"answer could not be read: {err}", err)
    except Exception as err:  # a bug on one order's answer must not stop the batch; logged with its traceback
        log.exception("order %s/%s: unexpected error while uploading tracking", shop_id, plan.platform_order_id,
                      extra=order_fields(shop_id, plan.platform_order_id))
        return Outcome(plan, Result.UNKNOWN, f"unexpected error: {type(err).__name__}", err)
    note = ("already on the storefront" if result.already_shipped
            else "whole order" if plan.whole_order else f"{len(plan.parcels)} parcel(s)")
    return Outcome(plan, Result.UPLOADED, note)


def _hold(s: Session, order_id: int, reason: HoldReason, detail: str, now: datetime) -> None:
    order = s.get(Order, order_id)
    assert order is not None
    if order.state in order_sources(OrderState.HELD):
        hold_order(s, order, reason, detail, now, auto=False)


# Built once, run once per order: building the expressions cost more CPU than running them. No Shipment object
# lives in these sessions, so there is nothing for the ORM to synchronise.
_UPLOADED = (update(Shipment).where(Shipment.id.in_(bindparam("ids", expanding=True)))
             .values(writeback_state=WritebackState.UPLOADED, uploaded_at=bindparam("now"), claimed_by=None,
                     writeback_error=None, writeback_faults=0)
             .execution_options(synchronize_session=False))
_AUDIT = insert(cast(Table, AuditEntry.__table__))


def _record(rt: Runtime, s: Session, shop_id: str, outcomes: Sequence[Outcome], now: datetime) -> None:
    """Completed orders' outcomes, in one transaction: the successes in three statements whatever their number,
    every other outcome by itself."""
    uploaded = [o for o in outcomes if o.result is Result.UPLOADED]
    if uploaded:
        s.execute(_UPLOADED, {"ids": [i for o in uploaded for i in o.plan.shipment_ids], "now": now})
    for o in outcomes:
        if o.result is not Result.UPLOADED:
            _record_failure(rt, s, shop_id, o, now)
    s.execute(_AUDIT, [
        {"actor": rt.holder, "at": now, "system": shop_id, "action": "upload_tracking",
         "subject": order_subject(shop_id, o.plan.platform_order_id), "idempotency_key": p.request_id,
         "outcome": _AUDIT_OUTCOME[o.result], "detail": o.note[:500]} for o in outcomes for p in o.plan.parcels])
    finish_orders(s, [o.plan.order_id for o in uploaded], now)


_AUDIT_OUTCOME = {Result.UPLOADED: "ok", Result.REFUSED: "failed", Result.FAILED: "failed", Result.UNKNOWN: "unknown"}


def _record_failure(rt: Runtime, s: Session, shop_id: str, o: Outcome, now: datetime) -> None:
    """An order that did not go through: refused (held), failed (backoff), or unknown (backoff, then set aside)."""
    ids = o.plan.shipment_ids
    if o.result is Result.REFUSED:
        s.execute(update(Shipment).where(Shipment.id.in_(ids)).values(
            writeback_state=WritebackState.REJECTED, claimed_by=None, writeback_error=o.note[:2000]))
        _hold(s, o.plan.order_id, HoldReason.TRACKING_REJECTED, o.note, now)
        log.error(_("order {shop}/{order}: storefront refused the tracking number: {note}").format(
            shop=shop_id, order=o.plan.platform_order_id, note=o.note),
            extra=order_fields(shop_id, o.plan.platform_order_id))
    else:
        rows = list(s.execute(select(Shipment.id, Shipment.writeback_attempts, Shipment.writeback_faults)
                              .where(Shipment.id.in_(ids))))
        faults = max((r.writeback_faults for r in rows), default=0) + (o.result is Result.UNKNOWN)
        if o.result is Result.UNKNOWN and faults >= MAX_FAULTS:
            detail = (f"the storefront's answer could not be read {faults} times in a row (last: {o.note}); "
                      "check the order in the shop's back office, then release it to try again")
            s.execute(update(Shipment).where(Shipment.id.in_(ids)).values(
                writeback_state=WritebackState.REJECTED, claimed_by=None, writeback_error=detail[:2000],
                writeback_attempts=Shipment.writeback_attempts + 1, writeback_faults=0))
            _hold(s, o.plan.order_id, HoldReason.TRACKING_REJECTED, detail, now)
            log.error(_("order {shop}/{order}: set aside after {n} unreadable answers: {note}").format(
                shop=shop_id, order=o.plan.platform_order_id, n=faults, note=o.note),
                extra=order_fields(shop_id, o.plan.platform_order_id))
        else:
            s.execute(update(Shipment), [
                {"id": r.id, "writeback_state": WritebackState.PENDING, "writeback_attempts": r.writeback_attempts + 1,
                 "next_attempt_at": now + backoff(r.writeback_attempts + 1), "claimed_by": None,
                 "writeback_error": o.note[:2000], "writeback_faults": faults} for r in rows])
            if o.result is Result.UNKNOWN:
                log.warning(_("order {shop}/{order}: {note}; read back before any new upload").format(
                    shop=shop_id, order=o.plan.platform_order_id, note=o.note),
                    extra=order_fields(shop_id, o.plan.platform_order_id))


def _unclaim(rt: Runtime, s: Session, shop_id: str, plans: Sequence[OrderPlan], why: str, now: datetime) -> None:
    """Orders of a claimed batch that were not sent: free again at once, their intents closed."""
    ids = [i for p in plans for i in p.shipment_ids]
    if not ids:
        return
    s.execute(update(Shipment).where(Shipment.id.in_(ids), Shipment.writeback_state == WritebackState.UPLOADING,
                                     Shipment.claimed_by == rt.holder)
              .values(writeback_state=WritebackState.PENDING, claimed_by=None))
    s.execute(insert(AuditEntry), [
        {"actor": rt.holder, "at": now, "system": shop_id, "action": "upload_tracking",
         "subject": order_subject(shop_id, p.platform_order_id), "idempotency_key": parcel.request_id,
         "outcome": "failed", "detail": f"not sent: {why}"[:500]} for p in plans for parcel in p.parcels])


def _record_completed(rt: Runtime, shop_id: str, completed: list[Outcome]) -> None:
    """Record what completed since the last time, and forget it."""
    if completed:
        with rt.db.begin() as s:
            _record(rt, s, shop_id, completed, clock.now())
        completed.clear()


def _upload_batch(rt: Runtime, shop_id: str, todo: list[OrderPlan]) -> tuple[int, Exception | None, bool]:
    """Send a claimed batch, up to IN_FLIGHT orders at once, recording outcomes as they complete; returns the
    parcels uploaded, the last error the shop may get over by itself, and whether the walk stopped (the daemon is
    stopping). A refused token raises once the calls in flight are recorded; what never started is freed."""
    done = 0
    last_error: Exception | None = None
    completed: list[Outcome] = []  # not recorded yet: successes only (anything else is recorded at once)
    since = 0.0
    sent: set[int] = set()
    halted: list[str] = []  # why no further call of this batch starts
    refused: AuthError | None = None

    def halt() -> bool:
        if not halted and rt.stop.is_set():
            halted.append("the daemon is stopping")
        return bool(halted)

    for i, outcome in bounded_calls(todo, lambda plan: _call(rt, shop_id, plan), limit=IN_FLIGHT, halt=halt,
                                    name=f"writeback-{shop_id}"):
        sent.add(i)
        if not completed:
            since = time.monotonic()
        completed.append(outcome)
        if outcome.result is not Result.UPLOADED or time.monotonic() - since >= RECORD_EVERY:
            _record_completed(rt, shop_id, completed)
        if outcome.result is Result.UPLOADED:
            done += len(todo[i].shipment_ids)
        elif isinstance(outcome.error, AuthError):
            # the whole shop is affected: no further call starts, the rest of the batch is freed, the runner
            # pauses or reports it
            if refused is None:
                refused = outcome.error
                halted.append(f"shop token refused: {outcome.error}")
        elif isinstance(outcome.error, TransientError):
            last_error = outcome.error  # this order waits for its backoff; the others go on
    _record_completed(rt, shop_id, completed)
    rest = [p for i, p in enumerate(todo) if i not in sent] if halted else []
    if rest:
        with rt.db.begin() as s:
            _unclaim(rt, s, shop_id, rest, halted[0], clock.now())
    if refused is not None:
        raise refused
    return done, last_error, bool(halted)


def writeback_shop(rt: Runtime, shop_id: str) -> int:
    """Upload what is ready for one shop, batch by batch; returns parcels uploaded."""
    done = 0
    last_error: Exception | None = None
    for _batch in range(MAX_BATCHES_PER_RUN):
        if rt.stop.is_set():
            break
        with rt.db.begin() as s:
            now = clock.now()
            ids = _claim(rt, s, shop_id, now)
            plans = _plan_batch(rt, s, shop_id, ids, now) if ids else []
        if not ids:
            break
        uploaded, error, stopped = _upload_batch(rt, shop_id, [p for p in plans if p.parcels])
        done += uploaded
        last_error = error or last_error
        if stopped:
            return done
    if last_error is not None:
        raise last_error
    return done


def due_shops(rt: Runtime, now: datetime) -> set[str]:
    """The shops with a parcel to write back now (or an upload a dead replica left), in one read for them all,
    by the write-back index as :func:`_claim` reads one shop's."""
    with rt.db.read() as s:
        return {shop for cond in _due(now)
                for shop in s.scalars(select(Order.shop_id).distinct().select_from(Shipment)
                                      .join(Order, Order.id == Shipment.order_id).where(cond))}


def run(rt: Runtime, report: StageReport) -> None:
    # Only the shops with a parcel due are worked; the others' runs are recorded together (an agency's fifty shops,
    # each asked alone every run, cost four statements a shop with nothing to write back). A paused shop uploads
    # nothing, nor does a shadow shop (syncd.shadow): their parcels wait, and their runs are recorded as idle.
    paused = paused_shops(rt)
    due = due_shops(rt, clock.now())
    work = [shop for shop in rt.storefronts
            if shop in due and shop not in paused and not shadow.is_shadow(rt.config, shop)]
    record_idle(rt, report.stage, [shop for shop in rt.storefronts if shop not in work])
    for_each_scope(rt, report, work, lambda shop_id: writeback_shop(rt, shop_id), shops=True,
                   scopes=len(rt.storefronts))

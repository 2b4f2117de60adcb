"""Suppliers reached over an API (1688, webhook suppliers): place each supplier order exactly once, follow
its status and parcels, pay where configured, cancel after a refund.

Exactly once, although ordering at 1688 is not idempotent: the intent (state ``placing`` with
``first_attempt_at``) is committed before the call; any outcome that is not a clear answer (timeout, 5xx, a
crash, a lost reply) leaves it ``placing``, and the next attempt first looks the order up by its idempotency key
(``find``) and sends again only when the supplier has none. Rows are claimed (``claimed_by``/``claim_until``,
SKIP LOCKED on PostgreSQL) so two replicas never work the same supplier order; no transaction is held across a
call.

One order's bad answer never holds up the others: a ProtocolError or an unexpected error on one supplier order
is recorded on that row (``faults``, backoff in ``next_check_at``) and the batch goes on; an order not yet with
the supplier whose answers stay unreadable is held for a person after ``MAX_FAULTS``. Only what concerns the
whole supplier (a refused token, flow control, the supplier down) ends a run early.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.orm import Session

from syncd import clock, details, shadow
from syncd.domain import (
    CancelOutcome,
    PlacedOrder,
    Receiver,
    StockAnswer,
    StockLine,
    SupplierLine,
    SupplierOrderPhase,
    SupplierOrderRequest,
    SupplierOrderStatus,
)
from syncd.errors import AuthError, OutOfStockError, RateLimitedError, RejectedError, SyncdError, TransientError
from syncd.inflight import Ahead, Lane, bounded_calls
from syncd.lifecycle import HoldReason, OrderState, SupplierOrderState, WritebackState, may_hold_again
from syncd.logs import order_fields
from syncd.protocols import ApiSupplierAdapter, BatchStockSupplier
from syncd.routing import LineView, fresh_key, idempotency_key, supplier_lines
from syncd.runtime import Runtime
from syncd.stages.forward import _mark_orders_placed
from syncd.stages.route import hold_order, mark_held
from syncd.stages.runner import Audits, audit, stops_the_batch
from syncd.store.audit import order_subject
from syncd.store.models import Order, OrderLine, Shipment, SupplierOrder
from syncd.store.orders import open_holds, release_holds

log = logging.getLogger("syncd.suppliers")

_SENT_ORDER = frozenset({OrderState.ROUTED, OrderState.PLACED})  # orders a supplier's answer may hold
PLACE_BATCH = 50  # supplier orders one run places per supplier
STATUS_BATCH = 200  # supplier orders one run asks the status of per supplier
# ... in claims of this many: replicas share a supplier's backlog claim by claim (one replica taking a run's whole
# batch would leave the other idle while it works through 50 orders' calls one after another)
PLACE_CLAIM = 25
STATUS_CLAIM = 25
UNKNOWN_WAIT = timedelta(seconds=60)  # after an unknown outcome: let the supplier's order list catch up
FIND_MARGIN = timedelta(minutes=10)  # look-ups start this long before the first attempt (clock skew)
MAX_TRANSIENT_IN_A_ROW = 3  # the supplier is down: stop this run instead of timing out on every order
# orders sent to one supplier at once (syncd.inflight): one at a time, an API answering in 0.25 s takes four a second;
# also the stock checks started ahead of their turn, and the payments on their way at once
IN_FLIGHT = 4
# While a claim's orders are checked in turn (1688's preview: one call per order and address, 5 a second on its
# default budget; the next IN_FLIGHT already on their way), those checked are handed to the sender in pieces:
# when the sender is free and the first of them has waited this long. Checks, creates and payments then go on at
# once, each on its own budget (one after the other, each of the three budgets worked a third of the time); where
# checks are fast the whole claim is checked within it and goes as one piece, in one transaction for its intents
# and one for its outcomes.
HAND_OVER = 1.0  # seconds
CANCEL_RETRY = timedelta(seconds=30)
MAX_FAULTS = 5  # unreadable answers in a row before an order not yet at the supplier is held for a person
MAX_FAULT_WAIT = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class _Work:
    so_id: int
    order_id: int
    key: str
    state: str
    kind: str
    lines: list[Any]
    first_attempt_at: datetime | None
    supplier_ref: str | None
    cancel_state: str
    shop_id: str
    platform_order_id: str
    remark: str
    original_key: str | None
    faults: int = 0


def _poll_every(rt: Runtime) -> timedelta:
    return timedelta(minutes=rt.config.global_.supplier_poll_minutes)


def _unknown_wait(rt: Runtime) -> timedelta:
    """After an unknown outcome, look the order up after UNKNOWN_WAIT, or sooner where suppliers are polled
    more often than that."""
    return min(UNKNOWN_WAIT, _poll_every(rt))


def _claim(rt: Runtime, s: Session, supplier_id: str, now: datetime, cond: Any, limit: int) -> list[_Work]:
    free = or_(SupplierOrder.claim_until.is_(None), SupplierOrder.claim_until < now)
    due = or_(SupplierOrder.next_check_at.is_(None), SupplierOrder.next_check_at <= now)
    ids = list(s.scalars(
        select(SupplierOrder.id).join(Order, Order.id == SupplierOrder.order_id)
        .where(SupplierOrder.supplier_id == supplier_id, free, due, cond)
        .order_by(SupplierOrder.id).limit(limit).with_for_update(skip_locked=True, of=SupplierOrder)))
    if not ids:
        return []
    s.execute(update(SupplierOrder).where(SupplierOrder.id.in_(ids)).values(
        claimed_by=rt.holder, claim_until=now + timedelta(seconds=rt.config.global_.claim_seconds)))
    originals: dict[int, str] = {}
    rows = list(s.execute(
        select(SupplierOrder.id, SupplierOrder.order_id, SupplierOrder.idempotency_key, SupplierOrder.state,
               SupplierOrder.kind, SupplierOrder.lines, SupplierOrder.first_attempt_at, SupplierOrder.supplier_ref,
               SupplierOrder.cancel_state, SupplierOrder.reship_of, SupplierOrder.faults, Order.shop_id,
               Order.platform_order_id, Order.buyer_note, Order.seller_memo)
        .join(Order, Order.id == SupplierOrder.order_id).where(SupplierOrder.id.in_(ids)).order_by(SupplierOrder.id)))
    reship_of = [r.reship_of for r in rows if r.reship_of]
    if reship_of:
        originals = dict(s.execute(select(SupplierOrder.id, SupplierOrder.idempotency_key)
                                   .where(SupplierOrder.id.in_(reship_of))).all())
    return [_Work(r.id, r.order_id, r.idempotency_key, r.state, r.kind, r.lines, r.first_attempt_at,
                  r.supplier_ref, r.cancel_state, r.shop_id, r.platform_order_id,
                  "；".join(p for p in (r.buyer_note, r.seller_memo) if p),
                  originals.get(r.reship_of) if r.reship_of else None, r.faults) for r in rows]


def _still_ours(rt: Runtime, s: Session, w: _Work, now: datetime, **values: Any) -> bool:
    """Whether this run's claim on the supplier order still holds (and it is as claimed); renews the claim and
    locks the row for the rest of the transaction. A batch can take longer than ``claim_seconds`` to work
    through: another replica may then have taken the row (it wrote its own name in ``claimed_by``), and must
    be the only one to act on it. A lapsed claim nobody took is still ours: the renewal and a takeover both
    write the row, so only one of them can win."""
    return s.execute(update(SupplierOrder).where(
        SupplierOrder.id == w.so_id, SupplierOrder.claimed_by == rt.holder,
        SupplierOrder.state == w.state).values(
        updated_at=now, claim_until=now + timedelta(seconds=rt.config.global_.claim_seconds), **values)
        .returning(SupplierOrder.id)).first() is not None


def _release(s: Session, so_id: int, **values: Any) -> None:
    s.execute(update(SupplierOrder).where(SupplierOrder.id == so_id)
              .values(claimed_by=None, claim_until=None, updated_at=clock.now(), **values))


def fault_wait(rt: Runtime, faults: int) -> timedelta:
    """Backoff after the ``faults``-th unreadable answer in a row: from the poll interval, doubling, capped."""
    return min(MAX_FAULT_WAIT, _unknown_wait(rt) * (1 << min(max(faults - 1, 0), 10)))


def _fault(rt: Runtime, supplier_id: str, w: _Work, what: str, err: Exception) -> None:
    """One supplier order's answer could not be read (or our code failed on it): recorded on that row, which
    waits for its backoff; the batch goes on. An order still waiting to be placed is held after MAX_FAULTS."""
    subject = f"{w.shop_id}/{w.platform_order_id}"
    words = f"{type(err).__name__}: {err}" if isinstance(err, SyncdError) else f"unexpected error: {type(err).__name__}"
    if isinstance(err, SyncdError):
        log.warning("supplier %s: %s of order %s: %s; the rest of the batch goes on", supplier_id, what, subject,
                    err, extra=order_fields(w.shop_id, w.platform_order_id))
    else:
        log.error("supplier %s: %s of order %s: unexpected error; the rest of the batch goes on", supplier_id,
                  what, subject, exc_info=err, extra=order_fields(w.shop_id, w.platform_order_id))
    now = clock.now()
    faults = w.faults + 1
    with rt.db.begin() as s:
        values: dict[str, Any] = {"faults": faults, "next_check_at": now + fault_wait(rt, faults),
                                  "last_error": f"{what}: {words}"[:500]}
        if what == "cancel":
            values = {"faults": faults, "next_check_at": values["next_check_at"],
                      "cancel_detail": f"cancel: {words}"[:500]}
            if faults >= MAX_FAULTS:  # a person must ask the supplier whether it will ship
                values.update(cancel_state="too_late", faults=0, cancel_detail=(
                    f"the supplier's answers to the cancellation could not be read {faults} times ({words}): "
                    "ask the supplier not to ship it")[:500])
        elif faults >= MAX_FAULTS and s.scalar(select(SupplierOrder.state).where(
                SupplierOrder.id == w.so_id)) == SupplierOrderState.PENDING:  # never sent: safe to set aside
            order = s.get(Order, w.order_id)
            if order is not None and order.state == OrderState.ROUTED:
                values["faults"] = 0
                hold_order(s, order, HoldReason.SUPPLIER_REJECTED,
                           f"supplier {supplier_id}: its answers could not be read {faults} times ({words}); check "
                           "the supplier, then release the order", now, auto=False)
        _release(s, w.so_id, **values)


def _lines(w: _Work) -> list[SupplierLine]:
    return [SupplierLine(ln["platform_line_id"], ln["supplier_sku"], int(ln["quantity"]), ln.get("title", ""),
                         ln.get("spec", "")) for ln in w.lines]


def _request(rt: Runtime, w: _Work, receiver: Receiver) -> SupplierOrderRequest:
    platform = rt.config.shops[w.shop_id].platform if w.shop_id in rt.config.shops else ""
    return SupplierOrderRequest(w.key, w.shop_id, platform, w.platform_order_id, receiver, _lines(w), w.remark,
                                kind="reship" if w.kind == "reship" else "normal", original_key=w.original_key)


# ---- placing ------------------------------------------------------------------------------------------------


def in_claims(rt: Runtime, claim: Callable[[], tuple[int, bool]], size: int, batch: int,
              on_more: Callable[[], None] | None = None) -> int:
    """Work a run's ``batch`` of a supplier's rows as claims of ``size`` (``claim()`` claims, calls and records
    one; it answers the work done and whether it claimed a full one and went through it): the next claim comes
    only while the last was full and the daemon runs. Two replicas thus take turns on one backlog. ``on_more``
    is called when the run stops at ``batch`` with its last claim full: more is likely waiting."""
    done = 0
    for _ in range(max(1, batch // size)):
        n, full = claim()
        done += n
        if not full or rt.stop.is_set():
            break
    else:
        if on_more is not None:
            on_more()
    return done


def _not_again(seen: set[int]) -> list[Any]:
    """The claim's condition leaving out the rows this run claimed before (none at its first claim)."""
    return [SupplierOrder.id.not_in(sorted(seen))] if seen else []


def place_orders(rt: Runtime, supplier_id: str, adapter: ApiSupplierAdapter,
                 on_more: Callable[[], None] | None = None) -> int:
    """Place what is pending (and settle what an earlier run left with an unknown outcome), up to
    :data:`PLACE_BATCH` a run in claims of :data:`PLACE_CLAIM` (:func:`in_claims`).

    A claim's orders are checked one by one (receiver, stock) while those checked go to the supplier in pieces on
    a lane of their own (:data:`HAND_OVER`), and the payments of those placed follow on a third; both lanes live
    for the whole run, so a claim's last piece is sent while the next claim's orders are checked. Each piece's
    intents are committed in one transaction before its requests, their outcomes in one after, the payments in
    one more.
    """
    seen: set[int] = set()  # claimed once this run: what it left is for a later run, not the next claim
    pays = Lane(f"pay-{supplier_id}")
    run = _PlaceRun(Lane(f"place-{supplier_id}"), pays, _Taken())
    try:
        try:
            done = in_claims(rt, lambda: _place_claim(rt, supplier_id, adapter, seen, run), PLACE_CLAIM, PLACE_BATCH,
                             on_more)
        finally:
            sent, stop = run.sends.join()  # every piece handed over is sent and recorded before the run ends
            if run.handed:  # a piece skipped after an earlier one failed: its orders wait, free, as they were
                with rt.db.begin() as s:
                    s.execute(update(SupplierOrder).where(SupplierOrder.id.in_(sorted(run.handed)),
                                                          SupplierOrder.claimed_by == rt.holder)
                              .values(claimed_by=None, claim_until=None))
        done += sum(n for n in sent if isinstance(n, int))
        if isinstance(stop, RateLimitedError):
            _paused(supplier_id, "placing", stop)
        elif stop is not None:
            raise stop
        return done
    finally:
        _, err = pays.join()
        if err is not None:
            raise err


@dataclass
class _PlaceRun:
    """What a run's claims share: the lane their checked orders go to the supplier on (a claim's last piece is
    still being sent while the next claim's orders are checked), the payments' lane, the stock the orders on
    their way take (:class:`_Taken`), and the supplier orders handed to the sender (they stay claimed until their
    piece records them)."""

    sends: Lane
    pays: Lane
    taken: _Taken
    handed: set[int] = field(default_factory=set)


class _Taken:
    """What the orders of a run's claims that passed their stock check will take of each supplier SKU, until the
    supplier's answers show it.

    Every check counts the stock that orders checked before it are about to use: without this, ten orders for the
    last five units all pass and five come back refused instead of held for stock (or sent to the fallback). An
    order's take stops counting for checks asked after its create was answered: the supplier's stock shows it
    from then on. Checks and creates go on at once (:data:`HAND_OVER`), so the order of events is kept by a tick,
    not a clock. A check asked while a create was on its way cannot know whether the answer shows it; it counts
    the take, and when that makes the answer short (:attr:`unsure`) the caller asks again once the creates in
    flight are answered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tick = 0
        self._wants: dict[int, list[tuple[str, int]]] = {}
        self._handed: dict[int, int] = {}  # handed to the sender, at tick
        self._placed: dict[int, int] = {}  # create answered, at tick
        self.unsure = False  # the last answer counted a take whose create was on its way when it was asked

    def _next(self) -> int:
        self._tick += 1
        return self._tick

    def now(self) -> int:
        """The tick of a check about to be asked."""
        with self._lock:
            return self._next()

    def add(self, so_id: int, answer: StockAnswer) -> None:
        with self._lock:
            self._wants[so_id] = [(ln.supplier_sku, ln.wanted) for ln in answer.lines]

    def handed(self, so_ids: Sequence[int]) -> None:
        """These orders go to the supplier now."""
        with self._lock:
            tick = self._next()
            self._handed.update((i, tick) for i in so_ids)

    def placed(self, so_id: int) -> None:
        """This order's create was answered: checks asked from now on see it in the supplier's stock."""
        with self._lock:
            self._placed[so_id] = self._next()

    def less(self, answer: StockAnswer, asked: int) -> StockAnswer:
        """The supplier's answer to a check asked at tick ``asked``, less what orders not in it will take."""
        taken: dict[str, int] = {}
        skus = {ln.supplier_sku for ln in answer.lines}
        unsure = False
        with self._lock:
            for so_id, wants in self._wants.items():
                if self._placed.get(so_id, asked) < asked:
                    continue  # created before the check was asked: in the supplier's answer already
                for sku, n in wants:
                    taken[sku] = taken.get(sku, 0) + n
                    unsure = unsure or (sku in skus and self._handed.get(so_id, asked) < asked)
        out = _less_taken(answer, taken)
        self.unsure = unsure and bool(out.short()) and not answer.short()
        return out


@dataclass(frozen=True, slots=True)
class _Check:
    """An order's stock check started before its turn: the request checked, the tick it was asked at, the answer."""

    request: SupplierOrderRequest
    asked: int
    answer: Future[StockAnswer | None]


def _start_check(rt: Runtime, adapter: ApiSupplierAdapter, w: _Work, receiver: Receiver | str | Exception | None,
                 taken: _Taken, checks: Ahead[StockAnswer | None], batch: Mapping[int, StockAnswer]) -> _Check | None:
    """Start the order's stock check now when its turn will ask one (a first attempt with a whole receiver and
    no answer from the batch's stock call); None otherwise, and while the supplier answers fast (:class:`Ahead`)."""
    if (not checks.on() or w.first_attempt_at is not None or w.so_id in batch
            or not isinstance(receiver, Receiver) or receiver.missing()):
        return None
    request = _request(rt, w, receiver)
    return _Check(request, taken.now(), checks.start(lambda: adapter.check_stock(request)))


def _checked_ahead(pairs: Iterable[tuple[_Work, Receiver | str | Exception | None]], checks: Ahead[Any],
                   start: Callable[[_Work, Receiver | str | Exception | None], _Check | None]
                   ) -> Iterator[tuple[_Work, Receiver | str | Exception | None, _Check | None]]:
    """The pairs in their order, each with its check started (``start``) up to ``checks.limit`` orders before
    its turn."""
    window: deque[tuple[_Work, Receiver | str | Exception | None, _Check | None]] = deque()
    for w, receiver in pairs:
        window.append((w, receiver, start(w, receiver)))
        while len(window) >= checks.limit:
            yield window.popleft()
    while window:
        yield window.popleft()


def _place_claim(rt: Runtime, supplier_id: str, adapter: ApiSupplierAdapter, seen: set[int],
                 run: _PlaceRun) -> tuple[int, bool]:
    now = clock.now()
    # pending (of a routed order, or a reship) or placing; the state as an IN list lets the claim read only the
    # supplier's open rows through ix_supplier_orders_supplier_cancel_state (tests/store/test_query_plans.py)
    with rt.db.begin() as s:
        work = _claim(rt, s, supplier_id, now, and_(
            SupplierOrder.cancel_state == "none", shadow.live_orders(rt.config),  # a shadow shop's: never placed
            SupplierOrder.state.in_([SupplierOrderState.PENDING, SupplierOrderState.PLACING]),
            or_(SupplierOrder.state == SupplierOrderState.PLACING, Order.state == OrderState.ROUTED,
                SupplierOrder.kind == "reship"), *_not_again(seen)), PLACE_CLAIM)
    seen.update(w.so_id for w in work)
    if not work:
        return 0, False
    done, transient_in_a_row, through = 0, 0, False
    ready: list[tuple[_Work, SupplierOrderRequest]] = []
    since = 0.0  # when the first of ``ready`` was checked
    shorts: list[tuple[_Work, StockAnswer]] = []
    taken, sends = run.taken, run.sends

    def send(chunk: list[tuple[_Work, SupplierOrderRequest]]) -> int:
        placed, stop = _send_requests(rt, supplier_id, adapter, chunk, on_placed=taken.placed)
        if placed and (stop is None or isinstance(stop, RateLimitedError)):  # else: paid at a later status check
            run.pays.submit(_pay_placed, rt, supplier_id, adapter, placed)
        if stop is not None:
            raise stop  # no further piece of the run is sent
        return len(placed)

    def hand(chunk: list[tuple[_Work, SupplierOrderRequest]]) -> None:
        ids = [x.so_id for x, _ in chunk]
        taken.handed(ids)
        run.handed.update(ids)
        sends.submit(send, chunk)

    checks: Ahead[StockAnswer | None] = Ahead(f"check-{supplier_id}", IN_FLIGHT)

    try:
        try:
            adapter.ensure_token()
            checked_at = taken.now()
            checked = _batch_stock(adapter, work)
            with closing(_with_receivers(rt, supplier_id, work)) as pairs:
                # the next orders' stock checks go on while this one's answer is read (Ahead); each answer is
                # still read in its order's turn, after the orders before it took their share (_Taken)
                for w, receiver, ahead in _checked_ahead(pairs, checks, lambda w, receiver: _start_check(
                        rt, adapter, w, receiver, taken, checks, checked)):
                    if rt.stop.is_set() or sends.failed() is not None:
                        break
                    if isinstance(receiver, Exception):
                        _skip_unreadable(rt, supplier_id, w, receiver)
                        continue
                    try:
                        got = _prepare(rt, supplier_id, adapter, w, receiver, taken, checked.get(w.so_id), checked_at,
                                       ahead, checks)
                        if isinstance(got, StockAnswer) and taken.unsure:
                            # short only by what orders on their way take, which the answer may show already: ask
                            # again once their creates are answered
                            sends.wait()
                            got = _prepare(rt, supplier_id, adapter, w, receiver, taken)
                        transient_in_a_row = 0
                    except RateLimitedError as err:
                        _paused(supplier_id, "placing", err)
                        break
                    except TransientError:
                        transient_in_a_row += 1
                        if transient_in_a_row >= MAX_TRANSIENT_IN_A_ROW:
                            raise  # the supplier is down: what passed its checks and is not sent yet is not sent
                        continue
                    except AuthError:
                        raise  # the supplier's token: every order is affected
                    except Exception as err:  # one order's unreadable answer (or our bug on it): the batch goes on
                        if stops_the_batch(err):
                            raise  # the database itself: nothing else could be recorded either
                        _fault(rt, supplier_id, w, "placing", err)
                        continue
                    if isinstance(got, SupplierOrderRequest):
                        since = since if ready else time.monotonic()
                        ready.append((w, got))
                        if not sends.busy() and time.monotonic() - since >= HAND_OVER:
                            hand(ready)
                            ready = []
                    elif isinstance(got, StockAnswer):
                        shorts.append((w, got))
                    else:
                        done += got
                else:
                    if ready:
                        hand(ready)
                    # the claim's last piece is sent while the next claim's orders are checked (place_orders joins
                    # the lane at the end of the run); a piece that failed stops the run's claims
                    through = sends.failed() is None
        finally:
            checks.close()  # the checks started for orders not reached: their answers are not read
    finally:
        try:
            _record_shorts(rt, supplier_id, shorts)  # what the stock checks found, however the run ended
        finally:
            with rt.db.begin() as s:  # whatever was not reached stays as it was, free for the next run
                s.execute(update(SupplierOrder).where(
                    SupplierOrder.id.in_([w.so_id for w in work if w.so_id not in run.handed]),
                    SupplierOrder.claimed_by == rt.holder).values(claimed_by=None, claim_until=None))
    return done, through and len(work) >= PLACE_CLAIM


def _batch_stock(adapter: ApiSupplierAdapter, work: Sequence[_Work]) -> dict[int, StockAnswer]:
    """Per supplier order of the batch not sent before, the supplier's stock answer from one call for them all,
    where the supplier can answer for several orders at once (a webhook supplier's ``POST stock``; 1688's
    preview is per order and address). Empty when it cannot: each order is then asked about alone."""
    if not isinstance(adapter, BatchStockSupplier):
        return {}
    fresh = [w for w in work if w.first_attempt_at is None]
    answers = adapter.check_stock_batch([_lines(w) for w in fresh]) if fresh else None
    return {} if answers is None else {w.so_id: a for w, a in zip(fresh, answers, strict=True)}


def _paused(supplier_id: str, what: str, err: RateLimitedError) -> None:
    """Flow control: the rest of this run's batch waits for a later run (nothing was lost: the rows are free,
    an order sent without an answer is looked up first as after any unknown outcome)."""
    log.info("supplier %s: %s paused by flow control (%s); the rest follows in a later run", supplier_id, what, err)


def _with_receivers(rt: Runtime, supplier_id: str, work: Sequence[_Work]
                    ) -> Generator[tuple[_Work, Receiver | str | Exception | None], None, None]:
    """The claim's supplier orders with their receivers, shop by shop as each shop's decryption answers
    (:meth:`syncd.receivers.ReceiverPool.by_shop`): a shop whose API answers in seconds holds up only its own
    orders, which come last. An exception stands for the shop's failure to decrypt (reported per order by
    :func:`_skip_unreadable`); None for an order no longer stored."""
    of_order: dict[int, list[_Work]] = defaultdict(list)
    for w in work:
        of_order[w.order_id].append(w)
    orders = _orders(rt, set(of_order))
    for shop_id, shop_orders, got in rt.receivers.by_shop(rt, list(orders.values()), name=f"decrypt-{supplier_id}"):
        if isinstance(got, Exception) and not isinstance(got, SyncdError):
            log.error("shop %s: unexpected error decrypting receivers", shop_id, exc_info=got)
        for o in shop_orders:
            for w in of_order.pop(o.id):
                yield w, got if isinstance(got, Exception) else got.get(o.id)
    for left in of_order.values():
        for w in left:
            yield w, None


def _skip_unreadable(rt: Runtime, supplier_id: str, w: _Work, err: Exception) -> None:
    """The order's receiver could not be decrypted this run: it waits (nothing sent); a shop that is busy or
    whose token is refused is the shop's trouble, not a fault of this supplier order."""
    if isinstance(err, TransientError | AuthError):
        with rt.db.begin() as s:
            _release(s, w.so_id, next_check_at=clock.now() + _unknown_wait(rt),
                     last_error=f"receiver not decrypted: {err}"[:500])
        return
    _fault(rt, supplier_id, w, "decrypting the receiver", err)


def _orders(rt: Runtime, ids: set[int]) -> dict[int, Order]:
    with rt.db.read() as s:
        return {o.id: o for o in s.scalars(select(Order).where(Order.id.in_(ids)))}


def _place_one(rt: Runtime, supplier_id: str, adapter: ApiSupplierAdapter, w: _Work,
               receiver: Receiver | str | None) -> int:
    """One supplier order through the same steps as a batch of them."""
    got = _prepare(rt, supplier_id, adapter, w, receiver)
    if isinstance(got, StockAnswer):
        _out_of_stock(rt, supplier_id, w, got)
        return 0
    return _send(rt, supplier_id, adapter, [(w, got)]) if isinstance(got, SupplierOrderRequest) else got


def _prepare(rt: Runtime, supplier_id: str, adapter: ApiSupplierAdapter, w: _Work,
             receiver: Receiver | str | None, taken: _Taken | None = None,
             checked: StockAnswer | None = None, checked_at: int = 0, ahead: _Check | None = None,
             checks: Ahead[StockAnswer | None] | None = None) -> SupplierOrderRequest | StockAnswer | int:
    """Everything before the request: after an unknown outcome the look-up by key (1 when found and recorded),
    the receiver (0 when the order is held for it), the stock (the answer when short). The request when it may
    be sent.

    ``checked``: the supplier's answer for this order from the batch's one stock call (:func:`_batch_stock`), asked
    at tick ``checked_at`` of ``taken``, used instead of asking again.

    ``taken``: what the orders checked before this one in the same claim will take of each supplier SKU and the
    supplier's answer does not show yet (:class:`_Taken`).

    ``ahead``: this order's stock check, started before its turn (:func:`_start_check`): its answer is read here,
    in the order's turn, counted against what the orders before it take as if asked now. ``checks``: where a check
    asked in its turn is timed (whether the next go ahead)."""
    now = clock.now()
    subject = f"{w.shop_id}/{w.platform_order_id}"
    if w.state == SupplierOrderState.PLACING and w.first_attempt_at is not None:
        # Sent before with no clear answer: the supplier may hold it already. Look before sending again.
        try:
            found = adapter.find(w.key, w.first_attempt_at - FIND_MARGIN)
        except TransientError as err:
            with rt.db.begin() as s:
                _release(s, w.so_id, next_check_at=now + _unknown_wait(rt), last_error=str(err)[:500])
            raise
        if found is not None:
            log.warning("supplier %s: order %s was created by an earlier attempt (found by its key); not sent "
                        "again", supplier_id, subject, extra=order_fields(w.shop_id, w.platform_order_id))
            _record_placed(rt, supplier_id, adapter, w, found, "found by idempotency key after an unknown outcome")
            return 1
    if not isinstance(receiver, Receiver) or receiver.missing():
        problem = details.receiver_problem(receiver)
        with rt.db.begin() as s:
            _release(s, w.so_id, state=SupplierOrderState.PENDING if w.first_attempt_at is None else w.state)
            order = s.get(Order, w.order_id)
            if order is not None and order.state == OrderState.ROUTED:
                hold_order(s, order, HoldReason.ADDRESS_INCOMPLETE, details.AFTER_DECRYPTION.format(problem=problem),
                           now, auto=True)
        return 0
    if ahead is not None:
        request, asked, answer = ahead.request, ahead.asked, ahead.answer.result()
    elif w.first_attempt_at is None:
        request = _request(rt, w, receiver)
        asked = checked_at if checked is not None else taken.now() if taken is not None else 0
        answer = (checked if checked is not None else adapter.check_stock(request) if checks is None
                  else checks.now(lambda: adapter.check_stock(request)))
    else:
        return _request(rt, w, receiver)
    if answer is not None and taken is not None:
        answer = taken.less(answer, asked)
    if answer is not None and answer.short():
        return answer  # recorded with the batch's other short answers (_out_of_stock_many)
    if answer is not None and taken is not None:
        taken.add(w.so_id, answer)
    return request


def _less_taken(answer: StockAnswer, taken: Mapping[str, int]) -> StockAnswer:
    """The supplier's answer less what earlier orders of the batch take (a figure never below zero)."""
    if not any(taken.get(ln.supplier_sku) for ln in answer.lines):
        return answer
    return StockAnswer([StockLine(ln.supplier_sku, ln.wanted, None if ln.available is None
                                  else max(0, ln.available - taken.get(ln.supplier_sku, 0)))
                        for ln in answer.lines], answer.detail)


@dataclass(slots=True)
class _Sent:
    """What one request of a batch came to: the supplier's order, its refusal or an unknown outcome, or nothing
    (not sent: the batch stopped before it)."""

    w: _Work
    placed: PlacedOrder | None = None
    error: Exception | None = None
    sent: bool = True


def _send(rt: Runtime, supplier_id: str, adapter: ApiSupplierAdapter,
          ready: Sequence[tuple[_Work, SupplierOrderRequest]]) -> int:
    """Send a batch of requests (:func:`_send_requests`) and pay what was placed; returns how many were placed."""
    placed, stop = _send_requests(rt, supplier_id, adapter, ready)
    if isinstance(stop, RateLimitedError):
        _paused(supplier_id, "placing", stop)
    elif stop is not None:
        raise stop
    return _pay_placed(rt, supplier_id, adapter, placed)


def _send_requests(rt: Runtime, supplier_id: str, adapter: ApiSupplierAdapter,
                   ready: Sequence[tuple[_Work, SupplierOrderRequest]],
                   on_placed: Callable[[int], None] = lambda so_id: None,
                   ) -> tuple[list[tuple[_Work, PlacedOrder]], SyncdError | None]:
    """Send a batch of requests, up to ``IN_FLIGHT`` at once: every intent committed in one transaction before the
    first request (only for rows whose claim still holds), every outcome recorded in one after the last. A crash in
    between leaves the intents ``placing`` with ``first_attempt_at``: each is looked up by its key before it is
    ever sent again.
    The requests stop where the claims could lapse (half of ``claim_seconds`` after the intents: another replica
    may then take a row), and those not sent go back to waiting as they were. Returns the orders placed, and what
    stopped the requests where it concerns the whole supplier (flow control, a refused token, the supplier down).
    ``on_placed`` hears of each supplier order created as soon as its answer is in.
    """
    if not ready:
        return [], None
    claim = timedelta(seconds=rt.config.global_.claim_seconds)
    now = clock.now()
    with rt.db.begin() as s:  # the intents, committed before any call, only while the claims are still ours
        ours = set(s.scalars(update(SupplierOrder).where(
            SupplierOrder.id.in_([w.so_id for w, _ in ready]), SupplierOrder.claimed_by == rt.holder,
            SupplierOrder.state.in_([SupplierOrderState.PENDING, SupplierOrderState.PLACING]))
            .values(state=SupplierOrderState.PLACING,
                    first_attempt_at=func.coalesce(SupplierOrder.first_attempt_at, now),
                    attempts=SupplierOrder.attempts + 1, updated_at=now, claim_until=now + claim)
            .returning(SupplierOrder.id)))
        intents = Audits(rt)
        for w, request in ready:
            if w.so_id in ours:
                intents.add(supplier_id, "place_order", order_subject(w.shop_id, w.platform_order_id), key=w.key,
                            outcome="intent", detail=f"{len(request.lines)} lines" + (" (reship)" if w.kind == "reship"
                                                                                        else ""))
        intents.write(s)
    for w, _ in ready:
        if w.so_id not in ours:
            log.info("supplier %s: order %s/%s: claim lapsed before sending; another run takes it", supplier_id,
                     w.shop_id, w.platform_order_id, extra=order_fields(w.shop_id, w.platform_order_id))
    deadline = now + claim / 2
    todo = [(w, request) for w, request in ready if w.so_id in ours]
    results: list[_Sent] = []
    stop: SyncdError | None = None
    transient_in_a_row = 0

    def place(item: tuple[_Work, SupplierOrderRequest]) -> _Sent:
        try:
            return _Sent(item[0], placed=adapter.place(item[1]))
        except Exception as err:  # noqa: BLE001 - a refusal, or an unknown outcome (looked up by its key later)
            return _Sent(item[0], error=err)

    def halt() -> bool:
        return stop is not None or rt.stop.is_set() or clock.now() >= deadline

    sent: set[int] = set()
    for i, r in bounded_calls(todo, place, limit=IN_FLIGHT, halt=halt, name=f"place-{supplier_id}"):
        sent.add(i)
        results.append(r)
        if r.error is None:
            on_placed(r.w.so_id)
            transient_in_a_row = 0
        elif isinstance(r.error, RateLimitedError | AuthError):
            stop = stop or r.error
        elif isinstance(r.error, TransientError):
            transient_in_a_row += 1
            if transient_in_a_row >= MAX_TRANSIENT_IN_A_ROW:
                stop = stop or r.error
    results += [_Sent(w, sent=False) for i, (w, _) in enumerate(todo) if i not in sent]
    _record_shorts(rt, supplier_id, _record_sent(rt, supplier_id, results))  # refused for want of stock
    for r in results:  # an unreadable answer (or our bug on it) counts against its order: backoff, then a hold
        if r.error is not None and not isinstance(r.error, TransientError | AuthError | RejectedError):
            _fault(rt, supplier_id, r.w, "placing", r.error)
    return [(r.w, r.placed) for r in results if r.placed is not None], stop


def _record_sent(rt: Runtime, supplier_id: str, results: Sequence[_Sent]) -> list[tuple[_Work, StockAnswer]]:
    """The outcomes of one batch of requests, in one transaction. Returns the orders the supplier refused for want
    of stock, as short stock answers (still claimed, waiting again: :func:`_record_shorts` sends their lines to
    the fallback or holds them out of stock, as after a short check)."""
    if not results:
        return []
    now = clock.now()
    placed: list[dict[str, Any]] = []
    unknown: list[dict[str, Any]] = []
    shorts: list[tuple[_Work, StockAnswer]] = []
    audits = Audits(rt)
    with rt.db.begin() as s:
        unsent = [r.w.so_id for r in results if not r.sent and r.w.first_attempt_at is None]
        if unsent:  # never sent: waiting again exactly as before its intent
            s.execute(update(SupplierOrder).where(SupplierOrder.id.in_(unsent), SupplierOrder.claimed_by == rt.holder,
                                                  SupplierOrder.state == SupplierOrderState.PLACING)
                      .values(state=SupplierOrderState.PENDING, first_attempt_at=None,
                              attempts=SupplierOrder.attempts - 1, updated_at=now))
        for r in results:
            w, trail = r.w, order_subject(r.w.shop_id, r.w.platform_order_id)
            if r.placed is not None:
                placed.append({"id": w.so_id, "state": SupplierOrderState.PLACED,
                               "supplier_ref": r.placed.supplier_ref[:100], "placed_at": now, "paid": r.placed.paid,
                               "next_check_at": now + _poll_every(rt), "last_error": None, "faults": 0,
                               "claimed_by": None, "claim_until": None, "updated_at": now,
                               **supplier_cost(r.placed)})
                audits.add(supplier_id, "place_order", trail, key=w.key, outcome="ok",
                      detail=f"supplier order {r.placed.supplier_ref}"
                      + ("" if r.placed.paid else "; awaiting payment"))
            elif isinstance(r.error, OutOfStockError):  # a clear no for want of stock: nothing was created
                s.execute(update(SupplierOrder).where(SupplierOrder.id == w.so_id).values(
                    state=SupplierOrderState.PENDING, updated_at=now, last_error=str(r.error)[:500]))
                audits.add(supplier_id, "place_order", trail, key=w.key, outcome="failed", detail=str(r.error))
                shorts.append((replace(w, state=SupplierOrderState.PENDING), StockAnswer(
                    [StockLine(ln["supplier_sku"], int(ln["quantity"]), 0) for ln in w.lines],
                    detail=f"refused when ordered: {r.error.platform_message or r.error}")))
            elif isinstance(r.error, RejectedError):  # a clear no: nothing was created
                _release(s, w.so_id, state=SupplierOrderState.PENDING, last_error=str(r.error)[:500])
                audits.add(supplier_id, "place_order", trail, key=w.key, outcome="failed", detail=str(r.error))
                order = s.get(Order, w.order_id)
                if order is not None and order.state == OrderState.ROUTED:
                    hold_order(s, order, HoldReason.SUPPLIER_REJECTED, f"supplier {supplier_id}: {r.error}", now,
                               auto=False)
                log.warning("supplier %s refused order %s/%s: %s", supplier_id, w.shop_id, w.platform_order_id,
                            r.error, extra=order_fields(w.shop_id, w.platform_order_id))
            elif r.error is not None:  # unknown outcome (a timeout, an unreadable answer): stays PLACING
                words = (str(r.error) if isinstance(r.error, SyncdError)
                         else f"unexpected error: {type(r.error).__name__}")
                unknown.append({"id": w.so_id, "next_check_at": now + _unknown_wait(rt), "last_error": words[:500],
                                "claimed_by": None, "claim_until": None, "updated_at": now})
                audits.add(supplier_id, "place_order", trail, key=w.key, outcome="unknown", detail=words)
                log.warning("supplier %s: order %s/%s: outcome unknown (%s); it is looked up before any new attempt",
                            supplier_id, w.shop_id, w.platform_order_id, words,
                            extra=order_fields(w.shop_id, w.platform_order_id))
        for rows in (*_same_keys(placed), unknown):
            if rows:
                s.execute(update(SupplierOrder), rows)
        audits.write(s)
        _mark_orders_placed(s, sorted({r.w.order_id for r in results if r.placed is not None}), now)
    return shorts


def _record_placed(rt: Runtime, supplier_id: str, adapter: ApiSupplierAdapter, w: _Work, placed: PlacedOrder,
                   note: str) -> None:
    now = clock.now()
    trail = order_subject(w.shop_id, w.platform_order_id)  # the audit log's name
    with rt.db.begin() as s:
        _release(s, w.so_id, state=SupplierOrderState.PLACED, supplier_ref=placed.supplier_ref[:100],
                 placed_at=now, paid=placed.paid, next_check_at=now + _poll_every(rt), last_error=None, faults=0,
                 **supplier_cost(placed))
        audit(s, rt, supplier_id, "place_order", trail, key=w.key, outcome="ok",
              detail=f"supplier order {placed.supplier_ref}" + (f"; {note}" if note else "")
              + ("" if placed.paid else "; awaiting payment"))
        _mark_orders_placed(s, [w.order_id], now)
    _pay_placed(rt, supplier_id, adapter, [(w, placed)])


def _same_keys(rows: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """``rows`` split by their set of keys: one bulk UPDATE takes rows that set the same columns (a supplier
    order whose supplier stated its cost sets two more)."""
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(frozenset(row), []).append(row)
    return list(groups.values())


def supplier_cost(placed: PlacedOrder) -> dict[str, Any]:
    """The supplier's own amount (1688's order total with freight; a webhook supplier's amount_fen) as the
    supplier order's cost for the reports; nothing when it did not say (the configured cost stays)."""
    return {} if placed.amount_fen is None else {"cost_fen": placed.amount_fen, "cost_source": "supplier"}


def _pay_placed(rt: Runtime, supplier_id: str, adapter: ApiSupplierAdapter,
                placed: Sequence[tuple[_Work, PlacedOrder]]) -> int:
    """Pay the unpaid ones of just-placed supplier orders; returns how many were placed. A payment that cannot
    be made now is made at a later status check."""
    try:
        pay_batch(rt, supplier_id, adapter, [(w, p) for w, p in placed if not p.paid])
    except RateLimitedError as err:
        _paused(supplier_id, "payments", err)
    except TransientError as err:
        log.info("supplier %s: payments stopped for now (%s); paid at a later status check", supplier_id, err)
    return len(placed)


def pay_batch(rt: Runtime, supplier_id: str, adapter: ApiSupplierAdapter,
              unpaid: Sequence[tuple[_Work, PlacedOrder]]) -> int:
    """Pay unpaid supplier orders where the supplier's config allows it, up to ``IN_FLIGHT`` at once (one after
    another at 0.25 s an answer, a run's fifty payments held its next claims for twelve seconds), every answer
    recorded in one transaction; returns how many are paid now. A flow-control, transient or token error stops
    the payments: none starts after it, the answers of those on their way are recorded, then it is raised. An
    unreadable answer counts against its order only."""
    answers: list[tuple[_Work, PlacedOrder, PlacedOrder | RejectedError]] = []
    faults: list[tuple[_Work, Exception]] = []
    stop: SyncdError | None = None

    def pay(item: tuple[_Work, PlacedOrder]) -> PlacedOrder | Exception:
        try:
            return adapter.pay(item[1])
        except Exception as err:  # noqa: BLE001 - sorted below, in the caller's thread
            return err

    def halt() -> bool:
        return stop is not None

    for i, got in bounded_calls(unpaid, pay, limit=IN_FLIGHT, halt=halt, name=f"pay-{supplier_id}"):
        w, placed = unpaid[i]
        if isinstance(got, PlacedOrder | RejectedError):
            if isinstance(got, RejectedError):
                log.info("supplier %s: order %s stays unpaid: %s", supplier_id, placed.supplier_ref, got)
            answers.append((w, placed, got))
        elif isinstance(got, TransientError | AuthError):
            stop = stop or got
        elif stops_the_batch(got):
            raise got
        else:  # paid at a later status check
            faults.append((w, got))
    if answers:
        with rt.db.begin() as s:
            paid = [{"id": w.so_id, "paid": a.paid, "last_error": None, **supplier_cost(a)}
                    for w, _, a in answers if isinstance(a, PlacedOrder)]
            refused = [{"id": w.so_id, "last_error": str(a)[:500]} for w, _, a in answers if isinstance(a, Exception)]
            for rows in (*_same_keys(paid), refused):
                if rows:
                    s.execute(update(SupplierOrder), rows)
            audits = Audits(rt)
            for _, placed, a in answers:
                if isinstance(a, PlacedOrder):
                    audits.add(supplier_id, "pay_order", placed.supplier_ref, key=None,
                               outcome="ok" if a.paid else "unknown")
            audits.write(s)
    for w, fault in faults:
        _fault(rt, supplier_id, w, "payment", fault)
    if stop is not None:
        raise stop
    return sum(1 for _, _, a in answers if isinstance(a, PlacedOrder) and a.paid)


def _files_sent(rt: Runtime, siblings: Sequence[SupplierOrder], fallbacks: set[str | None]) -> set[str]:
    """The drop-folder suppliers among ``fallbacks`` that already received (or are receiving) a supplier order of
    this order in a batch file: a fallback line can no longer join it, and a second one would carry the same
    order number (see :func:`syncd.stages.collect._match`)."""
    return {so.supplier_id for so in siblings if so.supplier_id in fallbacks and so.supplier_id in rt.suppliers
            and so.batch_id is not None and so.state != SupplierOrderState.CANCELLED}


def _out_of_stock(rt: Runtime, supplier_id: str, w: _Work, answer: StockAnswer) -> None:
    """Short lines go to the route's fallback supplier where one is named; otherwise the order is held."""
    _out_of_stock_many(rt, supplier_id, [(w, answer)])


def _record_shorts(rt: Runtime, supplier_id: str, shorts: Sequence[tuple[_Work, StockAnswer]]) -> None:
    """:func:`_out_of_stock_many` for a batch; when one order makes that fail, each on its own, so only that one
    is set aside (a fault on its row, as any unreadable answer)."""
    try:
        _out_of_stock_many(rt, supplier_id, shorts)
        return
    except Exception as err:
        if stops_the_batch(err) or len(shorts) < 2:
            raise
    for w, answer in shorts:
        try:
            _out_of_stock_many(rt, supplier_id, [(w, answer)])
        except Exception as err:  # our bug on this order's answer: the others go on
            if stops_the_batch(err):
                raise
            _fault(rt, supplier_id, w, "placing", err)


def _out_of_stock_many(rt: Runtime, supplier_id: str, shorts: Sequence[tuple[_Work, StockAnswer]]) -> None:
    """Supplier orders whose stock answer is short, in one transaction whatever their number: short lines go to
    the route's fallback supplier where one is named (joining that supplier's waiting order of the same order,
    else a supplier order of their own); otherwise the order is held ``out_of_stock``. Only rows whose claim
    still holds are touched."""
    if not shorts:
        return
    now = clock.now()
    claim = timedelta(seconds=rt.config.global_.claim_seconds)
    held: list[tuple[_Work, str]] = []
    moved: list[tuple[_Work, str, list[str]]] = []
    with rt.db.begin() as s:
        ours = dict(s.execute(update(SupplierOrder).where(
            SupplierOrder.id.in_([w.so_id for w, _ in shorts]), SupplierOrder.claimed_by == rt.holder)
            .values(updated_at=now, claim_until=now + claim).returning(SupplierOrder.id, SupplierOrder.state)).all())
        work = [(w, a) for w, a in shorts if ours.get(w.so_id) == w.state]
        if not work:
            return
        order_ids = sorted({w.order_id for w, _ in work})
        orders = {o.id: o for o in s.scalars(select(Order).where(Order.id.in_(order_ids)))}
        # every supplier order of these orders in one read, locked: a fallback's export must not take one of them
        # while lines are added to it
        siblings: dict[int, list[SupplierOrder]] = defaultdict(list)
        for x in s.scalars(select(SupplierOrder).where(SupplierOrder.order_id.in_(order_ids))
                           .order_by(SupplierOrder.id).with_for_update()):
            siblings[x.order_id].append(x)
        lines_of: dict[int, dict[str, OrderLine]] | None = None
        new_rows: list[dict[str, Any]] = []
        holds: list[tuple[int, str, str]] = []
        audits = Audits(rt)
        routes = rt.config.routes
        for w, answer in work:
            order = orders[w.order_id]
            so = next(x for x in siblings[w.order_id] if x.id == w.so_id)
            short = {ln.supplier_sku for ln in answer.short()}
            words = ", ".join(f"{ln.supplier_sku} (wanted {ln.wanted}, has {ln.available})" for ln in answer.short())
            moving = [ln for ln in so.lines if ln["supplier_sku"] in short]
            fallbacks = {ln["merchant_sku"]: routes[ln["merchant_sku"]] for ln in moving
                         if ln["merchant_sku"] in routes}
            usable = all(r.fallback_supplier and (r.fallback_supplier in rt.api_suppliers
                                                  or r.fallback_supplier in rt.suppliers)
                         for r in fallbacks.values()) and len(fallbacks) == len({ln["merchant_sku"] for ln in moving})
            sent_files = _files_sent(rt, siblings[w.order_id], {r.fallback_supplier for r in fallbacks.values()}) \
                if usable else set()
            so.claimed_by, so.claim_until, so.updated_at = None, None, now
            if not usable or sent_files or order.state != OrderState.ROUTED:
                so.next_check_at, so.last_error = None, f"out of stock: {words}"[:500]
                if order.state == OrderState.ROUTED:
                    mark_held(order, HoldReason.OUT_OF_STOCK, now, auto=True)
                    holds.append((order.id, HoldReason.OUT_OF_STOCK, f"supplier {supplier_id}: {words}"
                                  + (f"; {answer.detail}" if answer.detail else "")
                                  + (f"; not sent to the fallback {', '.join(sorted(sent_files))}: it already "
                                     "received this order's other lines, and a second order under the same order "
                                     "number would be taken for a duplicate (its reply could not be told apart); "
                                     "re-checked until the goods are back, or send the line to the fallback by hand"
                                     if sent_files else "")))
                held.append((w, words))
                continue
            if lines_of is None:  # read once, for every order of the batch that falls back
                lines_of = defaultdict(dict)
                for ol in s.scalars(select(OrderLine).where(OrderLine.order_id.in_(order_ids))):
                    lines_of[ol.order_id][ol.platform_line_id] = ol
            by_fallback: dict[str, list[dict[str, Any]]] = defaultdict(list)
            moved_line_ids = {ln["platform_line_id"] for ln in moving}
            for lid in sorted(moved_line_ids):
                ol = lines_of[w.order_id][lid]
                route = routes[ol.merchant_sku]
                assert route.fallback_supplier is not None
                view = LineView(ol.id, ol.platform_line_id, ol.merchant_sku, ol.quantity, ol.title, ol.spec)
                by_fallback[route.fallback_supplier].extend(
                    supplier_lines(view, route, supplier_sku=route.fallback_sku or route.supplier_sku
                                   or route.parts()[0].supplier_sku))
            for fb, lines in by_fallback.items():
                # The fallback supplier may already have this order's other lines waiting: one supplier order, so
                # the supplier sees the order once.
                waiting = next((x for x in siblings[w.order_id] if x.supplier_id == fb
                                and x.state == SupplierOrderState.PENDING and x.batch_id is None
                                and x.first_attempt_at is None), None)
                if waiting is not None:
                    waiting.lines = [*waiting.lines, *lines]
                    waiting.updated_at = now
                    continue
                taken = {x.idempotency_key for x in siblings[w.order_id] if x.supplier_id == fb}
                taken |= {r["idempotency_key"] for r in new_rows if r["order_id"] == w.order_id}
                new_rows.append({
                    "order_id": w.order_id, "supplier_id": fb, "kind": "fallback", "lines": lines,
                    # a second fallback of this order to the same supplier (another line that ran out later) is a
                    # supplier order of its own, under a key of its own
                    "idempotency_key": fresh_key(w.shop_id, w.platform_order_id, fb,
                                                 taken | {idempotency_key(w.shop_id, w.platform_order_id, fb, 1)}),
                    "state": SupplierOrderState.PENDING, "attempts": 0, "created_at": now, "updated_at": now,
                    "cancel_state": "none", "faults": 0})
            kept = [ln for ln in so.lines if ln["platform_line_id"] not in moved_line_ids]
            if kept:
                so.lines, so.last_error = kept, f"moved out-of-stock lines to the fallback: {words}"[:500]
            else:
                so.state = SupplierOrderState.CANCELLED
                so.last_error = f"out of stock; every line moved to the fallback supplier: {words}"[:500]
            audits.add(supplier_id, "fallback", order_subject(w.shop_id, w.platform_order_id), key=w.key,
                       outcome="ok", detail=f"out of stock ({words}) → {', '.join(sorted(by_fallback))}")
            moved.append((w, words, sorted(by_fallback)))
        if new_rows:
            s.execute(insert(SupplierOrder), new_rows)
        open_holds(s, holds, now, auto=True)
        audits.write(s)
    for w, words in held:
        log.info("supplier %s: order %s/%s held out of stock: %s", supplier_id, w.shop_id, w.platform_order_id,
                 words, extra=order_fields(w.shop_id, w.platform_order_id))
    for w, words, to in moved:
        log.info("supplier %s: order %s/%s out of stock (%s): sent to fallback %s", supplier_id, w.shop_id,
                 w.platform_order_id, words, ", ".join(to), extra=order_fields(w.shop_id, w.platform_order_id))


# ---- status and parcels -----------------------------------------------------------------------------------


def follow_orders(rt: Runtime, supplier_id: str, adapter: ApiSupplierAdapter) -> int:
    """Ask the supplier about placed orders that are due: payment, parcels, cancellation on its side, up to
    :data:`STATUS_BATCH` a run in claims of :data:`STATUS_CLAIM` (:func:`in_claims`). The answers of a claim are
    recorded in one transaction after the calls, the payments in one more."""
    seen: set[int] = set()
    return in_claims(rt, lambda: _follow_claim(rt, supplier_id, adapter, seen), STATUS_CLAIM, STATUS_BATCH)


def _follow_claim(rt: Runtime, supplier_id: str, adapter: ApiSupplierAdapter, seen: set[int]) -> tuple[int, bool]:
    now = clock.now()
    with rt.db.begin() as s:
        work = _claim(rt, s, supplier_id, now, and_(SupplierOrder.state == SupplierOrderState.PLACED,
                                                    *_not_again(seen)), STATUS_CLAIM)
    seen.update(w.so_id for w in work)
    if not work:
        return 0, False
    protocol_pay = getattr(rt.config.suppliers[supplier_id], "payment", None) == "protocol_pay"
    answers: list[tuple[_Work, SupplierOrderStatus]] = []
    later: list[tuple[_Work, TransientError]] = []
    faults: list[tuple[_Work, Exception]] = []
    stop: SyncdError | None = None
    transient_in_a_row, paused = 0, False

    def ask(w: _Work) -> tuple[_Work, SupplierOrderStatus | Exception]:
        assert w.supplier_ref is not None
        try:
            return w, adapter.status(w.key, w.supplier_ref)
        except Exception as err:  # noqa: BLE001 - sorted out below, on the stage's thread
            return w, err

    def halt() -> bool:
        return stop is not None or paused or rt.stop.is_set()

    try:
        adapter.ensure_token()
        # up to IN_FLIGHT questions at once (syncd.inflight); a ban, a refused token or timeouts in a row start
        # no further one
        for _, (w, got) in bounded_calls(work, ask, limit=IN_FLIGHT, halt=halt, name=f"status-{supplier_id}"):
            if not isinstance(got, Exception):
                answers.append((w, got))
                transient_in_a_row = 0
            elif isinstance(got, TransientError):
                transient_in_a_row += 1
                later.append((w, got))
                if isinstance(got, RateLimitedError):
                    if not paused:
                        _paused(supplier_id, "status checks", got)
                    paused = True
                elif transient_in_a_row >= MAX_TRANSIENT_IN_A_ROW and stop is None:
                    stop = got
            elif isinstance(got, AuthError):
                stop = stop or got  # the supplier's token: every order is affected
            else:  # one order's unreadable answer (or our bug on it): the others go on
                if stops_the_batch(got):
                    raise got
                faults.append((w, got))
        recorded = _record_statuses(rt, supplier_id, answers, later)
        for w, fault in faults:
            _fault(rt, supplier_id, w, "status", fault)
        if stop is not None:
            raise stop
        if protocol_pay:
            try:
                pay_batch(rt, supplier_id, adapter, [(w, PlacedOrder(st.supplier_ref, paid=False))
                                                     for w, st in recorded if st.phase == SupplierOrderPhase.UNPAID])
            except RateLimitedError as err:  # paid at a later status check
                _paused(supplier_id, "payments", err)
            except TransientError as err:
                log.info("supplier %s: payments stopped for now (%s); paid at a later status check", supplier_id,
                         err)
    finally:
        with rt.db.begin() as s:
            s.execute(update(SupplierOrder).where(SupplierOrder.id.in_([w.so_id for w in work]),
                                                  SupplierOrder.claimed_by == rt.holder)
                      .values(claimed_by=None, claim_until=None))
    return len(recorded), not paused and len(work) >= STATUS_CLAIM


def _record_statuses(rt: Runtime, supplier_id: str, answers: Sequence[tuple[_Work, SupplierOrderStatus]],
                     later: Sequence[tuple[_Work, TransientError]]) -> list[tuple[_Work, SupplierOrderStatus]]:
    """Record a batch of status answers in one transaction (and when one of them makes that fail, each in its
    own, so only that one is set aside); the orders whose question failed for now are asked again later."""

    def ask_later(s: Session) -> None:
        if later:
            s.execute(update(SupplierOrder), [
                {"id": w.so_id, "next_check_at": clock.now() + _unknown_wait(rt), "last_error": str(err)[:500],
                 "claimed_by": None, "claim_until": None, "updated_at": clock.now()} for w, err in later])

    source = f"{supplier_id} status"
    try:
        with rt.db.begin() as s:
            _apply_statuses(rt, s, supplier_id, [(w.so_id, st) for w, st in answers], source, release=True)
            ask_later(s)
        return list(answers)
    except Exception as err:
        if stops_the_batch(err):
            raise  # the database itself: nothing else can be recorded either
    recorded = []
    for w, st in answers:
        try:
            with rt.db.begin() as s:
                _apply_statuses(rt, s, supplier_id, [(w.so_id, st)], source, release=True)
            recorded.append((w, st))
        except Exception as err:  # a status we could not record: this order only
            if stops_the_batch(err):
                raise  # the database itself: nothing else can be recorded either
            _fault(rt, supplier_id, w, "recording the status", err)
    with rt.db.begin() as s:
        ask_later(s)
    return recorded


def _parcel_lines(so_lines: Sequence[Mapping[str, Any]], refs: list[str] | None) -> list[dict[str, Any]] | None:
    """The storefront lines (and storefront quantities) a parcel holds; refs are our line refs or supplier SKUs."""
    if refs is None:
        return None
    want = set(refs)
    out: dict[str, int] = {}
    for ln in so_lines:
        if ln["platform_line_id"] in want or ln["supplier_sku"] in want:
            out[ln["platform_line_id"]] = int(ln.get("storefront_quantity", ln["quantity"]))
    if not out:
        return None
    if len(out) == len({ln["platform_line_id"] for ln in so_lines}):
        return None  # every line: the whole supplier order
    return [{"platform_line_id": k, "quantity": v} for k, v in sorted(out.items())]


def apply_status(rt: Runtime, s: Session, supplier_id: str, so_id: int, status: SupplierOrderStatus, *,
                 source: str) -> int:
    """Record what the supplier says about one supplier order (polled or pushed); returns new parcels."""
    return _apply_statuses(rt, s, supplier_id, [(so_id, status)], source)


def _apply_statuses(rt: Runtime, s: Session, supplier_id: str, answers: Sequence[tuple[int, SupplierOrderStatus]],
                    source: str, *, release: bool = False) -> int:
    """Record what the supplier says about supplier orders, in the caller's transaction, in a handful of
    statements whatever their number; ``release`` also frees each claim and sets its next poll. Returns new
    parcels."""
    if not answers:
        return 0
    now = clock.now()
    ids = [so_id for so_id, _ in answers]
    q = select(SupplierOrder).where(SupplierOrder.id.in_(ids)).order_by(SupplierOrder.id)
    sos = {so.id: so for so in s.scalars(q.with_for_update() if not rt.db.is_sqlite else q)}
    orders = {o.id: o for o in s.scalars(select(Order).where(Order.id.in_({so.order_id for so in sos.values()})))}
    numbers = {p.tracking_no for _, st in answers for p in st.parcels if p.tracking_no}
    existing = {r.tracking_no: r.order_id for r in s.execute(
        select(Shipment.tracking_no, Shipment.order_id).where(Shipment.tracking_no.in_(numbers)))} if numbers else {}
    new_rows: list[dict[str, Any]] = []
    audits = Audits(rt)
    for so_id, status in answers:
        so = sos.get(so_id)
        assert so is not None
        order = orders.get(so.order_id)
        assert order is not None
        new_rows += _apply_one(s, audits, supplier_id, so, order, status, source, existing, now)
        if release:
            so.claimed_by, so.claim_until, so.next_check_at, so.faults = None, None, now + _poll_every(rt), 0
            so.updated_at = now
    if new_rows:
        s.execute(insert(Shipment), new_rows)
    audits.write(s)
    return len(new_rows)


def _apply_one(s: Session, audits: Audits, supplier_id: str, so: SupplierOrder, order: Order,
               status: SupplierOrderStatus, source: str, existing: dict[str, int], now: datetime
               ) -> list[dict[str, Any]]:
    """One answer, on loaded rows; returns the shipments to insert (``existing`` gains their numbers)."""
    trail = order_subject(order.shop_id, order.platform_order_id)  # the audit log's name
    if status.phase == SupplierOrderPhase.UNPAID:
        so.paid = False
    elif status.phase in (SupplierOrderPhase.ACCEPTED, SupplierOrderPhase.PARTIAL, SupplierOrderPhase.SHIPPED):
        so.paid = True
    if status.phase in (SupplierOrderPhase.CANCELLED, SupplierOrderPhase.REJECTED):
        if so.state in (SupplierOrderState.PLACED, SupplierOrderState.PLACING):
            so.state = SupplierOrderState.CANCELLED
            so.updated_at = now
            if so.cancel_state == "requested":
                so.cancel_state = "cancelled"
                _maybe_cancel_order(s, order, now)
            else:
                so.last_error = f"the supplier {status.phase.value} it: {status.detail}"[:500]
                if may_hold_again(order.state, order.hold_reason, live=_SENT_ORDER):
                    hold_order(s, order, HoldReason.SUPPLIER_REJECTED,
                               f"supplier {supplier_id} {status.phase.value} the order: {status.detail}", now,
                               auto=False)
        return []
    new_rows: list[dict[str, Any]] = []
    problems: list[str] = []
    for p in status.parcels:
        if not p.tracking_no:
            continue
        other = existing.get(p.tracking_no)
        if other is not None:
            if other != so.order_id:
                problems.append(f"tracking number {p.tracking_no} is already used by another order")
            continue
        existing[p.tracking_no] = so.order_id
        if p.carrier is None:
            problems.append(f"unknown carrier {p.carrier_text!r} for tracking number {p.tracking_no}")
        new_rows.append({
            "order_id": so.order_id, "supplier_order_id": so.id, "carrier": p.carrier or "",
            "carrier_text": p.carrier_text[:64], "tracking_no": p.tracking_no[:64],
            "lines": _parcel_lines(so.lines, p.line_refs), "source": source[:255],
            "writeback_state": (WritebackState.SKIPPED if so.kind == "reship" else WritebackState.PENDING),
            "writeback_error": ("a reship: the storefront keeps the first parcel's number"
                                if so.kind == "reship" else None),
            "writeback_attempts": 0, "logistics_state": "none", "created_at": now,
            "handed_over_at": clock.ensure_utc(p.sent_at) if p.sent_at else now,
            "province": str((order.receiver or {}).get("province", ""))[:32],
        })
    if new_rows:
        audits.add(supplier_id, "tracking", trail, key=so.idempotency_key, outcome="ok",
                   detail=", ".join(str(r["tracking_no"]) for r in new_rows))
    if status.phase == SupplierOrderPhase.SHIPPED and so.state == SupplierOrderState.PLACED:
        so.state, so.shipped_at, so.updated_at = SupplierOrderState.SHIPPED, now, now
    if problems:
        so.last_error = "; ".join(problems)[:500]
        if may_hold_again(order.state, order.hold_reason, live=_SENT_ORDER | {OrderState.SHIPPED}):
            hold_order(s, order, HoldReason.TRACKING_REJECTED, "; ".join(problems), now, auto=False)
    return new_rows


def _maybe_cancel_order(s: Session, order: Order, now: datetime) -> None:
    """Every supplier order cancelled and nothing shipped: the order ends cancelled."""
    live = s.scalar(select(SupplierOrder.id).where(SupplierOrder.order_id == order.id,
                                                    SupplierOrder.state != SupplierOrderState.CANCELLED).limit(1))
    shipped = s.scalar(select(Shipment.id).where(Shipment.order_id == order.id).limit(1))
    if live is None and shipped is None and order.state in (OrderState.PLACED, OrderState.ROUTED, OrderState.HELD):
        if order.state == OrderState.HELD:
            release_holds(s, [order.id], now, "auto")  # a cancelled order holds nothing any more
        order.state, order.updated_at, order.hold_reason = OrderState.CANCELLED, now, None
        order.last_error = "cancelled at the supplier after a refund on the storefront"


# ---- cancellation --------------------------------------------------------------------------------------------


def cancel_orders(rt: Runtime, supplier_id: str, adapter: ApiSupplierAdapter) -> int:
    """Tell the supplier not to ship supplier orders whose storefront order was refunded or cancelled."""
    now = clock.now()
    with rt.db.begin() as s:
        work = _claim(rt, s, supplier_id, now, SupplierOrder.cancel_state == "requested", PLACE_BATCH)
    if not work:
        return 0  # nothing claimed, nothing to free: no second transaction
    done, transient_in_a_row = 0, 0
    try:
        for w in work:
            if rt.stop.is_set():
                break
            try:
                done += _cancel_one(rt, supplier_id, adapter, w)
                transient_in_a_row = 0
            except RateLimitedError as err:
                _paused(supplier_id, "cancellations", err)
                break
            except TransientError as err:
                with rt.db.begin() as s:
                    _release(s, w.so_id, next_check_at=clock.now() + CANCEL_RETRY, cancel_detail=str(err)[:500])
                transient_in_a_row += 1
                if transient_in_a_row >= MAX_TRANSIENT_IN_A_ROW:
                    raise
            except AuthError:
                raise
            except Exception as err:  # one order's unreadable answer (or our bug on it): the others go on
                if stops_the_batch(err):
                    raise
                _fault(rt, supplier_id, w, "cancel", err)
    finally:
        with rt.db.begin() as s:
            s.execute(update(SupplierOrder).where(SupplierOrder.id.in_([w.so_id for w in work]),
                                                  SupplierOrder.claimed_by == rt.holder)
                      .values(claimed_by=None, claim_until=None))
    return done


def _cancel_one(rt: Runtime, supplier_id: str, adapter: ApiSupplierAdapter, w: _Work) -> int:
    now = clock.now()
    subject = f"{w.shop_id}/{w.platform_order_id}"
    trail = order_subject(w.shop_id, w.platform_order_id)  # the audit log's name
    ref = w.supplier_ref
    if w.state == SupplierOrderState.PENDING or (w.state == SupplierOrderState.PLACING and w.first_attempt_at is None):
        with rt.db.begin() as s:
            _release(s, w.so_id, state=SupplierOrderState.CANCELLED, cancel_state="cancelled",
                     cancel_detail="never sent to the supplier")
            order = s.get(Order, w.order_id)
            assert order is not None
            _maybe_cancel_order(s, order, now)
        return 1
    if w.state == SupplierOrderState.SHIPPED:
        with rt.db.begin() as s:
            _release(s, w.so_id, cancel_state="too_late",
                     cancel_detail="the supplier shipped it already: intercept the parcel or arrange a return")
        return 1
    if w.state == SupplierOrderState.PLACING:
        assert w.first_attempt_at is not None
        found = adapter.find(w.key, w.first_attempt_at - FIND_MARGIN)
        if found is None:
            with rt.db.begin() as s:
                _release(s, w.so_id, state=SupplierOrderState.CANCELLED, cancel_state="cancelled",
                         cancel_detail="the supplier never received it")
                order = s.get(Order, w.order_id)
                assert order is not None
                _maybe_cancel_order(s, order, now)
            return 1
        ref = found.supplier_ref
        with rt.db.begin() as s:
            s.execute(update(SupplierOrder).where(SupplierOrder.id == w.so_id).values(
                state=SupplierOrderState.PLACED, supplier_ref=ref[:100], placed_at=now, paid=found.paid,
                **supplier_cost(found)))
    assert ref is not None
    if w.faults and adapter.status(w.key, ref).phase == SupplierOrderPhase.CANCELLED:
        # an earlier cancel's answer could not be read: it went through
        with rt.db.begin() as s:
            _release(s, w.so_id, state=SupplierOrderState.CANCELLED, cancel_state="cancelled", faults=0,
                     cancel_detail="cancelled (read back after an unreadable answer)")
            order = s.get(Order, w.order_id)
            assert order is not None
            _maybe_cancel_order(s, order, now)
            audit(s, rt, supplier_id, "cancel_order", trail, key=w.key, outcome="ok",
                  detail="read back: cancelled at the supplier")
        return 1
    with rt.db.begin() as s:
        audit(s, rt, supplier_id, "cancel_order", trail, key=w.key, outcome="intent", detail=f"supplier order {ref}")
    try:
        result = adapter.cancel(w.key, ref, "buyer cancelled or refunded on the storefront")
    except TransientError as err:
        with rt.db.begin() as s:
            _release(s, w.so_id, next_check_at=now + CANCEL_RETRY, cancel_detail=str(err)[:500])
            audit(s, rt, supplier_id, "cancel_order", trail, key=w.key, outcome="unknown", detail=str(err))
        return 0
    except RejectedError as err:
        result_outcome, detail = CancelOutcome.TOO_LATE, str(err)
    else:
        result_outcome, detail = result.outcome, result.detail
    with rt.db.begin() as s:
        if result_outcome == CancelOutcome.CANCELLED:
            _release(s, w.so_id, state=SupplierOrderState.CANCELLED, cancel_state="cancelled", cancel_detail=detail)
            order = s.get(Order, w.order_id)
            assert order is not None
            _maybe_cancel_order(s, order, now)
        elif result_outcome == CancelOutcome.RETRY:
            _release(s, w.so_id, next_check_at=now + CANCEL_RETRY, cancel_detail=detail)
        else:
            _release(s, w.so_id, cancel_state="too_late", cancel_detail=detail or "the supplier can no longer stop it")
        audit(s, rt, supplier_id, "cancel_order", trail, key=w.key,
              outcome="ok" if result_outcome == CancelOutcome.CANCELLED else "failed", detail=f"{result_outcome}: "
              f"{detail}")
    log.info("supplier %s: cancel %s: %s %s", supplier_id, subject, result_outcome, detail)
    return 1

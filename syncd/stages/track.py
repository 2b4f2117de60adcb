"""track: follow every parcel that is not at a final state — oldest-checked first, within the provider's daily
query budget — through the tracking provider (Kuaidi100), or the supplier's own trace (1688) where it has one.

Cadence slows for quiet parcels and stops at a final state (delivered, returned, or the provider stopped):
a parcel with no record yet is asked again after ``NO_RECORD``; a moving parcel after a quarter of the time since
its last scan, between ``MIN_EVERY`` and ``MAX_EVERY``. Pushes (Kuaidi100 subscription) land in
:func:`apply_result` too, through the HTTP listener's callback.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, SQLAlchemyError, StatementError
from sqlalchemy.orm import Session

from syncd import clock
from syncd.domain import LogisticsState, TrackPush, TrackResult
from syncd.errors import RateLimitedError, RejectedError, SyncdError, TransientError
from syncd.runtime import Runtime
from syncd.stages.runner import StageReport, scope
from syncd.store.models import Order, Shipment, SupplierOrder, TrackingEvent, Usage

log = logging.getLogger("syncd.track")

BATCH = 200
MAX_BATCHES_PER_RUN = 100  # a run ends after this many batches whatever the clock says
NO_RECORD = timedelta(hours=2)
MIN_EVERY = timedelta(hours=1)
MAX_EVERY = timedelta(hours=12)
SUBSCRIBED_EVERY = timedelta(hours=24)  # pushes carry the news; a slow poll only guards against lost pushes
REFUSED_EVERY = timedelta(hours=12)
_EVENTS = cast(Table, TrackingEvent.__table__)


def usage_day(now: datetime) -> str:
    """Providers count quotas per day in China time."""
    return clock.ensure_utc(now).astimezone(clock.SHANGHAI).strftime("%Y-%m-%d")


def queries_used(s: Session, provider: str, now: datetime) -> int:
    return int(s.scalar(select(Usage.count).where(Usage.name == f"track:{provider}", Usage.day == usage_day(now)))
               or 0)


def _count_query(s: Session, provider: str, now: datetime, n: int = 1) -> None:
    name, day = f"track:{provider}", usage_day(now)
    ins = (pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert)(Usage)
    s.execute(ins.values(name=name, day=day, count=n).on_conflict_do_update(
        index_elements=["name", "day"], set_={"count": Usage.count + n}))


def next_check(result: TrackResult, now: datetime, *, min_every: timedelta = MIN_EVERY) -> datetime | None:
    """When to ask about a parcel again (None: never — it reached a final state)."""
    if result.final or result.state.final:
        return None
    if not result.events:
        return now + max(NO_RECORD, min_every)
    quiet = now - result.events[-1].at
    return now + min(MAX_EVERY, max(min_every, quiet / 4))


def _digest(at: datetime, text: str) -> str:
    return hashlib.sha1(f"{clock.ensure_utc(at).isoformat()}\x1f{text}".encode()).hexdigest()  # noqa: S324


def apply_result(s: Session, shipment_id: int, result: TrackResult, now: datetime, *, source: str,
                 min_every: timedelta = MIN_EVERY, subscribed: bool = False) -> None:
    """Record a parcel's history and normalised state (from a query or a push)."""
    if result.events:
        # One cached statement, run as executemany: a multi-row VALUES is compiled anew on every call (about
        # 1.5 ms of CPU per parcel, ``syncd bench --tracking``).
        ins = (pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert)(_EVENTS)
        s.execute(ins.on_conflict_do_nothing(index_elements=["shipment_id", "digest"]),
                  [{"shipment_id": shipment_id, "at": clock.ensure_utc(e.at), "state": e.state.value,
                    "text": e.text[:2000], "location": e.location[:128], "digest": _digest(e.at, e.text),
                    "source": source[:32]} for e in result.events])
    values: dict[str, Any] = {"logistics_state": result.state.value, "last_checked_at": now,
                              "provider_state": (result.provider_state or "")[:32] or None,
                              "track_verdict": (result.verdict or None) and result.verdict[:64]}
    if result.events:
        values["last_event_at"] = max(clock.ensure_utc(e.at) for e in result.events)
        scanned = [clock.ensure_utc(e.at) for e in result.events if e.state is not LogisticsState.NONE]
        if scanned or result.state is not LogisticsState.NONE:
            values["picked_up_at"] = min(scanned) if scanned else values["last_event_at"]
        if result.state is LogisticsState.DELIVERED:
            values["delivered_at"] = values["last_event_at"]
    nxt = next_check(result, now, min_every=min_every)
    values["track_final"] = nxt is None
    values["next_check_at"] = (now + SUBSCRIBED_EVERY) if (subscribed and nxt is not None) else nxt
    if values.get("picked_up_at") is not None:  # keep the first scan ever seen
        old = s.scalar(select(Shipment.picked_up_at).where(Shipment.id == shipment_id))
        if old is not None and old < values["picked_up_at"]:
            values["picked_up_at"] = old
    # no Shipment object lives in these sessions: nothing for the ORM to synchronise (about 0.8 ms per parcel)
    s.execute(update(Shipment).where(Shipment.id == shipment_id).values(**values)
              .execution_options(synchronize_session=False))


@dataclass(frozen=True, slots=True)
class _Parcel:
    id: int
    carrier: str
    tracking_no: str
    supplier_id: str
    supplier_ref: str | None
    phone_masked: str
    subscribed_at: datetime | None


def _due(rt: Runtime, s: Session, now: datetime, limit: int) -> list[_Parcel]:
    """Parcels never checked (by id), then the longest overdue: two reads in the order of ix_shipments_track
    that stop at ``limit``. One ORDER BY over ``next_check_at IS NULL OR <= now`` joined and sorted every active
    parcel on each pass (60–200 ms a pass at 100,000 parcels, a pass per 200 of them)."""
    base = (select(Shipment.id, Shipment.carrier, Shipment.tracking_no, Shipment.subscribed_at,
                   SupplierOrder.supplier_id, SupplierOrder.supplier_ref, Order.receiver)
            .join(SupplierOrder, SupplierOrder.id == Shipment.supplier_order_id)
            .join(Order, Order.id == Shipment.order_id)
            .where(Shipment.track_final.is_(False), Shipment.carrier != ""))
    rows = list(s.execute(base.where(Shipment.next_check_at.is_(None)).order_by(Shipment.id).limit(limit)))
    if len(rows) < limit:
        rows += s.execute(base.where(Shipment.next_check_at <= now)
                          .order_by(Shipment.next_check_at, Shipment.id).limit(limit - len(rows)))
    return [_Parcel(r.id, r.carrier, r.tracking_no, r.supplier_id, r.supplier_ref,
                    str((r.receiver or {}).get("phone_masked", "")), r.subscribed_at) for r in rows]


def _phone_tail(masked: str) -> str | None:
    digits = "".join(ch for ch in masked[-4:] if ch.isdigit())
    return digits if len(digits) == 4 else None


def track(rt: Runtime) -> int:
    """One pass: ask about the parcels that are due, as far as the budget allows; returns parcels checked."""
    provider = rt.tracker
    cfg = rt.config.tracking
    if provider is None and not rt.api_suppliers:
        return 0
    now = clock.now()
    budget = int(getattr(cfg, "daily_query_budget", 0) or 0)
    min_every = timedelta(minutes=float(getattr(cfg, "min_poll_minutes", MIN_EVERY.total_seconds() / 60)))
    subscribe = getattr(cfg, "mode", "poll") == "subscribe" and getattr(cfg, "callback_base_url", None)
    with rt.db.read() as s:
        used = queries_used(s, provider.name, now) if provider else 0
        parcels = _due(rt, s, now, BATCH)
    checked = 0
    paused: set[str] = set()  # suppliers whose flow control refused a trace: their parcels wait for a later pass
    for p in parcels:
        if rt.stop.is_set():
            break
        now = clock.now()
        api = rt.api_suppliers.get(p.supplier_id)
        result: TrackResult | None = None
        source = ""
        try:
            if api is not None and p.supplier_ref:
                if p.supplier_id in paused:
                    continue
                try:
                    result, source = api.trace(p.supplier_ref, p.tracking_no), p.supplier_id
                except TransientError as err:  # this supplier is busy or down: not the provider's parcels
                    log.info("tracking: supplier %s %s (%s); its parcels follow later", p.supplier_id,
                             "paused by flow control" if isinstance(err, RateLimitedError) else "unreachable", err)
                    paused.add(p.supplier_id)
                    continue
            if result is None and provider is not None:
                if subscribe and p.subscribed_at is None:
                    url = f"{str(getattr(cfg, 'callback_base_url', '')).rstrip('/')}/callbacks/kuaidi100?sid={p.id}"
                    provider.subscribe(p.carrier, p.tracking_no, _phone_tail(p.phone_masked), url)
                    with rt.db.begin() as s:
                        s.execute(update(Shipment).where(Shipment.id == p.id).values(
                            subscribed_at=now, next_check_at=now + SUBSCRIBED_EVERY))
                    checked += 1
                    continue
                if budget and used >= budget:
                    log.warning("tracking: the daily budget of %d queries is used up; the rest wait until tomorrow",
                                budget)
                    break
                used += 1
                with rt.db.begin() as s:
                    _count_query(s, provider.name, now)
                result, source = provider.query(p.carrier, p.tracking_no, _phone_tail(p.phone_masked)), provider.name
        except RateLimitedError:
            raise
        except RejectedError as err:  # this number / carrier is refused: a verdict, asked again much later
            with rt.db.begin() as s:
                s.execute(update(Shipment).where(Shipment.id == p.id).values(
                    track_verdict=f"refused: {err}"[:64], last_checked_at=now, next_check_at=now + REFUSED_EVERY))
            checked += 1
            continue
        except TransientError:
            raise
        except Exception as err:  # an unreadable answer (or our bug on it) for one parcel must not stop the others
            if isinstance(err, SQLAlchemyError):
                raise
            _unreadable(rt, p, err, now)
            continue
        if result is None:
            continue
        try:
            with rt.db.begin() as s:
                apply_result(s, p.id, result, now, source=source, min_every=min_every,
                             subscribed=p.subscribed_at is not None)
        except Exception as err:  # a result we could not record (odd events): this parcel only
            if isinstance(err, DBAPIError) or (isinstance(err, SQLAlchemyError)
                                               and not isinstance(err, StatementError)):
                raise  # the database itself (a value it refused to bind is the answer's fault: StatementError)
            _unreadable(rt, p, err, now)
            continue
        checked += 1
    return checked


def _unreadable(rt: Runtime, p: _Parcel, err: Exception, now: datetime) -> None:
    """One parcel's answer could not be read or recorded: asked again after ``NO_RECORD``, the pass goes on."""
    if isinstance(err, SyncdError):
        log.warning("tracking %s %s: %s", p.carrier, p.tracking_no, err)
    else:
        log.error("tracking %s %s: unexpected error on its answer; the other parcels go on", p.carrier,
                  p.tracking_no, exc_info=err)
    with rt.db.begin() as s:
        s.execute(update(Shipment).where(Shipment.id == p.id).values(
            last_checked_at=now, next_check_at=now + NO_RECORD))


def apply_push(rt: Runtime, push: TrackPush, shipment_id: int | None) -> int:
    """A verified push: record it on the parcel(s) with this number; returns how many were updated."""
    now = clock.now()
    with rt.db.begin() as s:
        q = select(Shipment.id).where(Shipment.tracking_no == push.tracking_no)
        if shipment_id is not None:
            q = q.where(Shipment.id == shipment_id)
        ids = list(s.scalars(q))
        for sid in ids:
            apply_result(s, sid, push.result, now, source="push", subscribed=True)
    return len(ids)


def run(rt: Runtime, report: StageReport) -> None:
    """Batch after batch while parcels are due, within the budget and most of the stage's interval: one batch
    a run would follow at most ``BATCH`` parcels per interval (57,600 a day at the default 300 s)."""
    with scope(rt, report, rt.tracker.name if rt.tracker else "suppliers"):
        until = clock.now() + timedelta(seconds=0.8 * rt.config.global_.intervals.track)
        for _ in range(MAX_BATCHES_PER_RUN):
            checked = track(rt)
            report.work += checked
            if checked < BATCH or rt.stop.is_set() or clock.now() >= until:
                break


"""track: follow every parcel that is not at a final state — oldest-checked first, within the provider's daily
query budget — through the tracking provider (Kuaidi100), the supplier's own trace (1688), or both, as the
supplier file's ``tracking_source`` says (:func:`sources`).

Cadence slows for quiet parcels and stops at a final state (delivered, returned, or the provider stopped):
a parcel with no record yet is asked again after ``NO_RECORD``; a moving parcel after a quarter of the time since
its last scan, between ``MIN_EVERY`` and ``MAX_EVERY``. Pushes (Kuaidi100 subscription) land in
:func:`apply_result` too, through the HTTP listener's callback. Whatever the source, a reading whose newest scan is
older than the parcel's changes nothing (:func:`is_stale`): a parcel's state never moves backwards.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
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
_SHIPMENTS = cast(Table, Shipment.__table__)


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


def is_stale(stored_newest: datetime | None, newest: datetime | None, *, authoritative: bool = True) -> bool:
    """Whether a reading is behind what the parcel already shows, and so must change nothing.

    A parcel's state never moves backwards: a push replayed or arriving out of order, a poll answer from a
    provider that lags another source, a trace without events after scans were seen, all name an older newest
    event than the one stored. At the same newest event only an authoritative source may change the reading
    (Kuaidi100 over 1688's words when a supplier follows both); a source alone is authoritative.
    """
    if stored_newest is None:
        return False
    if newest is None:
        return True
    stored_newest, newest = clock.ensure_utc(stored_newest), clock.ensure_utc(newest)
    return newest < stored_newest or (newest == stored_newest and not authoritative)


def apply_result(s: Session, shipment_id: int, result: TrackResult, now: datetime, *, source: str,
                 min_every: timedelta = MIN_EVERY, subscribed: bool = False, authoritative: bool = True,
                 polled: bool = True) -> bool:
    """Record a parcel's history and normalised state (from a query or a push); False when the reading is stale
    (:func:`is_stale`) and changed nothing. ``polled``: syncd asked for it, so even a stale answer counts as a
    check (when to ask again); a push that is stale leaves the row as it was."""
    return apply_results(s, [Reading(shipment_id, result, source, authoritative, subscribed)], now,
                         min_every=min_every, polled=polled) == [True]


@dataclass(frozen=True, slots=True)
class Reading:
    """One answer about one parcel, as :func:`apply_results` records it."""

    shipment_id: int
    result: TrackResult
    source: str
    authoritative: bool = True
    subscribed: bool = False


def apply_results(s: Session, readings: Sequence[Reading], now: datetime, *, min_every: timedelta = MIN_EVERY,
                  polled: bool = True) -> list[bool]:
    """:func:`apply_result` for many readings, in four statements at most whatever their number: one read of the
    parcels, one insert of the events, one update per shape of row. Readings of one parcel are applied in their
    order (the authoritative one last), each on what the one before left."""
    ids = sorted({r.shipment_id for r in readings})
    rows = {r.id: {"last_event_at": r.last_event_at, "picked_up_at": r.picked_up_at, "track_final": r.track_final}
            for r in s.execute(select(Shipment.id, Shipment.last_event_at, Shipment.picked_up_at, Shipment.track_final)
                               .where(Shipment.id.in_(ids)))}
    fresh: list[bool] = []
    events: list[dict[str, Any]] = []
    updates: dict[int, dict[str, Any]] = {}
    for r in readings:
        row = rows.get(r.shipment_id)
        if row is None:
            fresh.append(False)
            continue
        values, new_events = _reading(row, r, now, min_every=min_every, polled=polled)
        fresh.append(new_events is not None)
        if new_events:
            events += new_events
        if values:
            row.update({k: v for k, v in values.items() if k in row})
            updates.setdefault(r.shipment_id, {}).update(values)
    if events:
        # One cached statement, run as executemany: a multi-row VALUES is compiled anew on every call (about
        # 1.5 ms of CPU per parcel, ``syncd bench --tracking``).
        ins = (pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert)(_EVENTS)
        s.execute(ins.on_conflict_do_nothing(index_elements=["shipment_id", "digest"]), events)
    by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for sid, values in updates.items():
        by_shape[tuple(sorted(values))].append({"_id": sid, **values})
    for shape, params in by_shape.items():
        # Core, by id: no Shipment object lives in these sessions, nothing for the ORM to synchronise
        s.execute(update(_SHIPMENTS).where(_SHIPMENTS.c.id == bindparam("_id"))
                  .values({k: bindparam(k) for k in shape}), params)
    return fresh


def _reading(row: dict[str, Any], r: Reading, now: datetime, *, min_every: timedelta, polled: bool
             ) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    """What one reading changes on its parcel (as ``row`` shows it): the values to set, and the events to add
    (None: the reading is stale and only counts as a check when ``polled``)."""
    result = r.result
    newest = max((clock.ensure_utc(e.at) for e in result.events), default=None)
    stored = clock.ensure_utc(row["last_event_at"]) if row["last_event_at"] is not None else None
    if is_stale(stored, newest, authoritative=r.authoritative):
        checked: dict[str, Any] = {}
        if polled:
            checked["last_checked_at"] = now
            if not row["track_final"] and stored is not None:
                checked["next_check_at"] = (now + SUBSCRIBED_EVERY) if r.subscribed else \
                    now + min(MAX_EVERY, max(min_every, (now - stored) / 4))
        return checked, None
    events = [{"shipment_id": r.shipment_id, "at": clock.ensure_utc(e.at), "state": e.state.value,
               "text": e.text[:2000], "location": e.location[:128], "digest": _digest(e.at, e.text),
               "source": r.source[:32]} for e in result.events]
    values: dict[str, Any] = {"logistics_state": result.state.value, "last_checked_at": now,
                              "provider_state": (result.provider_state or "")[:32] or None,
                              "track_verdict": (result.verdict or None) and result.verdict[:64]}
    if newest is not None:
        values["last_event_at"] = newest
        scanned = [clock.ensure_utc(e.at) for e in result.events if e.state is not LogisticsState.NONE]
        if scanned or result.state is not LogisticsState.NONE:
            values["picked_up_at"] = min(scanned) if scanned else newest
        if result.state is LogisticsState.DELIVERED:
            values["delivered_at"] = newest
    nxt = next_check(result, now, min_every=min_every)
    if newest is not None and newest == stored and row["track_final"]:
        nxt = None  # the same history again (a replayed final push) does not start following it anew
    values["track_final"] = nxt is None
    values["next_check_at"] = (now + SUBSCRIBED_EVERY) if (r.subscribed and nxt is not None) else nxt
    old = row["picked_up_at"]
    if values.get("picked_up_at") is not None and old is not None and clock.ensure_utc(old) < values["picked_up_at"]:
        values["picked_up_at"] = old  # keep the first scan ever seen
    return values, events


@dataclass(frozen=True, slots=True)
class _Parcel:
    id: int
    carrier: str
    tracking_no: str
    supplier_id: str
    supplier_ref: str | None
    phone_masked: str
    subscribed_at: datetime | None
    handed_over_at: datetime


def _due(rt: Runtime, s: Session, now: datetime, limit: int) -> list[_Parcel]:
    """Parcels never checked (by id), then the longest overdue: two reads in the order of ix_shipments_track
    that stop at ``limit``. One ORDER BY over ``next_check_at IS NULL OR <= now`` joined and sorted every active
    parcel on each pass (60–200 ms a pass at 100,000 parcels, a pass per 200 of them)."""
    base = (select(Shipment.id, Shipment.carrier, Shipment.tracking_no, Shipment.subscribed_at,
                   func.coalesce(Shipment.handed_over_at, Shipment.created_at).label("handed_over_at"),
                   SupplierOrder.supplier_id, SupplierOrder.supplier_ref, Order.receiver)
            .join(SupplierOrder, SupplierOrder.id == Shipment.supplier_order_id)
            .join(Order, Order.id == Shipment.order_id)
            .where(Shipment.track_final.is_(False), Shipment.carrier != ""))
    rows = list(s.execute(base.where(Shipment.next_check_at.is_(None)).order_by(Shipment.id).limit(limit)))
    if len(rows) < limit:
        rows += s.execute(base.where(Shipment.next_check_at <= now)
                          .order_by(Shipment.next_check_at, Shipment.id).limit(limit - len(rows)))
    return [_Parcel(r.id, r.carrier, r.tracking_no, r.supplier_id, r.supplier_ref,
                    str((r.receiver or {}).get("phone_masked", "")), r.subscribed_at,
                    clock.ensure_utc(r.handed_over_at)) for r in rows]


def _phone_tail(masked: str) -> str | None:
    digits = "".join(ch for ch in masked[-4:] if ch.isdigit())
    return digits if len(digits) == 4 else None


def sources(setting: str, *, has_trace: bool, has_provider: bool) -> tuple[bool, bool]:
    """Whom to ask about a parcel: (the supplier's own trace, the tracking provider).

    ``setting`` is the supplier file's ``tracking_source``: ``supplier`` (its trace only), ``provider``
    (tracking.yaml's provider only), ``both`` (the trace and the provider, whose reading wins at the same newest
    scan), ``auto`` (the provider when one is configured, else the trace). What is not there is not asked.
    """
    if not has_trace:
        return False, has_provider
    if not has_provider or setting == "supplier":
        return True, False
    return setting == "both", True


def first_read(handed_over_at: datetime, now: datetime, no_pickup_after: timedelta) -> datetime | None:
    """When syncd reads a freshly subscribed parcel itself if no push came first (None: at once).

    Kuaidi100 pushes once a carrier has scanned the parcel, so a parcel nobody picked up is never pushed: one
    query when the no-pickup rule could first apply gives the alerts a reading (they wait for one)."""
    due = clock.ensure_utc(handed_over_at) + no_pickup_after
    if due <= now:
        return None
    return min(due, now + SUBSCRIBED_EVERY)


def _setting(rt: Runtime, supplier_id: str) -> str:
    # a supplier kind whose adapter has a trace declares tracking_source in its file (1688); others have none
    return str(getattr(rt.config.suppliers.get(supplier_id), "tracking_source", "auto"))


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
    no_pickup_after = timedelta(hours=float(rt.config.alerts.no_pickup_warn_hours))
    done = _Pass()  # what the pass learnt, recorded in one transaction at its end (or when it stops early)
    try:
        for p in parcels:
            if rt.stop.is_set():
                break
            now = clock.now()
            api = rt.api_suppliers.get(p.supplier_id)
            ask_trace, ask_provider = sources(_setting(rt, p.supplier_id), has_provider=provider is not None,
                                              has_trace=api is not None and bool(p.supplier_ref))
            # (reading, source, authoritative, subscribed): applied in this order, the authoritative one last
            readings: list[Reading] = []
            try:
                if ask_trace and api is not None and p.supplier_ref:
                    if p.supplier_id in paused:
                        continue
                    try:
                        traced = api.trace(p.supplier_ref, p.tracking_no)
                    except TransientError as err:  # this supplier is busy or down: not the provider's parcels
                        log.info("tracking: supplier %s %s (%s); its parcels follow later", p.supplier_id,
                                 "paused by flow control" if isinstance(err, RateLimitedError) else "unreachable",
                                 err)
                        paused.add(p.supplier_id)
                        continue
                    if traced is not None:
                        readings.append(Reading(p.id, traced, p.supplier_id, not ask_provider, False))
                    else:  # the supplier has no trace of it (older than a year, a supplier without traces)
                        ask_provider = provider is not None
                if ask_provider and provider is not None:
                    if subscribe and p.subscribed_at is None:
                        url = (f"{str(getattr(cfg, 'callback_base_url', '')).rstrip('/')}/callbacks/kuaidi100"
                               f"?sid={p.id}")
                        provider.subscribe(p.carrier, p.tracking_no, _phone_tail(p.phone_masked), url)
                        first = first_read(p.handed_over_at, now, no_pickup_after)
                        with rt.db.begin() as s:
                            s.execute(update(Shipment).where(Shipment.id == p.id).values(
                                subscribed_at=now, next_check_at=first or now))
                        if first is not None and not readings:
                            checked += 1
                            continue
                    query = not (subscribe and readings)  # both, subscribed: the provider's news come as pushes
                    if query and budget and used >= budget:
                        if not readings:
                            log.warning("tracking: the daily budget of %d queries is used up; the rest wait until "
                                        "tomorrow", budget)
                            break
                        query = False
                    if query:
                        used += 1
                        if not done.queries:  # counted before the first query, the rest with the pass's outcome
                            with rt.db.begin() as s:
                                _count_query(s, provider.name, now)
                        done.queries += 1
                        try:
                            answer = provider.query(p.carrier, p.tracking_no, _phone_tail(p.phone_masked))
                        except RejectedError as err:
                            if not readings:
                                raise
                            # both: the provider refuses this number or carrier, the supplier's trace still stands
                            log.debug("tracking %s %s: %s refused it (%s)", p.carrier, p.tracking_no, provider.name,
                                      err)
                        else:
                            # subscribed by now in subscribe mode: this query only guards against lost pushes
                            readings.append(Reading(p.id, answer, provider.name, True, bool(subscribe)))
            except RateLimitedError:
                raise
            except RejectedError as err:  # this number / carrier is refused: a verdict, asked again much later
                done.refused.append({"_id": p.id, "track_verdict": f"refused: {err}"[:64], "last_checked_at": now,
                                     "next_check_at": now + REFUSED_EVERY})
                checked += 1
                continue
            except TransientError:
                raise
            except Exception as err:  # an unreadable answer (or our bug on it) for one parcel must not stop the others
                if isinstance(err, SQLAlchemyError):
                    raise
                _unreadable(rt, p, err, now)
                continue
            if not readings:  # nobody has a trace of it: ask again much later rather than at every pass
                done.quiet.append({"_id": p.id, "next_check_at": now + MAX_EVERY})
                continue
            done.readings.append((p, readings, now))
            checked += 1
    finally:
        checked -= _record_pass(rt, provider.name if provider else "", done, min_every)
    return checked


@dataclass(slots=True)
class _Pass:
    """What one pass learnt: recorded together by :func:`_record_pass`."""

    queries: int = 0  # provider queries made (the first one already counted)
    refused: list[dict[str, Any]] = field(default_factory=list)
    quiet: list[dict[str, Any]] = field(default_factory=list)
    readings: list[tuple[_Parcel, list[Reading], datetime]] = field(default_factory=list)


def _record_pass(rt: Runtime, provider: str, done: _Pass, min_every: timedelta) -> int:
    """Record a pass in one transaction; when a reading makes that fail, each parcel's readings in their own, so
    only that parcel is set aside (asked again after NO_RECORD). Returns how many were set aside."""

    def rest(s: Session) -> None:
        if done.queries > 1:
            _count_query(s, provider, clock.now(), done.queries - 1)
        for params in (done.refused, done.quiet):
            if params:
                s.execute(update(_SHIPMENTS).where(_SHIPMENTS.c.id == bindparam("_id"))
                          .values({k: bindparam(k) for k in params[0] if k != "_id"}), params)

    try:
        with rt.db.begin() as s:
            rest(s)
            if done.readings:  # at the pass's end: the same "now" for every parcel of it
                apply_results(s, [r for _, readings, _ in done.readings for r in readings], clock.now(),
                              min_every=min_every)
        return 0
    except Exception as err:
        if _database_fault(err):
            raise
    with rt.db.begin() as s:
        rest(s)
    failed = 0
    for p, readings, now in done.readings:
        try:
            with rt.db.begin() as s:
                apply_results(s, readings, now, min_every=min_every)
        except Exception as err:  # a result we could not record (odd events): this parcel only
            if _database_fault(err):
                raise
            _unreadable(rt, p, err, now)
            failed += 1
    return failed


def _database_fault(err: Exception) -> bool:
    """The database itself (a value it refused to bind is the answer's fault: StatementError)."""
    return isinstance(err, DBAPIError) or (isinstance(err, SQLAlchemyError) and not isinstance(err, StatementError))


def _unreadable(rt: Runtime, p: _Parcel, err: Exception, now: datetime) -> None:
    """One parcel's answer could not be read or recorded: asked again after ``NO_RECORD``, the pass goes on.

    Asked, not read: ``last_checked_at`` stays, so the parcel alerts still wait for a reading."""
    if isinstance(err, SyncdError):
        log.warning("tracking %s %s: %s", p.carrier, p.tracking_no, err)
    else:
        log.error("tracking %s %s: unexpected error on its answer; the other parcels go on", p.carrier,
                  p.tracking_no, exc_info=err)
    with rt.db.begin() as s:
        s.execute(update(Shipment).where(Shipment.id == p.id).values(next_check_at=now + NO_RECORD))


def apply_push(rt: Runtime, push: TrackPush, shipment_id: int | None) -> int:
    """A verified push: record it on the parcel(s) with this number; returns how many parcels have the number.

    Kuaidi100 signs pushes without a timestamp, so a push can be replayed or arrive after a newer one: a push
    whose newest event is older than what a parcel shows changes nothing on it (:func:`is_stale`)."""
    now = clock.now()
    with rt.db.begin() as s:
        q = select(Shipment.id).where(Shipment.tracking_no == push.tracking_no)
        if shipment_id is not None:
            q = q.where(Shipment.id == shipment_id)
        ids = list(s.scalars(q))
        for sid in ids:
            if not apply_result(s, sid, push.result, now, source="push", subscribed=True, polled=False):
                # debug, not info: a replaying sender must not be able to fill the log
                log.debug("tracking: a push for parcel %d is older than what syncd has (out of order or replayed); "
                         "ignored", sid)
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


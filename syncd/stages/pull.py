"""pull: list each shop's orders and refund events changed since their cursors, window by window.

Each stream has two cursors, each moved only in the transaction that committed its window. The fresh
cursor follows the platform up to now − lag: every run reads on from it. Updates stamped late land behind
it (a platform stamps an order when its transaction starts, the search index catches up later), so every
stretch is read once more when it has *settled*, when it is ``overlap`` older than now − lag: the settled
cursor follows the fresh one at that distance. A late-stamped update is then found as before (within the
overlap), at one re-read per stretch instead of one per run that falls in the overlap (with a pull every
20 s and 2 minutes of overlap a busy shop's every shipped order was listed seven times). Settling reads are
batched: one waits until :data:`SETTLE_BATCH` has settled since the settled cursor, so a quiet shop costs
about one call a run plus one per batch (a run every 20 s: 1.07 calls), and an update is read settled at most
lag + overlap + SETTLE_BATCH + one run interval after it was stamped (13 minutes with the defaults). What a
window read up to the settle limit was read when already settled (catching up after downtime, the first
run's look-back): the settled cursor follows it at once. A settling read that fails does not hold back the
fresh one: the run stores what is new, then reports the failure, and the settled cursor waits where it
stopped. After downtime the same loops catch up window by window; a very long gap continues in the next run.

A window is held in memory whole until its transaction commits, so its span adapts to how busy the
shop is (never more than the configured window): each stream remembers the span that would have held
about :data:`WINDOW_ENTRIES` entries last time, widening at most twofold a window, and when the platform
can count, a window that would hold much more is narrowed before it is read. The count is the window's
first page, which the adapter keeps for the read that follows: counting costs a call only when it narrows
the window. The rest of a run shorter than two windows is read as one. An adapter that can read a window a
page at a time (Douyin's ``list_orders_step``: its listing is sorted by update time, so one page holds every
entry stamped before the page's last second) needs no count and no pace: a busy stretch is read one call per
page, each window starting where the page before ended, and what it holds at once is bounded by the adapter (a
window of up to ``PAGED_WHOLE`` entries read whole, a page beyond): each run reads its whole stretch as one window,
not several narrowed ones, each with a last page part full. Consecutive windows of a run overlap by the
configured overlap but at most a tenth of their span, and only while they are not settled yet: narrow windows
overlapping by half would read everything twice, and updates stamped late are the settling read's business.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from syncd import clock
from syncd.domain import RejectedRecord
from syncd.errors import SyncdError
from syncd.i18n import _
from syncd.runtime import Runtime
from syncd.stages.runner import SCHEDULED, StageReport, for_each_scope, paused_shops, shop_workers
from syncd.store.db import stage_lease
from syncd.store.models import Cursor, Quarantine, Shop
from syncd.store.orders import CommittedVersions, apply_refund_events, upsert_orders

log = logging.getLogger("syncd.pull")

MAX_WINDOWS_PER_RUN = 500  # a longer catch-up goes on in the next run
# A shop's run reads on window by window for at most its share of the pull interval (its pool works
# shop_workers of the shops at once), then the next run goes on from the cursors: when every shop is due at once
# with days to read (a fleet's first pulls, a catch-up after downtime) each shop gets its turn within one interval
# instead of the first ones reading their whole look-back while the rest wait. At least one window a run.
RUN_SHARE = 0.8
MIN_RUN_SECONDS = 2.0
# Entries a window should hold: what one transaction keeps in memory, each entry's decoded page objects
# (tens of KB in Python) until the window commits; windows reach twice this before a count narrows them.
WINDOW_ENTRIES = 500
MIN_WINDOW = timedelta(seconds=2)
# The settled cursor is moved in batches: a settling read waits until this much has settled since the cursor,
# so a quiet shop pays ≈ one call per run plus one per SETTLE_BATCH. An update is read a second time, settled,
# at most lag + overlap + SETTLE_BATCH + one pull interval after it was stamped.
SETTLE_BATCH = timedelta(minutes=5)
MAX_PROBES = 8  # counts asked before a window is read: a burst at its end takes a few to find
# A listing that reads each entry with a call of its own (Taobao's fullinfo: ``listing_rate`` entries a second at
# most) takes as long as its entries take at that rate: a day's window of 200 trades at 20 a second is 10 s, twice a
# fleet shop's share of the interval, and the deadline is looked at only between windows. A scheduled run narrows
# its windows (by the count) to what the rest of its budget can read, in whole pages of BUDGET_STEP entries, at
# least one page: a long look-back or a catch-up goes on over several runs while the other shops get their turns.
BUDGET_STEP = 100
ELSEWHERE_SHARE = 0.5  # a shop another replica read up to less than this share of the pull interval ago is left out
ORDERS, REFUNDS = "orders", "refunds"
SETTLED = "-settled"  # a stream's settled cursor: "orders-settled", "refunds-settled"
_STREAMS = (ORDERS, ORDERS + SETTLED, REFUNDS, REFUNDS + SETTLED)
Marks = dict[str, datetime]  # a shop's cursors by stream, as a run read them and moved them since
T = TypeVar("T")


class _Pace:
    """Per adapter and stream, the window span that should hold about ``WINDOW_ENTRIES`` entries."""

    def __init__(self) -> None:
        self._spans: dict[tuple[int, str], tuple[weakref.ref[Any], timedelta]] = {}
        self._lock = threading.Lock()

    def span(self, adapter: object, stream: str, ceiling: timedelta) -> timedelta:
        with self._lock:
            got = self._spans.get((id(adapter), stream))
        if got is None or got[0]() is not adapter:  # never seen, or an id reused by a newer adapter
            return ceiling
        return min(got[1], ceiling)

    def learn(self, adapter: object, stream: str, planned: timedelta, span: timedelta, entries: int,
              ceiling: timedelta) -> None:
        """A window planned at ``planned`` (cut to ``span`` at the run's end) held ``entries``: aim the next
        one at ``WINDOW_ENTRIES``, widening at most twofold and narrowing at once."""
        seconds = max(span.total_seconds(), 1.0)
        wanted = ceiling if entries == 0 else timedelta(seconds=seconds * WINDOW_ENTRIES / entries)
        wanted = max(MIN_WINDOW, min(wanted, ceiling, planned * 2))
        try:
            ref = weakref.ref(adapter)
        except TypeError:  # an adapter that cannot be weakly referenced: always the configured window
            return
        with self._lock:
            self._spans = {k: v for k, v in self._spans.items() if v[0]() is not None}
            self._spans[(id(adapter), stream)] = (ref, wanted)


_pace = _Pace()


def _entries(result: object) -> int:
    """How many entries a listing result holds (orders or refund events, with the rejects and those left out
    as already stored)."""
    n = len(getattr(result, "rejects", None) or []) + int(getattr(result, "unchanged", 0) or 0)
    for name in ("orders", "events"):
        items = getattr(result, name, None)
        if isinstance(items, list):
            n += len(items)
    return n


def read_cursor(rt: Runtime, shop_id: str, stream: str = ORDERS) -> datetime | None:
    with rt.db.read() as s:
        row = s.get(Cursor, (shop_id, stream))
        return row.watermark if row else None


def _quarantine(s: Session, shop_id: str, rejects: list[RejectedRecord]) -> None:
    for rej in rejects:
        s.add(Quarantine(source=f"shop {shop_id}", key=rej.key[:128], reason=rej.reason,
                         raw=rej.raw if isinstance(rej.raw, dict) else {"value": repr(rej.raw)[:2000]},
                         created_at=clock.now()))
        log.error(_("pull {shop}: record {key} could not be read and was quarantined: {reason}").format(
            shop=shop_id, key=rej.key, reason=rej.reason))


def walk(rt: Runtime, shop_id: str, start: datetime, end_limit: datetime, fetch: Callable[[datetime, datetime], T],
         store: Callable[[Session, T], int], *, cursor: str | None,
         count: Callable[[datetime, datetime], int | None] | None = None,
         committed: Callable[[datetime], None] | None = None,
         settles: Settling | None = None, deadline: float | None = None, paced: bool = True,
         marks: Marks | None = None) -> int:
    """Fetch and store consecutive overlapping windows from ``start`` to ``end_limit``; their span adapts
    to the stream's pace, and ``count`` (the platform's count of a window, when it has one) narrows a
    window that would hold too much before it is read (see the module docstring).

    With ``cursor`` the stream's watermark moves to each window's end in the window's own transaction;
    ``committed`` is told each window's end once that transaction has committed. With ``settles``, a window
    starting before its limit that joins on to its settled cursor moves that cursor too, to the window's end
    or the limit, whichever comes first: what it read up to the limit was read when already settled.
    Past ``deadline`` (``time.monotonic()``) no further window is started: the next run reads on. Not ``paced``
    (a stepping listing, module docstring): every window spans all it may. ``marks``: the shop's cursors as this
    run read them (:func:`read_cursors`); read here when not given.
    """
    adapter = rt.storefronts[shop_id]
    shop = rt.config.shops[shop_id]
    ceiling = timedelta(minutes=min(shop.pull.window_minutes, adapter.max_window.total_seconds() / 60))
    overlap = timedelta(minutes=shop.pull.overlap_minutes)
    stream = getattr(fetch, "__name__", "") or (cursor or "")
    rate = _listing_rate(adapter) if deadline is not None and count is not None else None
    if marks is None and (cursor is not None or settles is not None):
        marks = read_cursors(rt, shop_id)
    written = 0
    for _window in range(MAX_WINDOWS_PER_RUN):
        if start >= end_limit or rt.stop.is_set():
            break
        most, aim = 2 * WINDOW_ENTRIES, WINDOW_ENTRIES  # a window holding more than ``most`` is narrowed to ``aim``
        if rate is not None and deadline is not None:
            affordable = int(rate * max(0.0, deadline - time.monotonic())) // BUDGET_STEP * BUDGET_STEP
            most = min(most, max(BUDGET_STEP, affordable))
            aim = min(aim, most * 4 // 5)  # below the cap: a count of the narrowed window rarely has to narrow again
        planned = pace = _pace.span(adapter, stream, ceiling) if paced else ceiling
        if end_limit - start < 2 * planned and end_limit - start <= ceiling:
            planned = end_limit - start  # one window rather than a full one and a small rest (the count checks it)
        end = min(start + planned, end_limit)
        for _probe in range(MAX_PROBES if count is not None else 0):
            expected = count(start, end) if count is not None and end - start > 2 * MIN_WINDOW else None
            if expected is None or expected <= most:
                break
            planned = max(MIN_WINDOW, (end - start) * (aim / expected))  # at least a fifth narrower
            end = start + planned
        result = fetch(start, end)
        covered: datetime | None = getattr(result, "covered", None)
        stepped = covered is not None and start < covered < end
        if covered is not None and stepped:  # a stepping read: one page, all before ``covered``; the next reads on
            end = covered
        elif paced:
            _pace.learn(adapter, stream, max(planned, pace), end - start, _entries(result), ceiling)
        moved: dict[str, datetime] = {}
        with rt.db.begin() as s:
            written += store(s, result)
            if cursor is not None and marks is not None:
                _move_cursor(s, shop_id, cursor, end, marks, moved)
            if settles is not None and marks is not None and start < settles.limit:
                # what it read up to the limit was read settled
                _move_cursor(s, shop_id, settles.cursor, min(end, settles.limit), marks, moved, joins_from=start,
                             initial=settles.initial)
        if marks is not None:
            marks.update(moved)  # committed
        if committed is not None:
            committed(end)
        if end >= end_limit or (deadline is not None and time.monotonic() >= deadline):
            break
        # only a window that has not settled yet overlaps the next one (updates stamped late near its end)
        settled_by = settles.limit if settles is not None else end_limit if _is_settled(cursor) else None
        if stepped or (settled_by is not None and end <= settled_by):
            start = end  # settled, or a step whose rest starts at its end: no overlap needed
        else:
            start = end - min(overlap, planned / 10, (end - start) / 10)
    return written


def _listing_rate(adapter: object) -> float | None:
    """Entries a second the adapter's order listing reads at most (its ``listing_rate()``), where each costs a
    call of its own; None where the listing reads pages only. Only the order stream is counted, so only it asks."""
    rate = getattr(adapter, "listing_rate", None)
    value = rate() if callable(rate) else None
    return float(value) if isinstance(value, int | float) and value > 0 else None


def _is_settled(cursor: str | None) -> bool:
    return cursor is not None and cursor.endswith(SETTLED)


class Settling(NamedTuple):
    """A stream's settled cursor as the fresh read sees it (:func:`walk`'s ``settles``)."""

    cursor: str
    limit: datetime  # windows ending after this are not settled yet
    initial: datetime  # the cursor's watermark while it has no row


def read_cursors(rt: Runtime, shop_id: str) -> Marks:
    """Every cursor of a shop's pull (orders and refunds, fresh and settled), in one read at the start of its run:
    only the pull moves them, under the shop's pull lease, so the run knows them from then on by what it moved."""
    with rt.db.read() as s:
        return {stream: mark for stream, mark in s.execute(
            select(Cursor.stream, Cursor.watermark).where(Cursor.shop_id == shop_id,
                                                          Cursor.stream.in_(_STREAMS)))}


def _move_cursor(s: Session, shop_id: str, name: str, end: datetime, marks: Marks, moved: Marks, *,
                 joins_from: datetime | None = None, initial: datetime | None = None) -> None:
    """Move cursor ``name`` forward to ``end`` in the window's transaction (``moved`` is what it moved, for
    ``marks`` once that commits). With ``joins_from`` (the window's start) only if that window joins on to the
    cursor, whose watermark is ``initial`` while it has no row. One statement, no read: the run knows its
    cursors (``marks``); the statement still moves a cursor only forward, whoever moved it meanwhile."""
    known = marks.get(name)
    mark = known if known is not None else initial
    if joins_from is not None and (mark is None or mark < joins_from):
        return
    if known is None:
        s.add(Cursor(shop_id=shop_id, stream=name, watermark=end, updated_at=clock.now()))
    elif end > known:
        s.execute(update(Cursor).where(Cursor.shop_id == shop_id, Cursor.stream == name, Cursor.watermark < end)
                  .values(watermark=end, updated_at=clock.now()))
    else:
        return
    moved[name] = end


def pull_stream(rt: Runtime, shop_id: str, stream: str, fetch: Callable[[datetime, datetime], T],
                store: Callable[[Session, T], int], *, now: datetime,
                count: Callable[[datetime, datetime], int | None] | None = None,
                committed: Callable[[datetime], None] | None = None, deadline: float | None = None,
                paced: bool = True, marks: Marks | None = None) -> int:
    """One stream's run: read what has settled since the last run, then everything new (module docstring);
    the new is read until ``deadline`` (:func:`run_budget`), at least one window. ``marks``: the shop's cursors
    (:func:`read_cursors`), read here when not given."""
    pull = rt.config.shops[shop_id].pull
    end_limit = now - timedelta(seconds=pull.lag_seconds)
    overlap = timedelta(minutes=pull.overlap_minutes)
    settle_limit = end_limit - overlap
    marks = read_cursors(rt, shop_id) if marks is None else marks
    fresh = marks.get(stream)
    settled = marks.get(stream + SETTLED)
    if fresh is None:  # the first run: its look-back is read once, and settles where it is old enough
        fresh = settled = now - timedelta(hours=pull.first_lookback_hours)
    elif settled is None:  # a cursor from before settled cursors: its last overlap is read once more
        settled = fresh - overlap
    written = 0
    failed: SyncdError | None = None
    target = min(fresh, settle_limit)
    # Settling reads are batched: a stretch waits until SETTLE_BATCH of it has settled (one call then instead of
    # one per run), except while the fresh cursor itself is settled-old (catching up: read it settled at once).
    if settled < target and (target - settled >= SETTLE_BATCH or fresh <= settle_limit):
        try:
            written += walk(rt, shop_id, settled, target, fetch, store, cursor=stream + SETTLED,
                            count=count, committed=committed, paced=paced, marks=marks)
            settled = target
        except SyncdError as err:  # new orders still come in; the settled cursor waits where it stopped
            log.warning(_("pull {shop}: {stream} read again once settled failed ({error}); reading what is new first")
                        .format(shop=shop_id, stream=stream, error=err))
            failed = err
    written += walk(rt, shop_id, fresh, end_limit, fetch, store, cursor=stream, count=count, committed=committed,
                    settles=Settling(stream + SETTLED, settle_limit, settled), deadline=deadline, paced=paced,
                    marks=marks)
    if failed is not None:
        raise failed  # the run reports the failure: the settling read is retried next run
    return written


def store_orders(shop_id: str) -> Callable[[Session, Any], int]:
    return _OrderStore(shop_id)


class _OrderStore:
    """Stores one window's orders; with ``seen``, remembers the versions stored once their window committed."""

    def __init__(self, shop_id: str, seen: CommittedVersions | None = None, overlap: timedelta = timedelta(0)):
        self._shop_id = shop_id
        self._seen = seen
        self._overlap = overlap
        self._pending: list[tuple[str, float, str]] = []

    def __call__(self, s: Session, result: Any) -> int:
        got = len({o.platform_order_id for o in result.orders}) + len(result.rejects) + result.unchanged
        if result.total is not None and got < result.total:
            log.warning(_("pull {shop}: platform counted {total} orders in a window, {got} read (orders moved while "
                          "paging; the window is read again once it has settled)").format(
                shop=self._shop_id, total=result.total, got=got))
        res = upsert_orders(s, self._shop_id, result.orders, clock.now())
        _quarantine(s, self._shop_id, result.rejects)
        self._pending = res.versions
        return res.inserted + res.updated

    def committed(self, end: datetime) -> None:
        """The window ending at ``end`` is committed: what the next runs can re-read starts at end − overlap."""
        if self._seen is not None:
            self._seen.record(self._pending, keep_from=(end - self._overlap).timestamp())
        self._pending = []


def store_refunds(shop_id: str) -> Callable[[Session, Any], int]:
    def store(s: Session, result: Any) -> int:
        _quarantine(s, shop_id, result.rejects)
        return apply_refund_events(s, shop_id, result.events, clock.now())

    return store


def pull_shop(rt: Runtime, shop_id: str, budget: float | None = None) -> int:
    """Pull one shop's orders, then its refund stream, up to now − lag, reading new windows for at most ``budget``
    seconds (at least one window each; the next run reads on); returns the orders written."""
    adapter = rt.storefronts[shop_id]
    with stage_lease(rt.db, f"pull:{shop_id}", rt.holder, timedelta(minutes=15)):
        adapter.ensure_token()
        now = clock.now()
        seen = rt.versions.setdefault(shop_id, CommittedVersions())

        step = getattr(adapter, "list_orders_step", None)  # reads a page at a time: no count needed first

        def list_orders(start: datetime, end: datetime) -> Any:
            return (step or adapter.list_orders)(start, end, seen=seen)

        orders = _OrderStore(shop_id, seen, timedelta(minutes=rt.config.shops[shop_id].pull.overlap_minutes))
        deadline = None if budget is None else time.monotonic() + budget
        marks = read_cursors(rt, shop_id)
        try:
            written = pull_stream(rt, shop_id, ORDERS, list_orders, orders, now=now,
                                  count=None if step else adapter.count_orders, committed=orders.committed,
                                  deadline=deadline, paced=step is None, marks=marks)
            pull_stream(rt, shop_id, REFUNDS, adapter.list_refunds, store_refunds(shop_id), now=now,
                        deadline=deadline, marks=marks)
        finally:  # where this process left the cursor (what committed), also when a later read failed
            if ORDERS in marks:
                rt.pulled_to[shop_id] = clock.ensure_utc(marks[ORDERS])
        return written


def read_elsewhere_lately(rt: Runtime, now: datetime) -> set[str]:
    """The shops whose orders another replica read up to less than :data:`ELSEWHERE_SHARE` of the pull interval
    ago, in one read: their fresh cursor is newer than where this process left it (only the pull moves it, so with
    one replica it never is) and that recent. Replicas each run the pull every interval, each shop one after
    another under its lease: without this, two replicas read every shop twice an interval, the second time a few
    seconds after the first (two list calls of a quiet shop, each against the platform's daily call quota). A
    shop this process has not read yet is never left out: a daemon restarted by its supervisor reads every shop
    at its first run, whoever read it last."""
    interval = float(rt.config.global_.intervals.pull)
    with rt.db.read() as s:
        marks = {shop: clock.ensure_utc(mark) for shop, mark in s.execute(
            select(Cursor.shop_id, Cursor.watermark).where(Cursor.stream == ORDERS))}
    out = set()
    for shop_id, mark in marks.items():
        shop = rt.config.shops.get(shop_id)
        own = rt.pulled_to.get(shop_id)
        if shop is None or own is None or mark <= own:
            continue
        limit = now - timedelta(seconds=shop.pull.lag_seconds)  # where a pull now would read up to
        if (limit - mark).total_seconds() < interval * ELSEWHERE_SHARE:
            out.add(shop_id)
    return out


def run_budget(rt: Runtime) -> float:
    """Seconds a shop's run reads new windows for: its share of the pull interval (see :data:`RUN_SHARE`)."""
    shops = max(1, len(rt.storefronts))
    interval = float(rt.config.global_.intervals.pull)
    return max(MIN_RUN_SECONDS, RUN_SHARE * interval * shop_workers(shops, "pull") / shops)


def resync_shop(rt: Runtime, shop_id: str, start: datetime, end: datetime) -> int:
    """``syncd shops resync``: read a date range again (orders and refunds); cursors do not move."""
    adapter = rt.storefronts[shop_id]
    adapter.ensure_token()
    end = min(end, clock.now())
    n = walk(rt, shop_id, start, end, adapter.list_orders, store_orders(shop_id), cursor=None)
    walk(rt, shop_id, start, end, adapter.list_refunds, store_refunds(shop_id), cursor=None)
    return n


def resync_order(rt: Runtime, shop_id: str, platform_order_id: str) -> int:
    """``syncd orders resync``: read one order again from the storefront."""
    order = rt.storefronts[shop_id].get_order(platform_order_id)
    with rt.db.begin() as s:
        res = upsert_orders(s, shop_id, [order], clock.now())
    return res.inserted + res.updated


def run(rt: Runtime, report: StageReport) -> None:
    # a scheduled run shares the interval among the shops, and leaves out those another replica has just read;
    # `syncd once` (and a run by hand) reads everything
    scheduled = SCHEDULED.get()
    budget = run_budget(rt) if scheduled else None
    paused = paused_shops(rt)
    elsewhere = read_elsewhere_lately(rt, clock.now()) - paused if scheduled else set()

    def one(shop_id: str) -> int:
        if shop_id in paused:
            _maybe_unpause(rt, shop_id)
            return 0
        return pull_shop(rt, shop_id, budget)

    for_each_scope(rt, report, [shop for shop in rt.storefronts if shop not in elsewhere], one, shops=True,
                   scopes=len(rt.storefronts))


def _maybe_unpause(rt: Runtime, shop_id: str) -> None:
    """A paused shop is tried again every 30 minutes: a person may have re-authorised it meanwhile."""
    with rt.db.read() as s:
        shop = s.scalar(select(Shop).where(Shop.id == shop_id))
        if shop is None or shop.paused_at is None or clock.now() - shop.paused_at < timedelta(minutes=30):
            return
    rt.storefronts[shop_id].ensure_token()  # raises ReauthorizationRequired again if still not authorised
    with rt.db.begin() as s:
        shop = s.get(Shop, shop_id)
        if shop is not None:
            shop.paused_reason = None
            shop.paused_at = None
    log.info(_("shop {shop}: authorisation works again; resumed").format(shop=shop_id))

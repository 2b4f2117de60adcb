"""Database → facts for the rules. Only CANDIDATE rows leave the database: each query already applies the
thresholds, so a pass over 100,000 active parcels reads the few that are late, not all of them.

One read transaction, one statement per kind of fact (about a dozen per pass, whatever the data size). The
indexes each query relies on:

* ship deadlines: ``ix_orders_state`` (state IN new/held/routed/placed — shipped orders are never read);
* holds: ``ix_orders_state`` (state = held) then ``ix_holds_order_open`` (order_id, released_at);
* supplier orders: ``ix_supplier_orders_supplier_state`` (supplier_id = ? AND state = placed, one range per
  configured supplier, each with its own placed_at cut);
* parcels: every state but delivered / returned, with the state's own time cut, in one statement; for the
  state rules only parcels whose tracking was read at least once (``last_checked_at``: a reading or a
  provider's refusal), and in the same statement the never-read ones past ``tracking_unread_hours``. The
  schema has no index on ``shipments.logistics_state`` yet, so this one scans shipments (about 60 ms per
  100,000 rows on SQLite); an index on (logistics_state, last_event_at) makes it a few range scans
  (asked of the lead). It cannot use ``ix_shipments_track``: a parcel the provider stopped following
  without delivery (Kuaidi100 abort) is track_final and must still alert;
* duplicate numbers: ``ix_shipments_track`` for the active side, ``ix_shipments_tracking_no`` for the other;
* channels: ``ix_notifications_pending`` (channel, sent_at);
* tokens, shops, stage_runs, inbox_files: small tables (one row per shop / stage scope / file).

``supplier_orders.cancel_state`` has no index: that query scans supplier_orders (see the report to the lead).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta

from sqlalchemy import and_, case, false, func, or_, select, true
from sqlalchemy.orm import Session, aliased

from syncd.alerts.config import AlertsConfig
from syncd.alerts.model import (
    CancelFact,
    ChannelFact,
    DuplicateFact,
    Facts,
    FileFact,
    HoldFact,
    MarginFact,
    OrderFact,
    ParcelFact,
    PausedShopFact,
    StageFact,
    StockWriteFact,
    SupplierOrderFact,
    TokenFact,
)
from syncd.domain import LogisticsState as LS
from syncd.domain import OrderStatus
from syncd.lifecycle import OrderState, SupplierOrderState
from syncd.store.db import Database
from syncd.store.models import (
    Hold,
    InboxFileRecord,
    Notification,
    Order,
    Shipment,
    Shop,
    StageRun,
    StockMargin,
    StockWritten,
    SupplierOrder,
    TokenRow,
)

UNSHIPPED = (OrderState.NEW, OrderState.HELD, OrderState.ROUTED, OrderState.PLACED)
PROBLEM_STATES = (LS.PROBLEM, LS.REFUSED, LS.RETURNING)
WATCHED_STATES = [s for s in LS if not s.final]


def _h(hours: float) -> timedelta:
    return timedelta(hours=hours)


def _orders(s: Session, cfg: AlertsConfig, now: datetime) -> list[OrderFact]:
    warn_from = now + _h(cfg.ship_deadline_warn_hours)
    rows = s.execute(
        select(Order.id, Order.shop_id, Order.platform_order_id, Order.paid_at, Order.ship_by, Order.state,
               Order.hold_reason)
        .where(Order.state.in_(UNSHIPPED), Order.status == OrderStatus.PAID,
               or_(and_(Order.ship_by.is_not(None), Order.ship_by <= warn_from),
                   and_(Order.ship_by.is_(None), Order.paid_at <= warn_from - _h(cfg.default_ship_hours)))))
    return [OrderFact(*r) for r in rows]


def _holds(s: Session, cfg: AlertsConfig, now: datetime) -> list[HoldFact]:
    quiet = [str(r) for r in cfg.quiet_hold_reasons]
    immediate = [str(r) for r in cfg.immediate_hold_reasons]
    due = Hold.created_at <= now - _h(cfg.held_hours)
    rows = s.execute(
        select(Order.id, Order.shop_id, Order.platform_order_id, Hold.reason, Hold.detail, Hold.created_at)
        .join(Hold, and_(Hold.order_id == Order.id, Hold.released_at.is_(None)))
        .where(Order.state == OrderState.HELD, Hold.reason.not_in(quiet) if quiet else true(),
               or_(due, Hold.reason.in_(immediate)) if immediate else due))
    return [HoldFact(*r) for r in rows]


def _supplier_orders(s: Session, cfg: AlertsConfig, now: datetime,
                     ship_within: Mapping[str, float]) -> list[SupplierOrderFact]:
    if not ship_within:
        return []
    per_supplier = [
        and_(SupplierOrder.supplier_id == sid, SupplierOrder.state == SupplierOrderState.PLACED,
             SupplierOrder.placed_at <= now - _h(min(hours, cfg.supplier_unpaid_hours)))
        for sid, hours in sorted(ship_within.items())
    ]
    rows = s.execute(
        select(SupplierOrder.id, Order.shop_id, Order.platform_order_id, SupplierOrder.supplier_id,
               SupplierOrder.supplier_ref, SupplierOrder.placed_at, SupplierOrder.paid)
        .join(Order, Order.id == SupplierOrder.order_id)
        .where(or_(*per_supplier), SupplierOrder.cancel_state == "none"))
    return [SupplierOrderFact(r[0], r[1], r[2], r[3], r[4], r[5] or now, r[6]) for r in rows]


SHIPPED_AFTER_NOTICE = "sent a tracking number after the cancellation file"


def _cancels(s: Session) -> list[CancelFact]:
    # too_late: the supplier said so (or had shipped when asked); notified + shipped: a drop-folder supplier got the
    # cancellation file and sent a tracking number anyway (its parcel is on its way to a refunded buyer)
    shipped_anyway = and_(SupplierOrder.cancel_state == "notified", SupplierOrder.state == SupplierOrderState.SHIPPED)
    detail = case((shipped_anyway, SHIPPED_AFTER_NOTICE), else_=func.coalesce(SupplierOrder.cancel_detail, ""))
    rows = list(s.execute(
        select(SupplierOrder.id, Order.shop_id, Order.platform_order_id, SupplierOrder.supplier_id,
               SupplierOrder.supplier_ref, detail)
        .join(Order, Order.id == SupplierOrder.order_id)
        # the first term (implied by the others) lets SQLite read the partial index of cancellations
        .where(SupplierOrder.cancel_state != "none", or_(SupplierOrder.cancel_state == "too_late", shipped_anyway))))
    parcels: dict[int, list[tuple[str, str]]] = defaultdict(list)
    if rows:  # the parcels on their way to a buyer who was refunded: the alert names them
        for so_id, carrier, number in s.execute(
                select(Shipment.supplier_order_id, Shipment.carrier, Shipment.tracking_no)
                .where(Shipment.supplier_order_id.in_([r[0] for r in rows])).order_by(Shipment.id)):
            parcels[so_id].append((carrier, number))
    return [CancelFact(r[0], r[1], r[2], r[3], r[4], str(r[5]), tuple(parcels[r[0]])) for r in rows]


def _parcels(s: Session, cfg: AlertsConfig, now: datetime) -> tuple[list[ParcelFact], list[ParcelFact]]:
    """The parcels past their state's threshold (read at least once), and those handed over more than
    ``tracking_unread_hours`` ago whose tracking no source has read: one statement for both."""
    handed = func.coalesce(Shipment.handed_over_at, Shipment.created_at)
    last = func.coalesce(Shipment.last_event_at, Shipment.picked_up_at, Shipment.handed_over_at, Shipment.created_at)
    state = Shipment.logistics_state
    verdict = Shipment.track_verdict
    rows = s.execute(
        select(Shipment.id, Order.shop_id, Order.platform_order_id, Shipment.carrier, Shipment.tracking_no,
               state, handed, func.coalesce(Shipment.last_event_at, Shipment.picked_up_at), verdict,
               Shipment.provider_state, Shipment.province, Shipment.last_checked_at,
               Shipment.created_at)
        .join(Order, Order.id == Shipment.order_id)
        # not "track_final = false": a parcel the provider gave up on (abort, 3天查询无记录) is final for the
        # tracker and exactly what must keep alerting; only delivered / returned parcels are done
        .where(state.in_(WATCHED_STATES),
               or_(
                   # no state rule speaks of a parcel before its tracking was read once: a 1688 parcel arrives
                   # with the supplier's send time (a day ago, say) and no scan because nobody has asked yet, not
                   # because the carrier has none
                   and_(Shipment.last_checked_at.is_not(None),
                        or_(and_(state == LS.NONE, handed <= now - _h(cfg.no_pickup_warn_hours)),
                            and_(state == LS.PICKED_UP, last <= now - _h(cfg.stalled_after_pickup_hours)),
                            and_(state.in_([LS.IN_TRANSIT, LS.DELIVERING]),
                                 last <= now - _h(cfg.shortest_stall_hours)),
                            state.in_(PROBLEM_STATES),
                            and_(verdict.is_not(None), verdict.not_in(["", "no_records"])))),
                   # ... but one that no source can read (no provider and no trace, a trace that keeps failing)
                   # must not stay silent for ever: tracking_unread, counted from the hand-over or, when the
                   # number came later (1688's send time), from when syncd got it
                   and_(Shipment.last_checked_at.is_(None), handed <= now - _h(cfg.tracking_unread_hours),
                        Shipment.created_at <= now - _h(cfg.tracking_unread_hours)))))
    facts = [ParcelFact(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10] or "",
                        read=r[11] is not None, number_at=r[12]) for r in rows]
    return [f for f in facts if f.read], [f for f in facts if not f.read]


def _duplicates(s: Session) -> list[DuplicateFact]:
    a, b = aliased(Shipment), aliased(Shipment)
    oa, ob = aliased(Order), aliased(Order)
    rows = s.execute(
        select(a.tracking_no, a.carrier, oa.shop_id, oa.platform_order_id, ob.shop_id, ob.platform_order_id)
        .join(b, and_(b.tracking_no == a.tracking_no, b.order_id != a.order_id))
        .join(oa, oa.id == a.order_id).join(ob, ob.id == b.order_id)
        .where(a.track_final == false()))
    orders: dict[str, set[tuple[str, str]]] = defaultdict(set)
    carriers: dict[str, str] = {}
    for no, carrier, shop_a, pid_a, shop_b, pid_b in rows:
        orders[no].update({(shop_a, pid_a), (shop_b, pid_b)})
        carriers.setdefault(no, carrier)
    return [DuplicateFact(no, carriers[no], tuple(sorted(o))) for no, o in sorted(orders.items())]


def _tokens(s: Session, cfg: AlertsConfig, now: datetime, owners: Collection[str]) -> list[TokenFact]:
    if not owners:
        return []
    horizon = now + timedelta(days=cfg.token_warning_days)
    rows = s.execute(
        # the token values never leave the database: only whether a refresh token exists
        select(TokenRow.shop_id, TokenRow.expires_at, TokenRow.refresh_expires_at,
               func.length(TokenRow.refresh_token) > 0)
        .where(TokenRow.shop_id.in_(sorted(owners)),
               or_(TokenRow.refresh_expires_at <= horizon,
                   and_(TokenRow.refresh_expires_at.is_(None), TokenRow.expires_at <= horizon))))
    return [TokenFact(r[0], r[1], r[2], bool(r[3])) for r in rows]


def _paused(s: Session, shops: Collection[str]) -> list[PausedShopFact]:
    if not shops:
        return []
    rows = s.execute(select(Shop.id, Shop.paused_reason, Shop.paused_at)
                     .where(Shop.paused_reason.is_not(None), Shop.id.in_(sorted(shops))))
    return [PausedShopFact(r[0], r[1] or "", r[2]) for r in rows]


def _stages(s: Session) -> list[StageFact]:
    # failing scopes, and scopes whose latest run was skipped with nothing succeeding since (a lease holder
    # past its bound is in the reason)
    skipping = and_(StageRun.last_skipped_at.is_not(None),
                    or_(StageRun.last_success_at.is_(None), StageRun.last_success_at < StageRun.last_skipped_at))
    rows = s.execute(select(StageRun.stage, StageRun.scope, StageRun.consecutive_failures,
                            func.coalesce(StageRun.last_error, ""), StageRun.last_error_at,
                            StageRun.last_skip_reason, StageRun.last_skipped_at)
                     .where(or_(StageRun.consecutive_failures > 0, skipping)))
    out = []
    for stage, scope, failures, error, error_at, skip_reason, skipped_at in rows:
        current = skipped_at is not None and (error_at is None or skipped_at >= error_at)
        out.append(StageFact(stage, scope, failures, error, error_at, (skip_reason or "") if current else "",
                             skipped_at if current else None))
    return out


def _files(s: Session, cfg: AlertsConfig, now: datetime) -> list[FileFact]:
    rows = s.execute(select(InboxFileRecord.id, InboxFileRecord.supplier_id, InboxFileRecord.file_name,
                            InboxFileRecord.rows_ok, InboxFileRecord.rows_rejected, InboxFileRecord.file_error,
                            InboxFileRecord.processed_at)
                     .where(InboxFileRecord.processed_at > now - _h(cfg.file_alert_hours),
                            or_(InboxFileRecord.rows_rejected > 0, InboxFileRecord.file_error.is_not(None))))
    return [FileFact(*r) for r in rows]


def _channels(s: Session, channels: Collection[str]) -> list[ChannelFact]:
    if not channels:
        return []
    # notify writes the latest failure onto every waiting message of the channel, so one value stands for all
    rows = s.execute(select(Notification.channel, func.max(Notification.attempts),
                            func.max(Notification.last_error), func.min(Notification.created_at))
                     .where(Notification.channel.in_(sorted(channels)), Notification.sent_at.is_(None),
                            Notification.last_error.is_not(None))
                     .group_by(Notification.channel))
    return [ChannelFact(r[0], int(r[1] or 0), r[2] or "", r[3]) for r in rows]


# ---- stock and price (issue 19): small tables, one row per shop and SKU; only the rows in trouble are read ----

STOCK_FAILING_ATTEMPTS = 5  # a retryable stock write failing this many passes in a row alerts


def _margins(s: Session, shops: Collection[str]) -> list[MarginFact]:
    # a margin a person accepted (syncd stock release at this cost) is not alerted again until the cost rises
    rows = s.scalars(select(StockMargin).where(
        StockMargin.low.is_(True), StockMargin.shop_id.in_(list(shops)),
        or_(StockMargin.released_cost_fen.is_(None), StockMargin.supplier_cost_fen > StockMargin.released_cost_fen)))
    return [MarginFact(r.shop_id, r.merchant_sku, int(r.margin_fen or 0), int(r.floor_fen or 0),
                       r.storefront_price_fen, r.supplier_cost_fen, r.held) for r in rows]


def _stock_writes(s: Session, shops: Collection[str]) -> list[StockWriteFact]:
    rows = s.scalars(select(StockWritten).where(
        StockWritten.shop_id.in_(list(shops)),
        or_(StockWritten.refused.is_not(None), StockWritten.error_code == "floor",
            StockWritten.attempts >= STOCK_FAILING_ATTEMPTS)))
    return [StockWriteFact(r.shop_id, r.merchant_sku, r.sku_id, r.error_code or "", r.last_error or "", r.refused,
                           r.floor, r.attempts, r.error_at, r.value) for r in rows]


def load_facts(db: Database, cfg: AlertsConfig, now: datetime, *, ship_within: Mapping[str, float],
               shops: Collection[str], suppliers: Collection[str], channels: Collection[str],
               stock_shops: Collection[str] = ()) -> Facts:
    """Read every candidate for the rules in one read transaction. ``ship_within``: each configured
    supplier's ship_within_hours; ``shops`` / ``suppliers`` / ``channels``: the configured ids; ``stock_shops``:
    the shops with stock sync on (issue 19; none: the stock facts are not read)."""
    owners = {*shops, *(f"supplier:{sid}" for sid in suppliers)}
    with db.read() as s:
        parcels, unread = _parcels(s, cfg, now)
        return Facts(
            orders=_orders(s, cfg, now),
            holds=_holds(s, cfg, now),
            supplier_orders=_supplier_orders(s, cfg, now, ship_within),
            cancels=_cancels(s),
            parcels=parcels,
            unread_parcels=unread,
            duplicates=_duplicates(s),
            tokens=_tokens(s, cfg, now, owners),
            paused_shops=_paused(s, shops),
            stages=_stages(s),
            files=_files(s, cfg, now),
            channels=_channels(s, channels),
            margins=_margins(s, stock_shops) if stock_shops else [],
            stock_writes=_stock_writes(s, stock_shops) if stock_shops else [],
        )

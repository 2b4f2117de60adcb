"""What ``syncd status`` and ``syncd orders show`` report, as plain data (printed as text or JSON)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from syncd import clock
from syncd.domain import mask_phone
from syncd.i18n import N_, _
from syncd.store.audit import order_subjects
from syncd.store.db import Database
from syncd.store.models import (
    AuditEntry,
    ExportBatch,
    Hold,
    Order,
    OrderLine,
    Quarantine,
    Shipment,
    Shop,
    StageRun,
    SupplierOrder,
    TokenRow,
)
from syncd.store.orders import AFTER_FORWARD
from syncd.views import code_word, hold_word, pad, state_word


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


def suppliers_late(db: Database, hours: dict[str, float]) -> list[dict[str, Any]]:
    """Per supplier: supplier orders placed longer ago than its ``ship_within_hours`` and not shipped yet."""
    now = clock.now()
    out = []
    with db.read() as s:
        for supplier_id, h in sorted(hours.items()):
            row = s.execute(select(func.count(), func.min(SupplierOrder.placed_at)).where(
                SupplierOrder.supplier_id == supplier_id, SupplierOrder.state == "placed",
                SupplierOrder.placed_at < now - timedelta(hours=h))).one()
            if row[0]:
                out.append({"supplier": supplier_id, "late": int(row[0]), "ship_within_hours": h,
                            "oldest_placed_at": _iso(row[1])})
    return out


def unpaid_supplier_orders(db: Database) -> list[dict[str, Any]]:
    """``syncd suppliers unpaid``: orders created at a supplier (1688) that wait for a person to pay."""
    with db.read() as s:
        rows = s.execute(select(SupplierOrder.supplier_id, SupplierOrder.supplier_ref, SupplierOrder.placed_at,
                                SupplierOrder.last_error, Order.shop_id, Order.platform_order_id)
                         .join(Order, Order.id == SupplierOrder.order_id)
                         .where(SupplierOrder.paid.is_(False), SupplierOrder.state == "placed",
                                SupplierOrder.cancel_state == "none")
                         .order_by(SupplierOrder.supplier_id, SupplierOrder.placed_at))
        return [{"supplier": r.supplier_id, "supplier_order": r.supplier_ref, "shop": r.shop_id,
                 "order": r.platform_order_id, "placed_at": _iso(r.placed_at), "note": r.last_error or ""}
                for r in rows]


def stage_rows(s: Session) -> list[dict[str, Any]]:
    """Each stage and scope: last success, last error, failures in a row (``syncd status``, the console)."""
    return [{"stage": r.stage, "scope": r.scope, "last_success": _iso(r.last_success_at),
             "last_started": _iso(r.last_started_at), "last_error_at": _iso(r.last_error_at),
             "last_error": r.last_error, "consecutive_failures": r.consecutive_failures}
            for r in s.scalars(select(StageRun).order_by(StageRun.stage, StageRun.scope))]


def paused_shops(s: Session) -> list[dict[str, Any]]:
    """Shops paused (an authorisation that failed, a person's pause), with why and since when."""
    return [{"shop": sh.id, "paused": sh.paused_reason, "paused_at": _iso(sh.paused_at)}
            for sh in s.scalars(select(Shop).where(Shop.paused_reason.is_not(None)))]


def token_rows(s: Session) -> list[dict[str, Any]]:
    """When each shop's access and refresh tokens expire."""
    return [{"shop": t.shop_id, "access_expires_at": _iso(t.expires_at),
             "refresh_expires_at": _iso(t.refresh_expires_at)} for t in s.scalars(select(TokenRow))]


def collect_status(db: Database, ship_within_hours: dict[str, float] | None = None) -> dict[str, Any]:
    late = suppliers_late(db, ship_within_hours or {})
    with db.read() as s:
        per_state = [{"shop": shop, "state": state, "orders": n} for shop, state, n in s.execute(
            select(Order.shop_id, Order.state, func.count()).group_by(Order.shop_id, Order.state)
            .order_by(Order.shop_id, Order.state))]
        holds = [{"reason": r, "orders": n} for r, n in s.execute(
            select(Hold.reason, func.count()).where(Hold.released_at.is_(None)).group_by(Hold.reason)
            .order_by(Hold.reason))]
        stages = stage_rows(s)
        shops = paused_shops(s)
        tokens = token_rows(s)
        writeback = [{"state": st, "shipments": n} for st, n in s.execute(
            select(Shipment.writeback_state, func.count()).group_by(Shipment.writeback_state))]
        after_forward = s.scalar(select(func.count()).select_from(Order).where(Order.last_error == AFTER_FORWARD))
        quarantined = s.scalar(select(func.count()).select_from(Quarantine).where(Quarantine.resolved_at.is_(None)))
        rejected_files = s.scalar(select(func.count()).select_from(ExportBatch).where(ExportBatch.state == "writing"))
        unpaid = s.scalar(select(func.count()).select_from(SupplierOrder).where(
            SupplierOrder.paid.is_(False), SupplierOrder.state == "placed", SupplierOrder.cancel_state == "none"))
        cancels = [{"state": st, "supplier_orders": n} for st, n in s.execute(
            select(SupplierOrder.cancel_state, func.count()).where(SupplierOrder.cancel_state != "none")
            .group_by(SupplierOrder.cancel_state))]
    return {"at": clock.now().isoformat(), "orders": per_state, "holds": holds, "stages": stages,
            "paused_shops": shops, "tokens": tokens, "writeback": writeback, "quarantined": quarantined,
            "refund_after_forwarding": after_forward,
            "unfinished_batches": rejected_files, "suppliers_late": late, "unpaid_supplier_orders": unpaid,
            "supplier_cancellations": cancels}


def format_status(st: dict[str, Any], zone: ZoneInfo | None = None) -> str:
    """``syncd status`` for a person: every time in Beijing time (or ``zone``), to the second."""
    def t(v: Any) -> str:
        return clock.local_text(v, zone)

    none = "  " + _("(none)")
    out = [_("syncd status at {at}").format(at=t(st["at"])), "", _("orders:")]
    if not st["orders"]:
        out.append("  " + _("(none yet)"))
    for row in st["orders"]:
        out.append(f"  {pad(row['shop'], 24)} {pad(state_word(row['state']), 10)} {row['orders']:>7}")
    out += ["", _("open holds:")]
    out += [f"  {pad(hold_word(h['reason']), 20)} {h['orders']:>7}" for h in st["holds"]] or [none]
    out += ["", _("tracking write-back:")]
    out += [f"  {pad(code_word(w['state']), 20)} {w['shipments']:>7}" for w in st["writeback"]] or [none]
    out += ["", _("stages (last success / last error):")]
    for r in st["stages"]:
        err = ("  " + _("ERROR x{failures}: {error}").format(failures=r["consecutive_failures"], error=r["last_error"])
               if r["consecutive_failures"] else "")
        out.append(f"  {r['stage']:<10} {r['scope']:<24} {t(r['last_success'])}{err}")
    for sh in st["paused_shops"]:
        out.append("\n" + _("PAUSED shop {shop} since {at}: {why}").format(shop=sh["shop"], at=t(sh["paused_at"]),
                                                                          why=sh["paused"]))
    for tok in st["tokens"]:
        out.append(_("token {shop}: access until {access}, refresh until {refresh}").format(
            shop=tok["shop"], access=t(tok["access_expires_at"]), refresh=t(tok["refresh_expires_at"])))
    if st["refund_after_forwarding"]:
        out.append("\n" + _("{n} order(s) refunded or cancelled after they went to the supplier: tell the supplier "
                             "not to ship (syncd orders show ID)").format(n=st["refund_after_forwarding"]))
    for row in st.get("suppliers_late", []):
        out.append("\n" + _("LATE supplier {supplier}: {n} order(s) not shipped within {hours} h (oldest placed "
                             "{at})").format(supplier=row["supplier"], n=row["late"],
                                             hours=f"{row['ship_within_hours']:g}", at=t(row["oldest_placed_at"])))
    if st.get("unpaid_supplier_orders"):
        out.append("\n" + _("{n} supplier order(s) await payment: syncd suppliers unpaid").format(
            n=st["unpaid_supplier_orders"]))
    for row in st.get("supplier_cancellations", []):
        words = {"requested": N_("{n} supplier order(s) being cancelled at the supplier"),
                 "cancelled": N_("{n} supplier order(s) cancelled at the supplier"),
                 "too_late": N_("{n} supplier order(s) could NOT be stopped at the supplier: a person must act"),
                 "notified": N_("{n} supplier order(s) in a cancellation file: confirm with the supplier")}
        n = row["supplier_orders"]
        out.append(_(words[row["state"]]).format(n=n) if row["state"] in words else
                   _("{n} supplier order(s) {state}").format(n=n, state=row["state"]))
    if st["quarantined"]:
        out.append("\n" + _("{n} unreadable record(s) quarantined (see the log)").format(n=st["quarantined"]))
    return "\n".join(out)


def find_order(db: Database, ref: str) -> Order | None:
    """An order by platform order id, ``shop/platform-id``, or ``#internal-id``."""
    with db.read() as s:
        if ref.startswith("#") and ref[1:].isascii() and ref[1:].isdigit():
            return s.get(Order, int(ref[1:]))
        q = select(Order)
        if "/" in ref:
            shop, pid = ref.split("/", 1)
            q = q.where(Order.shop_id == shop, Order.platform_order_id == pid)
        else:
            q = q.where(or_(Order.platform_order_id == ref))
        found = list(s.scalars(q.limit(2)))
        return found[0] if len(found) == 1 else None


def masked_receiver(receiver: Mapping[str, Any]) -> dict[str, str]:
    """The receiver as a person may see it anywhere: masked name and phone, province and city, no street."""
    phone = receiver.get("phone_masked", "")
    return {"name": receiver.get("name_masked", ""), "phone": mask_phone(phone) if phone else "",
            "province": receiver.get("province", ""), "city": receiver.get("city", "")}


def order_details(db: Database, order_id: int) -> dict[str, Any]:
    """Everything about one order a person asks for: ``syncd orders show`` (times as ISO 8601 with offset)."""
    with db.read() as s:
        o = s.get(Order, order_id)
        assert o is not None
        lines = [{"line": ln.platform_line_id, "sku": ln.merchant_sku, "qty": ln.quantity, "title": ln.title,
                  "refund": ln.refund_state} for ln in s.scalars(select(OrderLine).where(OrderLine.order_id == o.id)
                                                                 .order_by(OrderLine.id))]
        placed = list(s.scalars(select(SupplierOrder).where(SupplierOrder.order_id == o.id).order_by(SupplierOrder.id)))
        sos = [{"id": so.id, "supplier": so.supplier_id, "supplier_order": so.supplier_ref, "kind": so.kind,
                "reship_of": so.reship_of, "key": so.idempotency_key, "state": so.state, "batch": so.batch_id,
                "paid": so.paid, "placed_at": _iso(so.placed_at), "shipped_at": _iso(so.shipped_at),
                "cancel": so.cancel_state, "error": so.last_error,
                "lines": [{"supplier_sku": ln["supplier_sku"], "qty": ln["quantity"]} for ln in so.lines]}
               for so in placed]
        shipments = [{"carrier": sh.carrier, "carrier_text": sh.carrier_text, "tracking_no": sh.tracking_no,
                      "supplier_order": sh.supplier_order_id, "logistics": sh.logistics_state,
                      "verdict": sh.track_verdict, "picked_up_at": _iso(sh.picked_up_at),
                      "delivered_at": _iso(sh.delivered_at), "last_event_at": _iso(sh.last_event_at),
                      "writeback": sh.writeback_state, "uploaded_at": _iso(sh.uploaded_at),
                      "error": sh.writeback_error, "source": sh.source}
                     for sh in s.scalars(select(Shipment).where(Shipment.order_id == o.id).order_by(Shipment.id))]
        holds = [{"reason": h.reason, "detail": h.detail, "since": _iso(h.created_at), "released": _iso(h.released_at),
                  "by": h.released_by} for h in s.scalars(select(Hold).where(Hold.order_id == o.id).order_by(Hold.id))]
        # one spelling now (order SHOP/ID); older rows also said SHOP/ID or order ID; a payment names the
        # supplier's own order number
        names = order_subjects(o.shop_id, o.platform_order_id) + [so.supplier_ref for so in placed if so.supplier_ref]
        audit = [{"at": _iso(a.at), "system": a.system, "action": a.action, "outcome": a.outcome, "detail": a.detail,
                  "by": a.actor}
                 for a in s.scalars(select(AuditEntry).where(AuditEntry.subject.in_(names)).order_by(AuditEntry.id))]
        return {
            "id": o.id, "shop": o.shop_id, "order": o.platform_order_id, "state": o.state,
            "platform_status": o.platform_status, "status": o.status, "refund": o.refund_state,
            "hold_reason": o.hold_reason, "paid_at": _iso(o.paid_at), "ship_by": _iso(o.ship_by),
            "payment": o.payment_mode, "cod_confirmed_by": o.cod_confirmed_by,
            "cod_confirmed_at": _iso(o.cod_confirmed_at),
            "receiver": masked_receiver(o.receiver),
            "last_error": o.last_error, "lines": lines, "supplier_orders": sos, "shipments": shipments,
            "holds": holds, "audit": audit,
        }


OPEN_STATES = ("new", "routed", "placed", "held")  # an order still to ship: what --late looks at


@dataclass(frozen=True)
class OrderFilter:
    """What ``syncd orders list`` narrows to; every field left empty matches every order."""

    state: str | None = None
    hold_reason: str | None = None
    shop: str | None = None
    supplier: str | None = None
    since: datetime | None = None  # first seen at or after (aware UTC)
    late_within: float | None = None  # hours: open orders whose ship-by is past or this close
    limit: int = 200
    until: datetime | None = None  # first seen before (aware UTC)
    order_ids: tuple[int, ...] | None = None  # only these orders (a search's matches)
    before_id: int | None = None  # the next page of the newest-first list: orders older than this one


def list_orders(db: Database, f: OrderFilter) -> list[dict[str, Any]]:
    """``syncd orders list``: the orders ``f`` selects, newest first (late ones: nearest ship-by first), with
    their suppliers, the title of their first line, and why they wait (an open hold's detail, or the last error)."""
    now = clock.now()
    q = select(Order)
    if f.state:
        q = q.where(Order.state == f.state)
    if f.hold_reason:
        q = q.where(Order.hold_reason == f.hold_reason)
    if f.shop:
        q = q.where(Order.shop_id == f.shop)
    if f.supplier:
        # EXISTS, not IN (…): newest first, the walk stops at the limit instead of listing every order the
        # supplier ever had (hundreds of thousands) first
        q = q.where(select(SupplierOrder.id).where(SupplierOrder.order_id == Order.id,
                                                   SupplierOrder.supplier_id == f.supplier).exists())
    if f.since:
        q = q.where(Order.first_seen_at >= f.since)
    if f.until:
        q = q.where(Order.first_seen_at < f.until)
    if f.order_ids is not None:
        q = q.where(Order.id.in_(f.order_ids))
    if f.before_id is not None:
        q = q.where(Order.id < f.before_id)
    with db.read() as s:
        if f.late_within is not None:
            # one walk of index ix_orders_state_ship_by per open state, merged here: the database would otherwise
            # read and sort every open order (PostgreSQL: 0.9 s at 80,000 open orders) to return the first few
            late_by = now + timedelta(hours=f.late_within)
            q = q.where(Order.ship_by.is_not(None), Order.ship_by <= late_by)
            orders = sorted((o for st in OPEN_STATES for o in s.scalars(
                q.where(Order.state == st).order_by(Order.ship_by, Order.id).limit(f.limit))),
                key=lambda o: (clock.ensure_utc(o.ship_by or now), o.id))[:f.limit]
        else:
            orders = list(s.scalars(q.order_by(Order.id.desc()).limit(f.limit)))
        ids = [o.id for o in orders]
        suppliers: dict[int, set[str]] = {}
        for oid, sid in s.execute(select(SupplierOrder.order_id, SupplierOrder.supplier_id)
                                  .where(SupplierOrder.order_id.in_(ids))):
            suppliers.setdefault(oid, set()).add(sid)
        goods: dict[int, tuple[str, int]] = {}
        for oid, title, sku in s.execute(select(OrderLine.order_id, OrderLine.title, OrderLine.merchant_sku)
                                         .where(OrderLine.order_id.in_(ids)).order_by(OrderLine.id)):
            first, n = goods.get(oid, (title or sku, 0))
            goods[oid] = (first, n + 1)
        why = {oid: detail for oid, detail in s.execute(
            select(Hold.order_id, Hold.detail).where(Hold.order_id.in_(ids), Hold.released_at.is_(None))
            .order_by(Hold.id))}  # the latest open hold's words: which SKU is unmapped, what is missing
    out = []
    for o in orders:
        first, n = goods.get(o.id, ("", 0))
        out.append({"id": o.id, "shop": o.shop_id, "order": o.platform_order_id, "state": o.state,
                    "hold_reason": o.hold_reason, "paid_at": _iso(o.paid_at), "ship_by": _iso(o.ship_by),
                    "late": o.ship_by is not None and o.state in OPEN_STATES and clock.ensure_utc(o.ship_by) < now,
                    "first_seen_at": _iso(o.first_seen_at), "suppliers": sorted(suppliers.get(o.id, ())),
                    "goods": first + (f" (+{n - 1})" if n > 1 else ""), "last_error": o.last_error,
                    "why": why.get(o.id) or o.last_error or ""})
    return out

"""What the console's pages show, as plain data: the queries of :mod:`syncd.status` and :mod:`syncd.alerts.commands`
reused, plus the few the console alone needs (the funnel, the timeline, parcels in trouble).

Every query here is bounded (a LIMIT, or a GROUP BY over an indexed range: revision 0010 adds the indexes) so that
a page renders in well under 300 ms with a million orders. Text that came from outside (scans, refusals, hold
details) goes through :func:`syncd.alerts.rules.scrub`: a mobile number in it is masked.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select

from syncd import clock
from syncd.alerts.commands import list_open
from syncd.alerts.names import PARCEL_RULES
from syncd.alerts.rules import scrub
from syncd.status import OrderFilter, list_orders, paused_shops, stage_rows, suppliers_late, token_rows
from syncd.store.db import Database
from syncd.store.models import Alert, Order, Shipment, SupplierOrder, TrackingEvent
from syncd.views import parcel_word

URGENT_HOURS = 12.0  # the overview lists open orders whose ship-by time is past or this close
URGENT_LIMIT = 20
FORWARDED = ("placed", "shipped")
SEVERITIES = ("critical", "warning", "info")
PROBLEM_STATES = ("problem", "returning", "returned", "refused")
SUPPLIER_OPEN = ("pending", "placing", "placed")
PHONE_DAYS = 30  # a search by phone tail looks at the orders first seen in the last 30 days


def _iso(dt: datetime | None) -> str | None:
    return clock.ensure_utc(dt).isoformat() if dt is not None else None


def day_start(now: datetime, zone: ZoneInfo, days_back: int = 0) -> datetime:
    """Midnight ``days_back`` days before today in ``zone`` (the seller's day), as aware UTC."""
    local = clock.ensure_utc(now).astimezone(zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days_back)
    return midnight.astimezone(UTC)


def orders_by_shop_state(db: Database, since: datetime, today: datetime) -> list[dict[str, Any]]:
    """Orders first seen since ``since`` per shop and state, with how many of them since ``today``: one pass over
    the range of index ``ix_orders_seen_shop_state``."""
    inner = select(Order.shop_id, Order.state, Order.first_seen_at).where(Order.first_seen_at >= since)
    if db.is_sqlite:
        # Unflattened, or SQLite's planner walks all of ix_orders_shop_state to save the GROUP BY's sort: every
        # order of every day instead of the week's (3 s instead of 0.2 s at a million orders)
        inner = inner.limit(-1)
    rows = inner.subquery()
    recent = func.sum(case((rows.c.first_seen_at >= today, 1), else_=0))
    with db.read() as s:
        found = s.execute(select(rows.c.shop_id, rows.c.state, func.count(), recent)
                          .group_by(rows.c.shop_id, rows.c.state).order_by(rows.c.shop_id, rows.c.state))
        return [{"shop": shop, "state": state, "orders": int(n), "today": int(t or 0)} for shop, state, n, t in found]


def funnel(db: Database, since: datetime, per_shop_state: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Of the orders first seen since ``since`` (``per_shop_state``: their counts, :func:`orders_by_shop_state`):
    pulled, forwarded to a supplier (placed or shipped), shipped by the supplier (shipped, or a parcel is known), and
    tracking on the storefront (shipped: every parcel uploaded)."""
    per_state: dict[str, int] = {}
    for r in per_shop_state:
        per_state[r["state"]] = per_state.get(r["state"], 0) + r["orders"]
    with db.read() as s:
        unshipped = select(Order.id).where(Order.first_seen_at >= since, Order.state != "shipped")
        with_parcel = s.scalar(select(func.count(func.distinct(Shipment.order_id)))
                               .where(Shipment.order_id.in_(unshipped))) or 0
    shipped = per_state.get("shipped", 0)
    return {"pulled": sum(per_state.values()), "forwarded": sum(per_state.get(st, 0) for st in FORWARDED),
            "supplier_shipped": shipped + int(with_parcel), "uploaded": shipped}


def alerts_by_severity(db: Database) -> dict[str, int]:
    """Open alerts per severity (every severity present, zeros included)."""
    with db.read() as s:
        found = dict(s.execute(select(Alert.severity, func.count()).where(Alert.open.is_(True))
                               .group_by(Alert.severity)).all())
    return {sev: int(found.get(sev, 0)) for sev in SEVERITIES}


def stages(db: Database) -> list[dict[str, Any]]:
    """Each stage and scope with its health: ``ok``, ``failing`` (failures in a row), ``never`` (not run yet)."""
    with db.read() as s:
        rows = stage_rows(s)
    for r in rows:
        r["health"] = "failing" if r["consecutive_failures"] else ("ok" if r["last_success"] else "never")
        r["last_error"] = scrub((r["last_error"] or "").splitlines()[0][:200]) if r["last_error"] else ""
    return rows


def tokens(db: Database, now: datetime) -> list[dict[str, Any]]:
    """Each shop's token expiry, with the hours left of its access and refresh tokens (negative: expired), and the
    shops paused."""
    with db.read() as s:
        rows, paused = token_rows(s), {p["shop"]: p for p in paused_shops(s)}
    for r in rows:
        for key in ("access", "refresh"):
            at = r[f"{key}_expires_at"]
            r[f"{key}_hours"] = None if at is None else round(
                (datetime.fromisoformat(at) - now).total_seconds() / 3600, 1)
        r["paused"] = paused.pop(r["shop"], {}).get("paused")
    rows += [{"shop": shop, "access_expires_at": None, "refresh_expires_at": None, "access_hours": None,
              "refresh_hours": None, "paused": p["paused"]} for shop, p in paused.items()]
    return sorted(rows, key=lambda r: r["shop"])


def overview(db: Database, now: datetime, zone: ZoneInfo) -> dict[str, Any]:
    """Everything the 总览 page shows."""
    today, week = day_start(now, zone), day_start(now, zone, 6)
    per_shop_state = orders_by_shop_state(db, week, today)
    return {"per_shop_state": per_shop_state, "funnel": funnel(db, week, per_shop_state),
            "urgent": list_orders(db, OrderFilter(late_within=URGENT_HOURS, limit=URGENT_LIMIT)),
            "alerts": alerts_by_severity(db), "stages": stages(db), "tokens": tokens(db, now)}


def search_orders(db: Database, text: str, now: datetime, limit: int = 200) -> tuple[int, ...]:
    """Orders matching ``text``: its platform order id, a tracking number, or (4 digits) the last four digits of the
    receiver's phone as the platform shows it masked, among the orders of the last ``PHONE_DAYS`` days (the phone is
    inside the receiver's JSON: read row by row, so the range is bounded)."""
    text = text.strip()[:64]
    if not text:
        return ()
    with db.read() as s:
        found = list(s.scalars(select(Order.id).where(Order.platform_order_id == text).limit(limit)))
        found += s.scalars(select(Shipment.order_id).where(Shipment.tracking_no == text).limit(limit))
        if len(text) == 4 and text.isascii() and text.isdigit():
            phone = Order.receiver["phone_masked"].as_string()
            found += s.scalars(select(Order.id).where(Order.first_seen_at >= now - timedelta(days=PHONE_DAYS),
                                                      phone.like(f"%{text}")).limit(limit))  # the list sorts
    return tuple(dict.fromkeys(found))[:limit]


def timeline(db: Database, order: dict[str, Any]) -> list[dict[str, Any]]:
    """What happened to an order, oldest first: payment, holds, supplier orders, parcels and their scans, and the
    audit trail (``order`` from :func:`syncd.status.order_details`)."""
    events: list[dict[str, Any]] = []

    def add(at: str | None, kind: str, text: str) -> None:
        if at:
            events.append({"at": at, "kind": kind, "text": scrub(text)})

    add(order["paid_at"], "paid", "")
    for h in order["holds"]:
        add(h["since"], "held", h["reason"] + (f": {h['detail']}" if h["detail"] else ""))
        add(h["released"], "released", h["by"] or "")
    for so in order["supplier_orders"]:
        add(so["placed_at"], "placed", f"{so['supplier']} {so['supplier_order'] or ''}".strip())
        add(so["shipped_at"], "supplier_shipped", so["supplier"])
    for sh in order["shipments"]:
        add(sh["uploaded_at"], "uploaded", f"{sh['carrier']} {sh['tracking_no']}")
    with db.read() as s:
        scans = s.execute(select(TrackingEvent.at, TrackingEvent.state, TrackingEvent.text, TrackingEvent.location,
                                 Shipment.tracking_no).join(Shipment, Shipment.id == TrackingEvent.shipment_id)
                          .where(Shipment.order_id == order["id"]).order_by(TrackingEvent.at).limit(500))
        for at, state, text, location, tracking_no in scans:
            add(_iso(at), "scan", f"{tracking_no} {parcel_word(state)} {location} {text}".strip())
    for a in order["audit"]:
        add(a["at"], "audit", f"{a['system']} {a['action']} {a['outcome']} {a['by']} {a['detail']}".strip())
    return sorted(events, key=lambda e: e["at"])


def alert_lists(db: Database, now: datetime, days: int = 7, limit: int = 100) -> dict[str, Any]:
    """Open alerts (critical first) and those resolved in the last ``days`` days, newest first."""
    with db.read() as s:
        resolved = s.scalars(select(Alert).where(Alert.resolved_at >= now - timedelta(days=days))
                             .order_by(Alert.resolved_at.desc()).limit(limit)).all()
        recent = [{"id": a.id, "rule": a.rule, "severity": a.severity, "title": scrub(a.title),
                   "opened_at": _iso(a.opened_at), "resolved_at": _iso(a.resolved_at), "acked_by": a.acked_by}
                  for a in resolved]
    rows = list_open(db)
    for r in rows:
        r["title"], r["detail"] = scrub(r["title"]), scrub(r["detail"] or "")
    return {"open": rows, "recent": recent}


def supplier_figures(db: Database, suppliers: Sequence[str], hours: dict[str, float]) -> list[dict[str, Any]]:
    """Per supplier (the configured ones; else every one with supplier orders): its open supplier orders per state
    (to send, being sent, at the supplier), the unpaid ones, and those late to ship. Index ranges of
    ``ix_supplier_orders_supplier_state`` per supplier: the orders it shipped long ago are never counted."""
    late = {r["supplier"]: r for r in suppliers_late(db, hours)}
    out = []
    with db.read() as s:
        ids = list(suppliers) or list(s.scalars(select(SupplierOrder.supplier_id).distinct()))
        for sid in sorted(ids):
            states = dict(s.execute(select(SupplierOrder.state, func.count()).where(
                SupplierOrder.supplier_id == sid, SupplierOrder.state.in_(SUPPLIER_OPEN))
                .group_by(SupplierOrder.state)).all())
            unpaid = s.scalar(select(func.count()).select_from(SupplierOrder).where(
                SupplierOrder.supplier_id == sid, SupplierOrder.state == "placed", SupplierOrder.paid.is_(False),
                SupplierOrder.cancel_state == "none")) or 0
            out.append({"supplier": sid, "to_send": int(states.get("pending", 0)) + int(states.get("placing", 0)),
                        "placed": int(states.get("placed", 0)), "unpaid": int(unpaid),
                        "late": late.get(sid, {}).get("late", 0),
                        "oldest_late": late.get(sid, {}).get("oldest_placed_at")})
    return out


def carrier_figures(db: Database, since: datetime) -> list[dict[str, Any]]:
    """Per carrier, the parcels known since ``since`` per logistics state (index ``ix_shipments_created``)."""
    out: dict[str, dict[str, Any]] = {}
    with db.read() as s:
        for carrier, state, n in s.execute(select(Shipment.carrier, Shipment.logistics_state, func.count())
                                           .where(Shipment.created_at >= since)
                                           .group_by(Shipment.carrier, Shipment.logistics_state)):
            row = out.setdefault(carrier, {"carrier": carrier, "states": {}, "total": 0})
            row["states"][state] = int(n)
            row["total"] += int(n)
    for row in out.values():
        trouble = sum(row["states"].get(st, 0) for st in PROBLEM_STATES)
        row["trouble"] = trouble
        row["delivered"] = row["states"].get("delivered", 0)
    return sorted(out.values(), key=lambda r: -r["total"])


def troubled_parcels(db: Database, limit: int = 100) -> list[dict[str, Any]]:
    """Parcels with an open stall or problem alert, the oldest alert first, each with its last scan."""
    with db.read() as s:
        alerts = s.execute(select(Alert.id, Alert.rule, Alert.subject, Alert.opened_at, Alert.severity)
                           .where(Alert.open.is_(True), Alert.rule.in_(sorted(PARCEL_RULES)))
                           .order_by(Alert.opened_at).limit(limit)).all()
        ids = {}
        for a in alerts:
            kind, _sep, ref = a.subject.partition(":")
            if kind == "shipment" and ref.isdigit():
                ids[int(ref)] = a
        parcels = {sh.id: sh for sh in s.scalars(select(Shipment).where(Shipment.id.in_(list(ids))))}
        orders = dict(s.execute(select(Order.id, Order.shop_id + "/" + Order.platform_order_id).where(
            Order.id.in_([sh.order_id for sh in parcels.values()]))).all())
        last_scan = _last_scans(s, list(parcels))
    out = []
    for sid, a in ids.items():
        sh = parcels.get(sid)
        if sh is None:
            continue
        scan = last_scan.get(sid)
        out.append({"alert": a.id, "rule": a.rule, "severity": a.severity, "since": _iso(a.opened_at),
                    "carrier": sh.carrier, "tracking_no": sh.tracking_no, "state": sh.logistics_state,
                    "order_id": sh.order_id, "order": orders.get(sh.order_id, ""), "province": sh.province,
                    "last_scan_at": _iso(scan[0]) if scan else _iso(sh.last_event_at),
                    "last_scan": scrub(f"{scan[2]} {scan[1]}".strip()) if scan else ""})
    return out


def _last_scans(s: Any, shipment_ids: Sequence[int]) -> dict[int, tuple[datetime, str, str]]:
    if not shipment_ids:
        return {}
    newest = (select(TrackingEvent.shipment_id, func.max(TrackingEvent.at).label("at"))
              .where(TrackingEvent.shipment_id.in_(shipment_ids)).group_by(TrackingEvent.shipment_id).subquery())
    rows = s.execute(select(TrackingEvent.shipment_id, TrackingEvent.at, TrackingEvent.text, TrackingEvent.location)
                     .join(newest, and_(newest.c.shipment_id == TrackingEvent.shipment_id,
                                        newest.c.at == TrackingEvent.at)))
    return {sid: (at, text, location) for sid, at, text, location in rows}


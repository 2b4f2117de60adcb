"""syncd's models ↔ the webhook contract's JSON bodies (docs/webhook-supplier.md §4–6). Pure functions.

Every reader raises ProtocolError naming the field (``parcels[1].tracking_no: expected a string, found
int``); the caller prefixes which supplier and which call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from syncd import carriers, clock
from syncd.domain import (
    CancelOutcome,
    CancelResult,
    PlacedOrder,
    StockAnswer,
    StockLine,
    SupplierLine,
    SupplierOrderPhase,
    SupplierOrderRequest,
    SupplierOrderStatus,
    SupplierParcel,
)
from syncd.errors import ProtocolError

PHASES: dict[str, SupplierOrderPhase] = {p.value: p for p in (
    SupplierOrderPhase.ACCEPTED, SupplierOrderPhase.PARTIAL, SupplierOrderPhase.SHIPPED,
    SupplierOrderPhase.CANCELLED, SupplierOrderPhase.REJECTED)}
CANCEL_RESULTS: dict[str, CancelOutcome] = {"cancelled": CancelOutcome.CANCELLED,
                                            "too_late": CancelOutcome.TOO_LATE}
_SHIPPING = (SupplierOrderPhase.PARTIAL, SupplierOrderPhase.SHIPPED)
_TRACKING = re.compile(r"^[A-Z0-9-]{5,40}$")
_SPACES = re.compile(r"\s+")
_MAX_TEXT = 300


def encode(payload: Any) -> bytes:
    """The one JSON encoding syncd sends: UTF-8, compact, keys sorted, so one request is always the same bytes."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def order_body(request: SupplierOrderRequest) -> dict[str, Any]:
    """``POST orders``: everything but the moment, so that a resend of the same order is byte-identical."""
    r = request.receiver
    return {
        "idempotency_key": request.idempotency_key,
        "kind": request.kind,
        "original_key": request.original_key,
        "shop_id": request.shop_id,
        "platform": request.platform,
        "platform_order_id": request.platform_order_id,
        "receiver": {"name": r.name, "phone": r.phone, "virtual_phone": r.virtual_phone,
                     "province": r.province, "city": r.city, "district": r.district, "street": r.street,
                     "detail": r.detail, "address": r.full_address()},
        "lines": [{"line_ref": ln.line_ref, "sku": ln.supplier_sku, "quantity": ln.quantity, "title": ln.title,
                   "spec": ln.spec} for ln in request.lines],
        "remark": request.remark,
    }


def wanted_per_sku(request: SupplierOrderRequest) -> dict[str, int]:
    """Units wanted per supplier SKU, in line order (two lines of one SKU add up)."""
    return sum_per_sku(request.lines)


def sum_per_sku(lines: Iterable[SupplierLine]) -> dict[str, int]:
    """Units per supplier SKU over ``lines``, in the order first seen."""
    wanted: dict[str, int] = {}
    for ln in lines:
        wanted[ln.supplier_sku] = wanted.get(ln.supplier_sku, 0) + ln.quantity
    return wanted


def stock_body(wanted: dict[str, int]) -> dict[str, Any]:
    """``POST stock``."""
    return {"lines": [{"sku": sku, "quantity": qty} for sku, qty in wanted.items()]}


# ---- readers ----------------------------------------------------------------------------------------


def _type(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def text(raw: dict[str, Any], key: str, where: str = "", *, required: bool = True) -> str:
    """A non-blank string field (stripped); ``""`` when optional and absent or null."""
    value = raw.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        found = "an empty string" if isinstance(value, str) else _type(value)
        raise ProtocolError(f"{where}{key}: expected a non-empty string, found {found}")
    return value.strip()


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProtocolError(f"{where}: expected a whole number ≥ 0, found {_type(value)} {value!r}"[:_MAX_TEXT])
    return value


def parse_time(value: Any, where: str) -> datetime:
    """RFC 3339 with an offset (``2025-11-22T17:00:00+08:00``, ``…Z``), or ``yyyy-MM-dd HH:mm:ss`` read as
    Beijing time; aware UTC."""
    if not isinstance(value, str) or not value.strip():
        raise ProtocolError(f"{where}: expected a time as text, found {_type(value)}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ProtocolError(f"{where}: expected an RFC 3339 time, found {value[:40]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=clock.SHANGHAI)
    return clock.ensure_utc(parsed)


def phase(raw: dict[str, Any], where: str = "") -> SupplierOrderPhase:
    """``phase``: accepted, partial, shipped, cancelled, rejected."""
    value = raw.get("phase")
    if not isinstance(value, str) or value not in PHASES:
        raise ProtocolError(f"{where}phase: expected one of {', '.join(PHASES)}, found {str(value)[:40]!r}")
    return PHASES[value]


def tracking_number(value: Any, where: str) -> str:
    """Spaces dropped, upper case; letters, digits and ``-`` only (``7.73061E+14`` is refused, not fixed)."""
    if not isinstance(value, str):
        raise ProtocolError(f"{where}: expected a string, found {_type(value)}")
    number = _SPACES.sub("", value).upper()
    if not _TRACKING.fullmatch(number):
        raise ProtocolError(f"{where}: expected 5–40 letters, digits or '-', found {value[:40]!r}")
    return number


def parcel(raw: Any, where: str) -> SupplierParcel:
    """One element of ``parcels``."""
    if not isinstance(raw, dict):
        raise ProtocolError(f"{where}: expected an object, found {_type(raw)}")
    carrier_text = text(raw, "carrier", f"{where}.")
    refs = raw.get("line_refs")
    line_refs: list[str] | None = None
    if refs is not None:
        if not isinstance(refs, list) or not refs:
            raise ProtocolError(f"{where}.line_refs: expected a non-empty list of strings or null (the whole "
                                f"order), found {_type(refs) if refs else 'an empty list'}")
        bad = [i for i, r in enumerate(refs) if not isinstance(r, str) or not r.strip()]
        if bad:
            raise ProtocolError(f"{where}.line_refs[{bad[0]}]: expected a non-empty string, "
                                f"found {_type(refs[bad[0]])}")
        line_refs = list(dict.fromkeys(r.strip() for r in refs))
    shipped = raw.get("shipped_at")
    return SupplierParcel(
        carrier=carriers.normalize(carrier_text), carrier_text=carrier_text[:100],
        tracking_no=tracking_number(raw.get("tracking_no"), f"{where}.tracking_no"), line_refs=line_refs,
        sent_at=None if shipped is None else parse_time(shipped, f"{where}.shipped_at"))


def order_status(raw: dict[str, Any], where: str = "") -> tuple[str, SupplierOrderStatus]:
    """(idempotency key, status) of an order object (``GET status`` and callbacks)."""
    key = text(raw, "idempotency_key", where)
    ref = text(raw, "supplier_order_id", where)
    current = phase(raw, where)
    items = raw.get("parcels")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise ProtocolError(f"{where}parcels: expected a list, found {_type(items)}")
    parcels = [parcel(item, f"{where}parcels[{i}]") for i, item in enumerate(items)]
    if current in _SHIPPING and not parcels:
        raise ProtocolError(f"{where}parcels: phase {current.value} needs at least one parcel, found none")
    numbers = [p.tracking_no for p in parcels]
    if len(set(numbers)) != len(numbers):
        raise ProtocolError(f"{where}parcels: a tracking number appears twice")
    detail = text(raw, "message", where, required=False)[:_MAX_TEXT]
    return key, SupplierOrderStatus(supplier_ref=ref, phase=current, parcels=parcels, detail=detail)


def placed_order(raw: dict[str, Any], key: str, where: str = "") -> PlacedOrder:
    """The order object answered by ``POST orders`` (201 new, 200 the same key again) or ``GET status``."""
    echoed = text(raw, "idempotency_key", where)
    if echoed != key:
        raise ProtocolError(f"{where}idempotency_key: expected {key!r} (the key sent), found {echoed[:80]!r}")
    ref = text(raw, "supplier_order_id", where)
    amount = raw.get("amount_fen")
    return PlacedOrder(supplier_ref=ref, paid=True,
                       amount_fen=None if amount is None else _count(amount, f"{where}amount_fen"))


def stock_answer(raw: dict[str, Any], wanted: dict[str, int], where: str = "") -> StockAnswer:
    """``{"lines": [{"sku", "available", "message"?}]}`` → one StockLine per SKU asked (None: not answered)."""
    return answer_for(wanted, *stock_figures(raw, where))


def stock_figures(raw: dict[str, Any], where: str = "") -> tuple[dict[str, int | None], dict[str, str]]:
    """A stock answer's figures: per SKU answered its ``available`` (None: cannot say), and its ``message``."""
    items = raw.get("lines")
    if not isinstance(items, list):
        raise ProtocolError(f"{where}lines: expected a list, found {_type(items)}")
    available: dict[str, int | None] = {}
    notes: dict[str, str] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ProtocolError(f"{where}lines[{i}]: expected an object, found {_type(item)}")
        sku = text(item, "sku", f"{where}lines[{i}].")
        value = item.get("available")
        available[sku] = None if value is None else _count(value, f"{where}lines[{i}].available")
        note = text(item, "message", f"{where}lines[{i}].", required=False)
        if note:
            notes[sku] = note
    return available, notes


def answer_for(wanted: dict[str, int], available: dict[str, int | None], notes: dict[str, str]) -> StockAnswer:
    """One order's StockAnswer from a stock answer's figures: a line per SKU it wants, the messages on them."""
    lines = [StockLine(supplier_sku=sku, wanted=qty, available=available.get(sku)) for sku, qty in wanted.items()]
    detail = "; ".join(f"{sku}: {notes[sku]}" for sku in wanted if sku in notes)
    return StockAnswer(lines=lines, detail=detail[:_MAX_TEXT])


def cancel_result(raw: dict[str, Any], key: str, where: str = "") -> CancelResult:
    """``{"idempotency_key", "result": "cancelled" | "too_late", "message"?}``."""
    echoed = text(raw, "idempotency_key", where)
    if echoed != key:
        raise ProtocolError(f"{where}idempotency_key: expected {key!r} (the key sent), found {echoed[:80]!r}")
    result = raw.get("result")
    if not isinstance(result, str) or result not in CANCEL_RESULTS:
        raise ProtocolError(f"{where}result: expected cancelled or too_late, found {str(result)[:40]!r}")
    return CancelResult(outcome=CANCEL_RESULTS[result], detail=text(raw, "message", where, required=False)[:_MAX_TEXT])


def callback(raw: dict[str, Any]) -> tuple[str, str, SupplierOrderStatus]:
    """(event id, idempotency key, status) of a callback body."""
    event_id = text(raw, "event_id")
    if len(event_id) > 128:
        raise ProtocolError(f"event_id: expected at most 128 characters, found {len(event_id)}")
    key, status = order_status(raw)
    occurred = raw.get("occurred_at")
    if occurred is not None:
        parse_time(occurred, "occurred_at")
    return event_id, key, status

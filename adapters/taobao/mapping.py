"""Taobao TOP payloads → syncd's domain: reference/storefronts.md §3.4–3.6.

Pure functions over the platform's dicts; the trade status and refund status tables live here.
Times are ``yyyy-MM-dd HH:mm:ss`` in Asia/Shanghai and become aware UTC; money is yuan text and
becomes integer fen. Anything that cannot be read raises :class:`ProtocolError` naming the field;
the caller sets that trade aside.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from syncd import details
from syncd.adapters.common.fields import as_object, digits, integer, shanghai_time, text
from syncd.carriers import display_name, normalize
from syncd.domain import (
    OrderIn,
    OrderLineIn,
    OrderStatus,
    PaymentMode,
    ReceiverRef,
    RefundEvent,
    RefundState,
    order_refund_state,
)
from syncd.errors import ProtocolError

_FORBID = details.FORBID_CONSIGN.format(code="PAID_FORBID_CONSIGN")

# trade status → (status, ready to ship, why not when paid but not ready)
TRADE_STATUS: dict[str, tuple[OrderStatus, bool, str | None]] = {
    "TRADE_NO_CREATE_PAY": (OrderStatus.UNPAID, False, None),
    "WAIT_BUYER_PAY": (OrderStatus.UNPAID, False, None),
    "PAY_PENDING": (OrderStatus.UNPAID, False, None),
    "WAIT_PRE_AUTH_CONFIRM": (OrderStatus.UNPAID, False, None),
    "WAIT_SELLER_SEND_GOODS": (OrderStatus.PAID, True, None),
    "SELLER_CONSIGNED_PART": (OrderStatus.PAID, True, None),  # partly shipped: the rest still ships
    "PAID_FORBID_CONSIGN": (OrderStatus.PAID, False, _FORBID),
    "WAIT_BUYER_CONFIRM_GOODS": (OrderStatus.SHIPPED, False, None),
    "TRADE_BUYER_SIGNED": (OrderStatus.COMPLETED, False, None),  # signed for (COD)
    "TRADE_FINISHED": (OrderStatus.COMPLETED, False, None),
    "TRADE_CLOSED": (OrderStatus.CANCELLED, False, None),  # closed after payment: refunded
    "TRADE_CLOSED_BY_TAOBAO": (OrderStatus.CANCELLED, False, None),  # closed before payment: never ship
}
READY_STATUSES = frozenset(s for s, (_, ready, _) in TRADE_STATUS.items() if ready)

# line-level (and refund record) refund_status
REFUND_NOTHING = frozenset({"", "NO_REFUND", "CLOSED", "SELLER_REFUSE_BUYER"})
REFUND_IN_PROGRESS = frozenset({"WAIT_SELLER_AGREE", "WAIT_BUYER_RETURN_GOODS", "WAIT_SELLER_CONFIRM_GOODS"})
REFUND_DONE = frozenset({"SUCCESS"})
TRADE_TYPE_COD = "cod"

_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
_CIPHER = re.compile(r"^([~#$]).{8,}\1\1?$")


def items(container: Any, key: str, where: str) -> list[Any]:
    """A TOP list: ``{"trades": {"trade": [...]}}`` (``container`` is the inner object) or, with
    ``simplify=true``, the bare list. Absent means empty."""
    if container is None or container == "":
        return []
    if isinstance(container, list):
        return container
    if isinstance(container, dict):
        inner = container.get(key)
        if inner is None:
            return []
        if isinstance(inner, list):
            return inner
        if isinstance(inner, dict):  # XML-born converters give a single element unwrapped
            return [inner]
    raise ProtocolError(f"{where}: {key} list is {type(container).__name__}, expected a list")


def trade_id(raw: Any) -> str | None:
    """``tid_str`` (exact) or ``tid``; None when neither is readable."""
    if not isinstance(raw, dict):
        return None
    return _id_text(raw.get("tid_str")) or _id_text(raw.get("tid"))


def map_trade(raw: dict[str, Any]) -> OrderIn:
    """One trade (``trades.trade[]`` of the list, or ``trade`` of fullinfo) → :class:`OrderIn`."""
    tid = trade_id(raw)
    if tid is None:
        raise ProtocolError("trade: tid is missing or not a number")
    where = f"trade {tid}"
    status = text(raw, "status", where)
    if not status:
        raise ProtocolError(f"{where}: status is missing")
    if status not in TRADE_STATUS:
        raise ProtocolError(f"{where}: unknown status {status}")
    normalised, ready, reason = TRADE_STATUS[status]
    modified = parse_time(raw, "modified", where)
    if modified is None:
        raise ProtocolError(f"{where}: modified is missing")
    orders = items(raw.get("orders"), "order", where)
    if not orders:
        raise ProtocolError(f"{where}: orders (the sub-orders) are missing or empty")
    lines = [map_line(item, f"{where} order {i}") for i, item in enumerate(orders)]
    return OrderIn(
        platform_order_id=tid,
        platform_status=status,
        status=normalised,
        ready_to_ship=ready,
        not_ready_reason=reason,
        refund_state=order_refund_state([line.refund_state for line in lines]),
        payment_mode=PaymentMode.COD if text(raw, "type", where) == TRADE_TYPE_COD else PaymentMode.PREPAID,
        updated_at=modified,
        created_at=parse_time(raw, "created", where),
        paid_at=parse_time(raw, "pay_time", where),
        ship_by=parse_time(raw, "delivery_time", where),
        buyer_note=text(raw, "buyer_message", where),
        seller_memo=text(raw, "seller_memo", where),
        receiver=map_receiver(raw, where),
        lines=lines,
        shipped_tracking=tracking_numbers(orders, where),
        raw=raw,
    )


def map_line(raw: Any, where: str) -> OrderLineIn:
    """One ``orders.order[]`` item (sub-order; ``oid`` is the line id) → :class:`OrderLineIn`."""
    raw = as_object(raw, where)
    oid = _id_text(raw.get("oid_str")) or _id_text(raw.get("oid"))
    if oid is None:
        raise ProtocolError(f"{where}: oid is missing or not a number")
    num = integer(raw, "num", where)
    if num is None or num <= 0:
        raise ProtocolError(f"{where}: num is missing or not positive")
    return OrderLineIn(
        platform_line_id=oid,
        merchant_sku=text(raw, "outer_sku_id", where).strip() or text(raw, "outer_iid", where).strip(),
        quantity=num,
        title=text(raw, "title", where),
        spec=text(raw, "sku_properties_name", where),
        platform_sku_id=text(raw, "sku_id", where),
        unit_price_fen=yuan_to_fen(raw, "price", where),
        refund_state=refund_state(raw.get("refund_status"), where),
    )


def refund_state(value: Any, where: str = "refund") -> RefundState:
    """A line's (or refund record's) ``refund_status`` → refund state."""
    if value is None:
        return RefundState.NONE
    if not isinstance(value, str):
        raise ProtocolError(f"{where}: refund_status is {type(value).__name__}, expected text")
    if value in REFUND_NOTHING:
        return RefundState.NONE
    if value in REFUND_DONE:
        return RefundState.REFUNDED
    # In progress, or a status this table does not know: a person looks rather than the goods ship.
    return RefundState.REQUESTED


def map_receiver(raw: dict[str, Any], where: str) -> ReceiverRef:
    """The receiver as listed: the ``oaid`` decrypts it; masked texts kept, ciphertexts never shown.

    TOP decrypts the whole receiver through one ``oaid``; it stands as the "cipher" of each field the
    trade lists, so a field the platform left empty still reads as missing.
    """
    oaid = text(raw, "oaid", where).strip()
    name, address = text(raw, "receiver_name", where), text(raw, "receiver_address", where)
    phone = text(raw, "receiver_mobile", where) or text(raw, "receiver_phone", where)
    return ReceiverRef(
        name_cipher=oaid if name else "",
        phone_cipher=oaid if phone else "",
        address_cipher=oaid if address else "",
        name_masked=_masked(name),
        phone_masked=_masked(phone),
        address_masked=_masked(address),
        province=text(raw, "receiver_state", where),
        city=text(raw, "receiver_city", where),
        district=text(raw, "receiver_district", where),
        street=text(raw, "receiver_town", where),
    )


def oaid_of(ref: ReceiverRef) -> str:
    """The oaid a :class:`ReceiverRef` built by :func:`map_receiver` carries ("" when none)."""
    return ref.name_cipher or ref.phone_cipher or ref.address_cipher


def needs_detail(raw: dict[str, Any]) -> str | None:
    """Why the list's version of a trade is not enough (fetch ``taobao.trade.fullinfo.get``), or None."""
    try:
        orders = items(raw.get("orders"), "order", "trade")
    except ProtocolError:
        return "the list gave unreadable sub-orders"
    if not orders:
        return "the list gave no sub-orders"
    if raw.get("status") in READY_STATUSES and not raw.get("oaid"):
        return "the list gave no oaid for a trade to ship"
    return None


def tracking_numbers(orders: list[Any], where: str) -> list[str]:
    """Tracking numbers (``invoice_no``) already on the sub-orders, each once, in order."""
    out: list[str] = []
    for i, order in enumerate(orders):
        if isinstance(order, dict):
            number = text(order, "invoice_no", f"{where} order {i}").strip()
            if number and number not in out:
                out.append(number)
    return out


def map_refund(raw: Any, where: str) -> RefundEvent:
    """One ``refunds.refund[]`` of ``taobao.refunds.receive.get`` → :class:`RefundEvent`."""
    raw = as_object(raw, where)
    tid = trade_id(raw)
    if tid is None:
        raise ProtocolError(f"{where}: tid is missing or not a number")
    where = f"{where} (trade {tid})"
    status = text(raw, "status", where)
    if not status:
        raise ProtocolError(f"{where}: status is missing")
    modified = parse_time(raw, "modified", where)
    if modified is None:
        raise ProtocolError(f"{where}: modified is missing")
    good_return = raw.get("has_good_return")
    kind = "退货退款" if good_return is True or good_return == "true" else "仅退款"
    return RefundEvent(platform_order_id=tid,
                       platform_line_id=_id_text(raw.get("oid_str")) or _id_text(raw.get("oid")),
                       state=refund_state(status, where), updated_at=modified, kind=kind, raw=raw)


def carrier_table(companies: list[Any]) -> dict[str, str]:
    """``logistics_companies.logistics_company[]`` → internal carrier → TOP ``code``.

    A name that is the carrier's own name wins over an alias (中国邮政 ``POST`` and 邮政快递包裹 ``POSTB``
    both mean the postal parcel service; the second is its name). Unknown carriers are left out: an
    unknown carrier is never guessed.
    """
    table: dict[str, str] = {}
    exact: set[str] = set()
    for entry in companies:
        if not isinstance(entry, dict):
            continue
        code, name = entry.get("code"), entry.get("name")
        if not isinstance(code, str) or not code.strip():
            continue
        internal = (normalize(name) if isinstance(name, str) else None) or normalize(code)
        if internal is None:
            continue
        is_exact = isinstance(name, str) and name.strip() == display_name(internal)
        if internal not in table or (is_exact and internal not in exact):
            table[internal] = code.strip()
            if is_exact:
                exact.add(internal)
    return table


def parse_time(raw: dict[str, Any], key: str, where: str) -> datetime | None:
    """``yyyy-MM-dd HH:mm:ss`` in Asia/Shanghai → aware UTC; absent or empty → None."""
    value = raw.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _TIME.match(value.strip()):
        raise ProtocolError(f"{where}: {key} {value!r} is not a yyyy-MM-dd HH:mm:ss time")
    try:
        return shanghai_time(value.strip())
    except ValueError:
        raise ProtocolError(f"{where}: {key} {value!r} is not a valid time") from None


def yuan_to_fen(raw: dict[str, Any], key: str, where: str) -> int:
    """Yuan text (``"200.07"``) → fen (20007); absent → 0."""
    value = raw.get(key)
    if value is None or value == "":
        return 0
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ProtocolError(f"{where}: {key} is {type(value).__name__}, expected yuan text")
    try:
        fen = Decimal(str(value).strip()) * 100
    except InvalidOperation:
        raise ProtocolError(f"{where}: {key} {value!r} is not an amount in yuan") from None
    if not fen.is_finite() or fen != fen.to_integral_value() or fen < 0:
        raise ProtocolError(f"{where}: {key} {value!r} is not an amount in yuan")
    return int(fen)


def _masked(shown: str) -> str:
    # A ciphertext is no use to a person and must not reach a supplier file in place of a masked text.
    return "" if _CIPHER.match(shown.strip()) else shown


def _id_text(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return str(value)
    if (d := digits(value)) is not None:
        return d
    return None

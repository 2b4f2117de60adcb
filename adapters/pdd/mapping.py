"""Pinduoduo payloads → syncd's domain: reference/storefronts.md §2.1, §2.4, §2.6; §4.2 (ready to ship).

Pure functions over the platform's dicts; the status, after-sale and carrier tables live here. Anything
that cannot be read raises :class:`ProtocolError` naming the field; the caller sets that record aside.
Times are ``yyyy-MM-dd HH:mm:ss`` in Beijing time and become aware UTC; money is yuan and becomes fen.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from syncd import clock, details
from syncd.adapters.common.fields import (
    as_object,
    identifier,
    integer,
    nonempty_list,
    obj,
    objects,
    shanghai_time,
    text,
    whole,
)
from syncd.carriers import normalize
from syncd.domain import (
    OrderIn,
    OrderLineIn,
    OrderStatus,
    PaymentMode,
    ReceiverRef,
    RefundEvent,
    RefundState,
)
from syncd.errors import ProtocolError

# order_status (发货状态)
AWAITING_SHIPMENT, SHIPPED, RECEIVED = 1, 2, 3
# confirm_status (成交状态) and group_status (成团状态)
NOT_CONFIRMED, CONFIRM_CANCELLED = 0, 2
GROUP_FORMING, GROUP_FAILED = 0, 2
# refund_status (售后状态, order level): 1 none or closed, 2 售后处理中, 3 退款中, 4 退款成功
REFUND_NONE, REFUND_DONE = 1, 4
REFUND_IN_PROGRESS = frozenset({2, 3})
RISK_REVIEW_CLEAR = 0  # risk_control_status: 1 = 审核中, do not ship
SHIP_HOLD_TAG = "ship_hold"  # order_tag_list: 暂停发货
STOCK_OUT_PENDING = 0  # stock_out_handle_status: -1 none, 0 缺货待处理, 1 缺货已处理
TRADE_DEPOSIT, STEP_FULLY_PAID = 1, 2  # trade_type 1 定金订单; step_order_info.step_trade_status 2 尾款已付

# after_sales_status, as the refund stream and the order give it
AFTER_SALES_REFUNDED = frozenset({10, 33})  # 退款成功 / 召回后退款
AFTER_SALES_IN_PROGRESS = frozenset({2, 3, 4, 5, 6, 7, 8, 31})  # applied / agreed / refunding / disputed
AFTER_SALES_CLOSED = frozenset({0, 9, 11, 12, 13})  # none / refused and closed / withdrawn / lapsed
AFTER_SALES_NO_MONEY = frozenset({14, 15, 16, 17, 18, 21, 22, 24, 25, 27, 32})  # exchange, resend, repair
AFTER_SALES_TYPES = {2: "仅退款", 3: "退货退款", 4: "换货", 5: "缺货补寄"}
_FEN = Decimal("0.01")


def map_order(raw: dict[str, Any]) -> OrderIn:
    """One order object (increment list item or ``order_info``) → :class:`OrderIn`."""
    order_sn = identifier(raw, "order_sn", "order")
    where = f"order {order_sn}"
    code = integer(raw, "order_status", where)
    if code is None:
        raise ProtocolError(f"{where}: order_status is missing")
    if code not in (AWAITING_SHIPMENT, SHIPPED, RECEIVED):
        raise ProtocolError(f"{where}: unknown order_status {code}")
    updated_at = parse_time(raw.get("updated_at"), f"{where}: updated_at")
    if updated_at is None:
        raise ProtocolError(f"{where}: updated_at is missing")
    refund = order_refund_state(raw, where)
    status = order_status(raw, code, refund, where)
    reasons = not_ready_reasons(raw, where) if status is OrderStatus.PAID else []
    items = nonempty_list(raw, "item_list", where)
    ids = line_ids(items, where)
    lines = [map_line(item, line_id, f"{where} line {i}", refund)
             for i, (item, line_id) in enumerate(zip(items, ids, strict=True))]
    return OrderIn(
        platform_order_id=order_sn,
        platform_status=str(code),
        status=status,
        ready_to_ship=status is OrderStatus.PAID and not reasons,
        not_ready_reason=details.REASONS_JOINED.join(reasons) or None,
        refund_state=refund,
        payment_mode=PaymentMode.PREPAID,  # PDD has no cash on delivery
        updated_at=updated_at,
        created_at=parse_time(raw.get("created_time"), f"{where}: created_time"),
        paid_at=parse_time(raw.get("pay_time"), f"{where}: pay_time"),
        ship_by=parse_time(raw.get("last_ship_time"), f"{where}: last_ship_time"),
        buyer_note=text(raw, "buyer_memo", where),
        seller_memo=text(raw, "remark", where),
        receiver=map_receiver(raw, where),
        lines=lines,
        shipped_tracking=tracking_numbers(raw, where),
        raw=raw,
    )


def order_status(raw: dict[str, Any], code: int, refund: RefundState, where: str) -> OrderStatus:
    """Normalised status from order_status, confirm/group status, refund and the deposit stage."""
    if (integer(raw, "confirm_status", where) == CONFIRM_CANCELLED
            or integer(raw, "group_status", where) == GROUP_FAILED):
        return OrderStatus.CANCELLED
    if code == SHIPPED:
        return OrderStatus.SHIPPED
    if code == RECEIVED:
        return OrderStatus.COMPLETED
    if refund is RefundState.REFUNDED:
        return OrderStatus.CANCELLED  # refunded before shipping: the platform closes the order
    if integer(raw, "confirm_status", where) == NOT_CONFIRMED and not text(raw, "pay_time", where):
        return OrderStatus.UNPAID
    if integer(raw, "trade_type", where) == TRADE_DEPOSIT:
        step = obj(raw, "step_order_info", where)
        if step and integer(step, "step_trade_status", where) != STEP_FULLY_PAID:
            return OrderStatus.UNPAID  # deposit paid, balance not yet
    return OrderStatus.PAID


def not_ready_reasons(raw: dict[str, Any], where: str) -> list[str]:
    """Why a paid, unshipped order may not ship now (§4.2); empty when it may."""
    reasons = []
    if integer(raw, "confirm_status", where) == NOT_CONFIRMED:
        reasons.append(details.NOT_CONFIRMED.format(code="confirm_status 0"))
    if integer(raw, "group_status", where) == GROUP_FORMING:
        reasons.append(details.GROUP_FORMING.format(code="group_status 0"))
    refund = integer(raw, "refund_status", where)
    if refund is not None and refund != REFUND_NONE:
        reasons.append(details.AFTER_SALE.format(code=f"refund_status {refund}"))
    risk = integer(raw, "risk_control_status", where)
    if risk is not None and risk != RISK_REVIEW_CLEAR:
        reasons.append(details.RISK_REVIEW.format(code=f"risk_control_status {risk}"))
    if SHIP_HOLD_TAG in order_tags(raw, where):
        reasons.append(details.SHIP_HOLD.format(code="ship_hold"))
    if integer(raw, "stock_out_handle_status", where) == STOCK_OUT_PENDING:
        reasons.append(details.STOCK_OUT.format(code="stock_out_handle_status 0"))
    return reasons


def order_tags(raw: dict[str, Any], where: str) -> set[str]:
    """Set tags of ``order_tag_list``: ``[{"name": …, "value": 1}]`` (value 0 means unset) or plain names."""
    tags = raw.get("order_tag_list") or []
    if not isinstance(tags, list):
        raise ProtocolError(f"{where}: order_tag_list is not a list")
    found = set()
    for tag in tags:
        if isinstance(tag, str):
            found.add(tag)
        elif isinstance(tag, dict) and isinstance(tag.get("name"), str):
            if tag.get("value") in (None, 1, "1", True):
                found.add(tag["name"])
        else:
            raise ProtocolError(f"{where}: order_tag_list holds {type(tag).__name__}")
    return found


def order_refund_state(raw: dict[str, Any], where: str) -> RefundState:
    """``refund_status`` (or, when absent, ``after_sales_status``) → refund state of the order."""
    refund = integer(raw, "refund_status", where)
    if refund is None:
        return after_sales_state(integer(raw, "after_sales_status", where))
    if refund == REFUND_NONE:
        return RefundState.NONE
    if refund == REFUND_DONE:
        return RefundState.REFUNDED
    return RefundState.REQUESTED  # 2, 3, or a code this table does not know: a person looks


def after_sales_state(code: int | None) -> RefundState:
    """One ``after_sales_status`` → REQUESTED while money may go back, REFUNDED once it did, else NONE."""
    if code is None or code in AFTER_SALES_CLOSED or code in AFTER_SALES_NO_MONEY:
        return RefundState.NONE
    if code in AFTER_SALES_REFUNDED:
        return RefundState.REFUNDED
    return RefundState.REQUESTED  # in progress, or unknown: a person looks rather than the goods ship


def line_ids(items: list[Any], where: str = "order") -> list[str]:
    """Stable ids of the order's lines. PDD has no sub-order id: a line is known by its ``sku_id``
    (unique across goods; ``goods_id`` when there is none), a repeated one in the same order by ``#2``…"""
    seen: Counter[str] = Counter()
    ids = []
    for i, raw in enumerate(items):
        item = as_object(raw, f"{where} line {i}")
        sku, goods = text(item, "sku_id", where).strip(), text(item, "goods_id", where).strip()
        base = sku if sku not in ("", "0") else goods
        if base in ("", "0"):
            raise ProtocolError(f"{where} line {i}: sku_id and goods_id are missing")
        seen[base] += 1
        ids.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
    return ids


def map_line(raw: dict[str, Any], line_id: str, where: str, refund: RefundState) -> OrderLineIn:
    """One ``item_list[]`` entry → :class:`OrderLineIn` (the refund state is the order's: PDD keeps it there)."""
    quantity = integer(raw, "goods_count", where)
    if quantity is None or quantity <= 0:
        raise ProtocolError(f"{where}: goods_count is missing or not positive")
    price = raw.get("goods_price")
    return OrderLineIn(
        platform_line_id=line_id,
        merchant_sku=text(raw, "outer_id", where) or text(raw, "outer_goods_id", where),
        quantity=quantity,
        title=text(raw, "goods_name", where),
        spec=text(raw, "goods_spec", where),
        platform_sku_id=text(raw, "sku_id", where),
        unit_price_fen=yuan_to_fen(price, f"{where}: goods_price") if price not in (None, "") else 0,
        refund_state=refund,
    )


def map_receiver(raw: dict[str, Any], where: str) -> ReceiverRef:
    """Ciphertexts and masked forms of the receiver; never plaintext. PDD gives no street."""
    return ReceiverRef(
        name_cipher=text(raw, "receiver_name", where),
        phone_cipher=text(raw, "receiver_phone", where),
        address_cipher=text(raw, "receiver_address", where) or text(raw, "address", where),
        name_masked=text(raw, "receiver_name_mask", where),
        phone_masked=text(raw, "receiver_phone_mask", where),
        address_masked=text(raw, "receiver_address_mask", where) or text(raw, "address_mask", where),
        province=text(raw, "province", where),
        city=text(raw, "city", where),
        district=text(raw, "town", where),
    )


def tracking_numbers(raw: dict[str, Any], where: str = "order") -> list[str]:
    """The main ``tracking_number`` and those of ``extra_delivery_list`` (extra parcels), each once."""
    numbers = [text(raw, "tracking_number", where)]
    extra = objects(raw, "extra_delivery_list", where)
    numbers += [text(e, "tracking_number", where) for e in extra]
    return list(dict.fromkeys(n.strip() for n in numbers if n.strip()))


def map_refund(raw: dict[str, Any]) -> RefundEvent:
    """One ``refund_list[]`` entry of pdd.refund.list.increment.get → :class:`RefundEvent`."""
    order_sn = identifier(raw, "order_sn", "refund")
    where = f"refund {text(raw, 'id', 'refund') or '?'} of order {order_sn}"
    status = integer(raw, "after_sales_status", where)
    if status is None:
        raise ProtocolError(f"{where}: after_sales_status is missing")
    updated_at = parse_time(raw.get("updated_time"), f"{where}: updated_time")
    if updated_at is None:
        raise ProtocolError(f"{where}: updated_time is missing")
    kind = integer(raw, "after_sales_type", where)
    return RefundEvent(
        platform_order_id=order_sn,
        platform_line_id=text(raw, "sku_id", where) or None,
        state=after_sales_state(status),
        updated_at=updated_at,
        kind=AFTER_SALES_TYPES.get(kind, str(kind)) if kind is not None else "",
        raw=raw,
    )


def carrier_table(data: dict[str, Any]) -> dict[str, int]:
    """``logistics_companies_get_response`` → internal carrier → PDD ``logistics_id``.

    Entries marked ``available: 0`` and names that mean no known carrier are left out: an unknown
    carrier is never guessed.
    """
    companies = data.get("logistics_companies")
    if not isinstance(companies, list):
        raise ProtocolError("pdd.logistics.companies.get: logistics_companies is not a list")
    table: dict[str, int] = {}
    for entry in companies:
        if not isinstance(entry, dict) or entry.get("available") in (0, "0", False):
            continue
        ident = entry.get("id")
        ident = whole(ident)
        if not isinstance(ident, int) or isinstance(ident, bool):
            continue
        name, code = entry.get("logistics_company"), entry.get("code")
        internal = (normalize(name) if isinstance(name, str) else None) or (
            normalize(code) if isinstance(code, str) else None)
        if internal is not None:
            table.setdefault(internal, ident)
    return table


def parse_time(value: Any, where: str) -> datetime | None:
    """``yyyy-MM-dd HH:mm:ss`` Beijing time (or Unix seconds) → aware UTC; empty → None."""
    if value is None or value == "" or value == 0:
        return None
    value = whole(value)
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return clock.from_epoch(value)
        except (OverflowError, ValueError, OSError):
            raise ProtocolError(f"{where} {value} is not a Unix time") from None
    if not isinstance(value, str):
        raise ProtocolError(f"{where} is {type(value).__name__}, expected a time")
    stripped = value.strip()
    try:
        return shanghai_time(stripped)
    except ValueError:
        raise ProtocolError(f"{where} {stripped!r} is not yyyy-MM-dd HH:mm:ss") from None


def yuan_to_fen(value: Any, where: str) -> int:
    """A yuan amount (``"39.90"``, ``39.9``, ``40``) → integer fen, half up."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ProtocolError(f"{where} is {type(value).__name__}, expected an amount")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ProtocolError(f"{where} {value!r} is not an amount") from None
    if not amount.is_finite() or amount < 0:
        raise ProtocolError(f"{where} {value!r} is not an amount")
    return int(amount.quantize(_FEN, rounding=ROUND_HALF_UP) * 100)

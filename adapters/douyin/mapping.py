"""Douyin Shop payloads → syncd's domain: reference/storefronts.md §1.4.

Pure functions over the platform's dicts. Status and after-sale tables live here. Anything that
cannot be read raises :class:`ProtocolError` naming the field; the caller sets that order (or that
after-sale entry) aside.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from syncd import clock, details
from syncd.adapters.common.fields import as_object, identifier, integer, nonempty_list, obj, objects, text
from syncd.carriers import normalize
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

# order_status → (status, ready to ship, why not when paid but not ready)
ORDER_STATUS: dict[int, tuple[OrderStatus, bool, str | None]] = {
    1: (OrderStatus.UNPAID, False, None),  # 待确认 / 待支付
    105: (OrderStatus.PAID, False, details.RELEASE_PENDING.format(code="105")),  # 已支付, risk review
    2: (OrderStatus.PAID, True, None),  # 备货中 = awaiting shipment
    101: (OrderStatus.PAID, True, None),  # 部分发货: the rest still ships
    3: (OrderStatus.SHIPPED, False, None),
    4: (OrderStatus.CANCELLED, False, None),
    5: (OrderStatus.COMPLETED, False, None),
}

# after_sale_status codes
AFTER_SALE_IN_PROGRESS = frozenset({6, 7, 11})  # 申请 / 退货中 / 已发货
AFTER_SALE_SUCCEEDED = frozenset({12, 53})  # 售后成功 / 逆向交易完成
AFTER_SALE_NOTHING = frozenset({0, 27, 28, 29, 51})  # init / refused / failed / refused after return / cancelled
AFTER_SALE_EXCHANGE = frozenset({13, 14})  # exchange under way / done: no money goes back
AFTER_SALE_TYPE_EXCHANGE = 3
REFUND_STATUS_PENDING = 1
REFUND_STATUS_DONE = 3
PAY_TYPE_COD = 0  # 货到付款
_LATEST_EPOCH = 10**10  # year 2286: anything larger is milliseconds or garbage


def map_order(raw: dict[str, Any]) -> OrderIn:
    """One ``shop_order_list[]`` item (or ``shop_order_detail``) → :class:`OrderIn`."""
    order_id = identifier(raw, "order_id", "order")
    where = f"order {order_id}"
    code = integer(raw, "order_status", where)
    if code is None:
        raise ProtocolError(f"{where}: order_status is missing")
    if code not in ORDER_STATUS:
        raise ProtocolError(f"{where}: unknown order_status {code}")
    status, ready, reason = ORDER_STATUS[code]
    updated_at = _time(raw, "update_time", where)
    if updated_at is None:
        raise ProtocolError(f"{where}: update_time is missing")
    items = nonempty_list(raw, "sku_order_list", where)
    lines = [map_line(item, f"{where} line {i}") for i, item in enumerate(items)]
    return OrderIn(
        platform_order_id=order_id,
        platform_status=str(code),
        status=status,
        ready_to_ship=ready,
        not_ready_reason=reason,
        refund_state=order_refund_state([line.refund_state for line in lines]),
        payment_mode=PaymentMode.COD if integer(raw, "pay_type", where) == PAY_TYPE_COD else PaymentMode.PREPAID,
        updated_at=updated_at,
        created_at=_time(raw, "create_time", where),
        paid_at=_time(raw, "pay_time", where),
        ship_by=_time(raw, "exp_ship_time", where),
        buyer_note=text(raw, "buyer_words", where),
        seller_memo=text(raw, "seller_words", where),
        receiver=map_receiver(raw, where),
        lines=lines,
        shipped_tracking=_tracking_numbers(raw, where),
        raw=raw,
    )


def map_line(raw: Any, where: str) -> OrderLineIn:
    """One ``sku_order_list[]`` item (sub-order) → :class:`OrderLineIn`."""
    raw = as_object(raw, where)
    line_id = identifier(raw, "order_id", where)
    quantity = integer(raw, "item_num", where)
    if quantity is None or quantity <= 0:
        raise ProtocolError(f"{where}: item_num is missing or not positive")
    specs = objects(raw, "spec", where)
    return OrderLineIn(
        platform_line_id=line_id,
        merchant_sku=text(raw, "code", where) or text(raw, "out_sku_id", where),
        quantity=quantity,
        title=text(raw, "product_name", where),
        spec=";".join(f"{text(s, 'name', where)}:{text(s, 'value', where)}" for s in specs),
        platform_sku_id=text(raw, "sku_id", where),
        unit_price_fen=integer(raw, "origin_amount", where) or 0,
        refund_state=line_refund_state(raw.get("after_sale_info"), where),
    )


def line_refund_state(info: Any, where: str = "line") -> RefundState:
    """``after_sale_info {after_sale_status, after_sale_type, refund_status}`` → refund state."""
    if info is None:
        return RefundState.NONE
    if not isinstance(info, dict):
        raise ProtocolError(f"{where}: after_sale_info is not an object")
    status = integer(info, "after_sale_status", where)
    kind = integer(info, "after_sale_type", where)
    refund = integer(info, "refund_status", where)
    if refund == REFUND_STATUS_DONE:
        return RefundState.REFUNDED
    if status in AFTER_SALE_SUCCEEDED:
        return RefundState.NONE if kind == AFTER_SALE_TYPE_EXCHANGE else RefundState.REFUNDED
    if status in AFTER_SALE_IN_PROGRESS or refund == REFUND_STATUS_PENDING:
        return RefundState.REQUESTED
    if status is None or status in AFTER_SALE_NOTHING or status in AFTER_SALE_EXCHANGE:
        return RefundState.NONE
    # A code this table does not know: a person looks rather than the goods ship.
    return RefundState.REQUESTED


# ---- afterSale.List ----------------------------------------------------------------------------

# aftersale_type (§1.4): the types where money goes back, and the ones where it does not.
AFTERSALE_REFUND_TYPES: dict[int, str] = {0: "退货退款", 1: "已发货仅退款", 2: "未发货仅退款"}
AFTERSALE_OTHER_TYPES: dict[int, str] = {3: "换货", 6: "价保", 7: "补寄", 8: "维修"}
# standard aftersale_status (§1.4)
AFTERSALE_OPEN = frozenset({6, 7, 8, 11})  # 待商家同意 / 待买家退货 / 待商家发货 / 待商家二次同意
AFTERSALE_SUCCESS = frozenset({12, 53})  # 售后成功 (53 逆向交易完成 appears on older line records)
AFTERSALE_CLOSED = frozenset({27, 28, 29, 51})  # 商家一次拒绝 / 售后失败(关闭) / 商家二次拒绝 / 取消成功
AFTERSALE_GOODS_FLOW = frozenset({3, 13, 14})  # 换货/补寄/维修 待买家收货 / 成功: goods, not money
AFTERSALE_ORDER_LEVEL = 2  # aftersale_order_type 2 = 店铺单: the whole order, no one line
AFTERSALE_REFUND_DONE = 3  # refund_status 3 = 退款成功


def aftersale_refund_state(kind: int, status: int, refund_status: int | None) -> RefundState:
    """Refund state of one after-sale: money back → REFUNDED, under way → REQUESTED, else NONE.

    Exchange, 补寄, 维修 and 价保 never stop goods from shipping (no money goes back for the goods), so
    they are NONE whatever their status. A type or status this table does not know is REQUESTED: a
    person looks rather than the goods ship.
    """
    if kind in AFTERSALE_OTHER_TYPES:
        return RefundState.NONE
    if kind not in AFTERSALE_REFUND_TYPES:
        return RefundState.REQUESTED
    if status in AFTERSALE_SUCCESS or refund_status == AFTERSALE_REFUND_DONE:
        return RefundState.REFUNDED
    if status in AFTERSALE_CLOSED or status in AFTERSALE_GOODS_FLOW:
        return RefundState.NONE
    return RefundState.REQUESTED  # AFTERSALE_OPEN, and any status not known yet


def aftersale_id(raw: Any) -> str | None:
    """The entry's ``aftersale_info.aftersale_id`` when it can be read."""
    info = raw.get("aftersale_info") if isinstance(raw, dict) else None
    if not isinstance(info, dict):
        return None
    value = info.get("aftersale_id")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value.strip() if isinstance(value, str) and value.strip() else None


def map_aftersale(raw: Any) -> list[RefundEvent]:
    """One ``afterSale.List`` item → its refund events: one per sku order it names, or one for the order."""
    if not isinstance(raw, dict):
        raise ProtocolError(f"after-sale entry is {type(raw).__name__}, expected an object")
    info = obj(raw, "aftersale_info", "after-sale entry")
    order_info = obj(raw, "order_info", "after-sale entry")
    where = f"after-sale {aftersale_id(raw) or '?'}"
    if aftersale_id(raw) is None:
        raise ProtocolError(f"{where}: aftersale_info.aftersale_id is missing")
    order_id = identifier(order_info, "shop_order_id", where)
    kind = integer(info, "aftersale_type", where)
    status = integer(info, "aftersale_status", where)
    if kind is None or status is None:
        raise ProtocolError(f"{where}: aftersale_type or aftersale_status is missing")
    updated_at = _time(info, "update_time", where) or _time(info, "apply_time", where)
    if updated_at is None:
        raise ProtocolError(f"{where}: update_time is missing")
    state = aftersale_refund_state(kind, status, integer(info, "refund_status", where))
    label = AFTERSALE_REFUND_TYPES.get(kind) or AFTERSALE_OTHER_TYPES.get(kind) or f"type {kind}"
    lines: list[str | None] = [None]
    if integer(info, "aftersale_order_type", where) != AFTERSALE_ORDER_LEVEL:
        lines = list(dict.fromkeys(_related_lines(order_info, info, order_id, where))) or [None]
    return [RefundEvent(platform_order_id=order_id, platform_line_id=line, state=state, updated_at=updated_at,
                        kind=f"{label} ({status})", raw=raw) for line in lines]


def _related_lines(order_info: dict[str, Any], info: dict[str, Any], order_id: str, where: str) -> list[str]:
    related = objects(order_info, "related_order_info", where)
    lines = [text(r, "sku_order_id", where).strip() for r in related]
    lines = [line for line in lines if line]
    if not lines:
        related_id = text(info, "related_id", where).strip()
        if related_id and related_id != order_id:
            lines = [related_id]
    return lines


def map_receiver(raw: dict[str, Any], where: str) -> ReceiverRef:
    """Ciphertexts and masked forms of the receiver; never plaintext."""
    addr = obj(raw, "post_addr", where)
    masked_addr = obj(raw, "mask_post_addr", where)
    return ReceiverRef(
        name_cipher=text(raw, "encrypt_post_receiver", where) or text(raw, "post_receiver", where),
        phone_cipher=text(raw, "encrypt_post_tel", where) or text(raw, "post_tel", where),
        address_cipher=text(addr, "encrypt_detail", where) or text(addr, "detail", where),
        name_masked=text(raw, "mask_post_receiver", where),
        phone_masked=text(raw, "mask_post_tel", where),
        address_masked=text(masked_addr, "detail", where),
        province=text(obj(addr, "province", where), "name", where),
        city=text(obj(addr, "city", where), "name", where),
        district=text(obj(addr, "town", where), "name", where),
        street=text(obj(addr, "street", where), "name", where),
    )


def _tracking_numbers(raw: dict[str, Any], where: str) -> list[str]:
    infos = objects(raw, "logistics_info", where)
    numbers = [text(i, "tracking_no", where) for i in infos]
    return [n for n in numbers if n]


def _time(raw: dict[str, Any], key: str, where: str) -> datetime | None:
    seconds = integer(raw, key, where)
    if not seconds:
        return None  # 0 means "not yet"
    if not 0 < seconds < _LATEST_EPOCH:
        raise ProtocolError(f"{where}: {key} {seconds} is not a Unix time in seconds")
    return clock.from_epoch(seconds)


def carrier_table(data: Any) -> dict[str, str]:
    """``order.logisticsCompanyList`` data ``[{id, name, code}]`` → internal carrier → Douyin ``code``.

    Entries whose name and code mean no known carrier are left out: an unknown carrier is never guessed.
    """
    if not isinstance(data, list):
        raise ProtocolError(f"order.logisticsCompanyList: data is {type(data).__name__}, expected a list")
    table: dict[str, str] = {}
    for entry in data:
        if not isinstance(entry, dict):
            continue
        code, name = entry.get("code"), entry.get("name")
        if not isinstance(code, str) or not code.strip():
            continue
        internal = (normalize(name) if isinstance(name, str) else None) or normalize(code)
        if internal is not None:
            table.setdefault(internal, code.strip())
    return table

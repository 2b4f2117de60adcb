"""Orders of the 1688 simulator: create (not idempotent), pay, ship (sometimes in two parcels), cancel,
and the buyer-view payloads (reference/suppliers-tracking-alerts.md §A.4–A.6).

Orders start ``waitbuyerpay``; a paid order is shipped by the supplier ``ship_delay`` seconds after
payment — as two parcels each holding some items when the seeded draw says so, the second half a
delay later (while only one is out the order stays ``waitsellersend``: a partial shipment). Each
parcel's trace grows with the clock; steps are only ever in the past. About one parcel in ten
(``never_pickup_rate``, drawn from a hash of the seed and the tracking number) is never picked up: the
supplier reports it sent it 14–30 hours before the parcel appeared, and its trace never gets a step — the
fake-shipment case of the no_pickup alert. Business codes other than ``500_2``, ``404`` and
``CLOSE_ORDER_TOO_FAST`` are the simulator's choice.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from syncd.adapters.sandbox.alibaba_seed import CARRIERS, Cargo, compact_time, dash_time

TOO_FAST_SECONDS = 10
# (seconds after sending, remark, getLogisticsInfos status)
STEPS: tuple[tuple[float, str, str], ...] = (
    (0, "【义乌市】{carrier} 义乌分拨中心 已揽收", "ACCEPT"),
    (6 * 3600, "【义乌市】快件已发往 杭州转运中心", "TRANSPORT"),
    (20 * 3600, "【杭州市】快件已到达 杭州转运中心", "TRANSPORT"),
    (30 * 3600, "【杭州市】快递员正在派件，请保持电话畅通", "TRANSPORT"),
    (36 * 3600, "【杭州市】快件已签收，签收人：本人", "SIGN"),
)
NEVER_PICKED_UP_RATE = 0.1
NEVER_PICKED_UP_HOURS = (14.0, 30.0)  # how long before the parcel appears its supplier says it sent it


class Business(Exception):
    """A business refusal (HTTP 200, ``success: false``)."""

    def __init__(self, code: str, message: str) -> None:
        self.code, self.message = code, message
        super().__init__(f"{code} {message}")


@dataclass
class Item:
    entry_id: int
    cargo: Cargo
    quantity: int


@dataclass
class Sent:
    """One parcel the supplier sent."""

    logistics_id: str
    bill_no: str
    carrier: tuple[str, str]
    entry_ids: list[int]
    sent_at: float  # what the supplier reports (gmtSystemSend, deliveredTime)
    picked_up: bool = True  # False: scripted never picked up, the trace stays empty


@dataclass
class Order:
    order_id: int
    out_order_id: str
    flow: str
    channel: str
    created_at: float
    items: list[Item]
    shipping_fen: int
    message: str
    status: str = "waitbuyerpay"
    paid_at: float | None = None
    modified_at: float = 0.0
    close_reason: str = ""
    plan: list[tuple[float, list[int]]] = field(default_factory=list)  # (when, entry ids) still to send
    parcels: list[Sent] = field(default_factory=list)

    @property
    def total_fen(self) -> int:
        return sum(i.cargo.price_fen * i.quantity for i in self.items) + self.shipping_fen


def yuan(fen_amount: int) -> float:
    """Order-detail money is yuan (§A.4)."""
    return round(fen_amount / 100, 2)


class OrderBook:
    """Every order of the buyer account; not thread-safe by itself (the simulator serialises calls)."""

    def __init__(self, catalogue: dict[str, Cargo], seed: int, *, ship_delay: float, split_rate: float,
                 never_pickup_rate: float = NEVER_PICKED_UP_RATE) -> None:
        self.catalogue = catalogue
        self.ship_delay, self.split_rate, self.never_pickup_rate = ship_delay, split_rate, never_pickup_rate
        self._seed = seed
        self._rng = random.Random(f"1688-orders|{seed}")  # noqa: S311 - reproducible, not security
        self._serial = 0
        self.orders: dict[int, Order] = {}
        self.creates: Counter[str] = Counter()  # outOrderId → orders created with it

    # ---- cargo -----------------------------------------------------------------------------------------

    def cargo_checks(self, cargos: list[dict[str, Any]]) -> list[tuple[dict[str, Any], Cargo | None, str, str]]:
        """Each requested cargo with its catalogue entry and (resultCode, message); "" code = orderable."""
        if not cargos:
            raise Business("400_cargo", "cargoParamList不能为空")
        out: list[tuple[dict[str, Any], Cargo | None, str, str]] = []
        for cargo in cargos:
            offer, spec, qty = cargo.get("offerId"), str(cargo.get("specId") or ""), cargo.get("quantity")
            if not isinstance(offer, int) or isinstance(offer, bool) or not isinstance(qty, int) or qty < 1:
                raise Business("400_cargo", "cargoParamList: offerId须为数字, quantity须为正整数")
            known = self.catalogue.get(f"{offer}:{spec}" if spec else str(offer))
            if known is None:
                out.append((cargo, None, "500_001", "商品不存在或已下架"))
            elif qty < known.min_quantity:
                out.append((cargo, known, "500_005", f"起批量不满足，最少{known.min_quantity}件"))
            elif qty > known.stock:
                out.append((cargo, known, "500_006", "库存不足"))
            else:
                out.append((cargo, known, "", ""))
        return out

    @staticmethod
    def check_address(address: dict[str, Any]) -> None:
        for key in ("fullName", "mobile", "provinceText", "cityText", "address"):
            if not str(address.get(key) or "").strip():
                raise Business("400_address", f"收货地址{key}不能为空")
        if len(str(address["address"])) > 200:
            raise Business("400_address", "详细地址不能超过200个字符")

    # ---- create, pay, cancel ------------------------------------------------------------------------------

    def create(self, out_order_id: str, flow: str, channel: str, address: dict[str, Any],
               cargos: list[dict[str, Any]], message: str, now: float) -> Order:
        """fastCreateOrder: a new order every time, even for an outOrderId already used."""
        self.check_address(address)
        if flow not in ("general", "saleproxy"):
            raise Business("400_flow", f"不支持的flow: {flow}")
        if len(message) > 500:
            raise Business("400_message", "留言不能超过500个字符")
        checked = self.cargo_checks(cargos)
        refused = [(code, msg) for _, _, code, msg in checked if code]
        if refused:
            raise Business(*refused[0])
        self._serial += 1
        order_id = 3_800_000_000_000_000_000 + self._serial * 1_000 + self._rng.randrange(1000)
        items: list[Item] = []
        for n, (cargo, known, _, _) in enumerate(checked, start=1):
            assert known is not None
            known.stock -= int(cargo["quantity"])
            items.append(Item(order_id + n * 10**15, known, int(cargo["quantity"])))  # distinct entry ids
        order = Order(order_id, out_order_id, flow, channel, now, items, shipping_fen=500, message=message,
                      modified_at=now)
        self.orders[order_id] = order
        self.creates[out_order_id] += 1
        return order

    def get(self, raw_id: str) -> Order:
        order = self.orders.get(int(raw_id)) if raw_id.strip().isdigit() else None
        if order is None:
            raise Business("500_1", "订单不存在或不属于当前买家")
        return order

    def pay(self, order: Order, now: float) -> None:
        if order.status != "waitbuyerpay":
            raise Business("ORDER_STATUS_NOT_PAYABLE", f"订单状态{order.status}不能付款")
        order.status, order.paid_at, order.modified_at = "waitsellersend", now, now
        entries = [i.entry_id for i in order.items]
        if len(entries) > 1 and self._rng.random() < self.split_rate:
            half = len(entries) // 2
            order.plan = [(now + self.ship_delay, entries[:half]), (now + self.ship_delay * 1.5, entries[half:])]
        else:
            order.plan = [(now + self.ship_delay, entries)]

    def cancel(self, order: Order, now: float) -> None:
        if order.status in ("cancel", "terminated"):
            raise Business("ORDER_ALREADY_CLOSED", "订单已关闭")
        if order.status != "waitbuyerpay":
            raise Business("ORDER_STATUS_NOT_SUPPORT", "订单已付款，请走退款流程")
        if now - order.created_at < TOO_FAST_SECONDS:
            raise Business("CLOSE_ORDER_TOO_FAST", "订单创建后10秒内不能关闭，请稍后再试")
        order.status, order.close_reason, order.modified_at = "cancel", "buyerCancel", now
        for item in order.items:
            item.cargo.stock += item.quantity

    # ---- shipping -----------------------------------------------------------------------------------------

    def advance(self, now: float) -> None:
        """The supplier sends every parcel due by ``now``; delivered orders move on."""
        for order in self.orders.values():
            while order.plan and order.plan[0][0] <= now:
                when, entries = order.plan.pop(0)
                self.send(order, entries, when)
            if order.parcels and not order.plan and order.status == "waitbuyerreceive" \
                    and all(p.picked_up and now >= p.sent_at + STEPS[-1][0] for p in order.parcels):
                order.status, order.modified_at = "signinsuccess", now

    def ship_now(self, order: Order, now: float, split: bool | None = None) -> list[Sent]:
        """Admin: send what is left now (``split``: force two parcels or one)."""
        if order.status not in ("waitsellersend",):
            raise Business("ORDER_STATUS_NOT_SHIPPABLE", f"订单状态{order.status}不能发货")
        left = [e for _, entries in order.plan for e in entries]
        order.plan = []
        if split and len(left) > 1:
            half = len(left) // 2
            return [self.send(order, left[:half], now), self.send(order, left[half:], now)]
        return [self.send(order, left, now)]

    def send(self, order: Order, entries: list[int], when: float) -> Sent:
        self._serial += 1
        carrier = CARRIERS[self._rng.randrange(len(CARRIERS))]
        bill = f"7{self._rng.randrange(10**13, 10**14)}"
        never = self.never_picked_up(bill)
        sent_at = when - self.claimed_hours(bill) * 3600 if never else when
        sent = Sent(f"BX{order.order_id % 10**9:09d}{self._serial:04d}", bill, carrier, entries, sent_at,
                    picked_up=not never)
        order.parcels.append(sent)
        shipped = {e for p in order.parcels for e in p.entry_ids}
        if all(i.entry_id in shipped for i in order.items):
            order.status = "waitbuyerreceive"
        order.modified_at = when
        return sent

    def never_picked_up(self, bill_no: str) -> bool:
        """Whether the parcel with this tracking number is (or would be) scripted never picked up."""
        return _unit(self._seed, bill_no, "never") < self.never_pickup_rate

    def claimed_hours(self, bill_no: str) -> float:
        """How many hours before such a parcel appears its supplier says it sent it (14–30)."""
        low, high = NEVER_PICKED_UP_HOURS
        return low + (high - low) * _unit(self._seed, bill_no, "sent")

    # ---- views --------------------------------------------------------------------------------------------

    def view(self, order: Order) -> dict[str, Any]:
        """The order as get.buyerView / getBuyerOrderList show it (money in yuan)."""
        base: dict[str, Any] = {
            "id": order.order_id, "idOfStr": str(order.order_id), "status": order.status,
            "createTime": compact_time(order.created_at), "modifyTime": compact_time(order.modified_at),
            "totalAmount": yuan(order.total_fen), "shippingFee": yuan(order.shipping_fen),
            "sumProductPayment": yuan(order.total_fen - order.shipping_fen), "outOrderId": order.out_order_id,
            "flowTemplateCode": order.flow, "buyerMemo": order.message, "tradeType": "50060",
        }
        if order.paid_at is not None:
            base["payTime"] = compact_time(order.paid_at)
        if order.close_reason:
            base["closeReason"] = order.close_reason
        shipped = {e for p in order.parcels for e in p.entry_ids}
        items = [{"productID": i.cargo.offer_id, "specId": i.cargo.spec_id or None, "skuID": i.cargo.sku_id,
                  "subItemID": i.entry_id, "subItemIDString": str(i.entry_id), "name": i.cargo.title,
                  "quantity": i.quantity, "price": yuan(i.cargo.price_fen),
                  "itemAmount": yuan(i.cargo.price_fen * i.quantity),
                  "logisticsStatus": 2 if i.entry_id in shipped else 1} for i in order.items]
        logistics = [{"logisticsCode": p.logistics_id, "logisticsBillNo": p.bill_no,
                      "logisticsCompanyName": p.carrier[0], "logisticsCompanyNo": p.carrier[1], "type": 1,
                      "deliveredTime": dash_time(p.sent_at),
                      "subItemIds": ",".join(str(e) for e in p.entry_ids)} for p in order.parcels]
        return {"baseInfo": base, "productItems": items, "nativeLogistics": {"logisticsItems": logistics}}

    def logistics_infos(self, order: Order, now: float) -> list[dict[str, Any]]:
        """getLogisticsInfos.buyerView ``result``; Business 500_2 before the first parcel."""
        if not order.parcels:
            raise Business("500_2", "订单尚未发货，暂无物流详情")
        titles = {i.entry_id: (i.cargo.title, i.quantity) for i in order.items}
        out = []
        for p in order.parcels:
            status = [s for offset, _, s in STEPS if p.sent_at + offset <= now][-1] if p.picked_up else "WAITACCEPT"
            out.append({
                "logisticsId": p.logistics_id, "logisticsBillNo": p.bill_no,
                "orderEntryIds": ",".join(str(e) for e in p.entry_ids), "status": status,
                "logisticsCompanyId": str(CARRIERS.index(p.carrier) + 1), "logisticsCompanyName": p.carrier[0],
                "logisticsCompanyNo": p.carrier[1], "gmtSystemSend": compact_time(p.sent_at),
                "logisticsOrderGoods": [{"tradeOrderId": str(order.order_id), "tradeOrderItemId": str(e),
                                         "description": titles[e][0], "quantity": titles[e][1]}
                                        for e in p.entry_ids]})
        return out

    def traces(self, order: Order, now: float) -> list[dict[str, Any]]:
        """getLogisticsTraceInfo.buyerView traces: only steps already in the past; Business 404 before."""
        if not order.parcels:
            raise Business("404", "无法找到相对应的物流单跟踪信息")
        return [{"logisticsId": p.logistics_id, "orderId": order.order_id, "logisticsBillNo": p.bill_no,
                 "logisticsSteps": [{"acceptTime": dash_time(p.sent_at + offset),
                                     "remark": remark.format(carrier=p.carrier[0])}
                                    for offset, remark, _ in STEPS if p.picked_up and p.sent_at + offset <= now]}
                for p in order.parcels]


def _unit(seed: int, bill_no: str, purpose: str) -> float:
    """A uniform draw in [0, 1) fixed by (seed, tracking number, purpose): the same whatever the call order."""
    digest = hashlib.blake2b(f"1688-parcels|{seed}|{purpose}|{bill_no}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64

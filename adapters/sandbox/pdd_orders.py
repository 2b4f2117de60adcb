"""The order side of the Pinduoduo simulator: incremental lists, order info, refunds, decryption, shipping.

Not thread-safe by itself: :class:`adapters.sandbox.pdd_sim.PddSimulator` serialises calls. Parameters
arrive as the strings they travel as (objects and lists JSON-encoded). Facts from
reference/storefronts.md §2.4–2.6; refusals from :mod:`adapters.sandbox.pdd_errors`.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from syncd.adapters.pdd.mapping import line_ids
from syncd.adapters.sandbox.pdd_errors import business, param
from syncd.adapters.sandbox.pdd_seed import COMPANIES, decrypt_table, epoch_of, text_time

TRACKING_RE = re.compile(r"^[A-Z0-9]{8,20}$")
MAX_SPAN = 30 * 60  # both incremental lists: end - start ≤ 30 minutes
MAX_PAGE_SIZE = 100
MAX_DECRYPT = 100
MAX_STATUS_SNS = 50
LOOKBACK = 90 * 86400
SF_ID = 44  # a number starting with SF is SF Express's
_COMPANY = {c["id"]: c for c in COMPANIES}
_RECEIVER_CIPHERS = ("receiver_name", "receiver_phone", "receiver_address", "address")
REFUND_KINDS = {"requested": (2, 2), "refunded": (10, 4), "closed": (11, 1)}  # → (after_sales_status, refund_status)


def int_param(p: dict[str, str], name: str, default: int | None = None, *, allowed: Iterable[int] = ()) -> int:
    """An integer parameter (sent as a string); missing and without default, or not an integer: 10000."""
    raw = p.get(name)
    if raw is None or raw == "":
        if default is None:
            raise param(f"{name}不能为空")
        return default
    if not raw.lstrip("-").isdigit():
        raise param(f"{name}必须为整数")
    value = int(raw)
    allowed = set(allowed)
    if allowed and value not in allowed:
        raise param(f"{name}取值不合法")
    return value


def bool_param(p: dict[str, str], name: str, default: bool) -> bool:
    """A boolean parameter: exactly ``true`` or ``false`` (PDD signs them lower case)."""
    raw = p.get(name)
    if raw is None or raw == "":
        return default
    if raw not in ("true", "false"):
        raise param(f"{name}必须为true或false")
    return raw == "true"


def json_list(p: dict[str, str], name: str) -> list[Any]:
    """A required parameter holding a JSON array of objects."""
    raw = p.get(name)
    if not raw:
        raise param(f"{name}不能为空")
    try:
        value = json.loads(raw)
    except ValueError:
        raise param(f"{name}不是合法的JSON") from None
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise param(f"{name}必须为对象数组")
    return value


def _window(p: dict[str, str], now: float) -> tuple[int, int]:
    start, end = int_param(p, "start_updated_at"), int_param(p, "end_updated_at")
    if end < start:
        raise param("end_updated_at不能小于start_updated_at")
    if end - start > MAX_SPAN:
        raise param("开始时间与结束时间间隔不能超过30分钟")
    if start < now - LOOKBACK:
        raise param("只能查询三个月内的数据")
    return start, end


def _page(p: dict[str, str]) -> tuple[int, int]:
    page = int_param(p, "page", 1)
    size = int_param(p, "page_size", MAX_PAGE_SIZE)
    if page < 1:
        raise param("page从1开始")
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise param("page_size最大为100")
    return page, size


class PddOrderBook:
    """Orders of one mall, its after-sales, and everything shipped."""

    def __init__(self, orders: Iterable[dict[str, Any]]) -> None:
        self.orders: dict[str, dict[str, Any]] = {}
        self.updated: dict[str, int] = {}  # order_sn → updated_at as Unix seconds
        self.decrypt_table: dict[tuple[str, str], tuple[str, int]] = {}
        self.refunds: dict[int, dict[str, Any]] = {}
        self.refund_updated: dict[int, int] = {}
        self.shipments: dict[str, list[dict[str, Any]]] = {}
        self.ship_calls: Counter[str] = Counter()
        self._tracking_owner: dict[str, str] = {}
        self._refund_serial = 0
        self.add(orders)

    # ---- setup and changes ----------------------------------------------------------------------

    def add(self, orders: Iterable[dict[str, Any]]) -> tuple[list[str], list[str]]:
        """Add PDD-shaped orders; returns (added, skipped because already present)."""
        added, skipped = [], []
        for order in orders:
            sn = str(order["order_sn"])
            if sn in self.orders:
                skipped.append(sn)
                continue
            self.orders[sn] = order
            self.updated[sn] = epoch_of(order["updated_at"])
            self.decrypt_table.update(decrypt_table([order]))
            status = order.get("after_sales_status") or 0
            if status:
                self._refund_record(order, order["item_list"][0], status, self.updated[sn])
            added.append(sn)
        return added, skipped

    def touch(self, order_sn: str, ts: float) -> None:
        """Set the order's update time (Unix seconds)."""
        self.updated[order_sn] = int(ts)
        self.orders[order_sn]["updated_at"] = text_time(ts)

    def set_refund(self, order_sn: str, line_id: str | None, kind: str, now: float) -> dict[str, Any]:
        """Open, settle or close an after-sale on one line (the first when None); returns its record."""
        order = self.orders[order_sn]
        ids = line_ids(order["item_list"])
        index = 0 if line_id is None else ids.index(line_id)
        status, refund_status = REFUND_KINDS[kind]
        record = self._refund_record(order, order["item_list"][index], status, int(now))
        order.update(after_sales_status=status, refund_status=refund_status)
        self.touch(order_sn, now)
        return record

    def _refund_record(self, order: dict[str, Any], item: dict[str, Any], status: int, ts: int) -> dict[str, Any]:
        sku = str(item["sku_id"])
        record = next((r for r in self.refunds.values() if r["order_sn"] == order["order_sn"] and r["sku_id"] == sku),
                      None)
        if record is None:
            self._refund_serial += 1
            amount = f"{item['goods_price'] * item['goods_count']:.2f}"
            record = {"id": 7_000_000_000 + self._refund_serial, "order_sn": order["order_sn"], "sku_id": sku,
                      "goods_id": item["goods_id"], "goods_name": item["goods_name"],
                      "goods_number": str(item["goods_count"]), "goods_price": f"{item['goods_price']:.2f}",
                      "outer_id": item["outer_id"], "outer_goods_id": item.get("outer_goods_id", ""),
                      "after_sales_type": 2 if order["order_status"] == 1 else 3, "refund_amount": amount,
                      "order_amount": f"{order['pay_amount']:.2f}", "discount_amount": "0.00",
                      "created_time": text_time(ts), "confirm_time": order.get("confirm_time", ""),
                      "after_sale_reason": "不想要了", "tracking_number": "", "speed_refund_flag": 0,
                      "speed_refund_status": "", "good_image": item.get("goods_img", "")}
            self.refunds[record["id"]] = record
        record.update(after_sales_status=status, updated_time=text_time(ts))
        self.refund_updated[record["id"]] = ts
        return record

    def view(self, order: dict[str, Any]) -> dict[str, Any]:
        """The order as the platform shows it: receiver ciphertexts only while 待发货 and not under review."""
        out = {k: v for k, v in order.items() if not k.startswith("_")}
        if order["order_status"] != 1 or order["risk_control_status"] == 1:
            out.update({k: "" for k in _RECEIVER_CIPHERS})
        return out

    # ---- lists ------------------------------------------------------------------------------------

    def increment(self, p: dict[str, str], now: float) -> dict[str, Any]:
        """``pdd.order.number.list.increment.get``: full orders, oldest update first."""
        start, end = _window(p, now)
        status = int_param(p, "order_status", allowed=(1, 2, 3, 5))
        refund = int_param(p, "refund_status", allowed=(1, 2, 3, 4, 5))
        lucky = int_param(p, "is_lucky_flag", allowed=(0, 1, 2))
        trade = int_param(p, "trade_type", -1, allowed=(-1, 0, 1))
        page, size = _page(p)
        use_has_next = bool_param(p, "use_has_next", False)
        hits = [o for sn, o in self.orders.items()
                if start <= self.updated[sn] <= end and status in (5, o["order_status"])
                and refund in (5, o["refund_status"]) and lucky in (0, o["is_lucky_flag"])
                and trade in (-1, o["trade_type"])]
        hits.sort(key=lambda o: (self.updated[o["order_sn"]], o["order_sn"]))
        chunk = [self.view(o) for o in hits[(page - 1) * size:page * size]]
        if use_has_next:
            return {"order_sn_list": chunk, "has_next": page * size < len(hits)}
        return {"order_sn_list": chunk, "total_count": len(hits)}

    def information(self, p: dict[str, str]) -> dict[str, Any]:
        """``pdd.order.information.get``."""
        order = self._order(p)
        return {"order_info": self.view(order)}

    def status(self, p: dict[str, str]) -> dict[str, Any]:
        """``pdd.order.status.get`` (at most 50 order_sns, comma separated)."""
        sns = [s.strip() for s in (p.get("order_sns") or "").split(",") if s.strip()]
        if not sns:
            raise param("order_sns不能为空")
        if len(sns) > MAX_STATUS_SNS:
            raise param("order_sns最多50个")
        return {"order_status_list": [
            {"orderSn": sn, "order_status": self.orders[sn]["order_status"] if sn in self.orders else 0,
             "refund_status": self.orders[sn]["refund_status"] if sn in self.orders else 0} for sn in sns]}

    def refund_list(self, p: dict[str, str], now: float) -> dict[str, Any]:
        """``pdd.refund.list.increment.get``: after-sales updated in the window, oldest first."""
        start, end = _window(p, now)
        status = int_param(p, "after_sales_status")  # 1 = every status (the simulator's reading)
        kind = int_param(p, "after_sales_type", allowed=(1, 2, 3, 4, 5))
        page, size = _page(p)
        hits = [r for rid, r in self.refunds.items()
                if start <= self.refund_updated[rid] <= end and status in (1, r["after_sales_status"])
                and kind in (1, r["after_sales_type"])]
        hits.sort(key=lambda r: (self.refund_updated[r["id"]], r["id"]))
        return {"refund_list": hits[(page - 1) * size:page * size], "total_count": len(hits)}

    # ---- decryption -------------------------------------------------------------------------------

    def decrypt(self, p: dict[str, str]) -> dict[str, Any]:
        """``pdd.open.decrypt.batch``: at most 100 texts; a failed one carries its own error_code."""
        items = json_list(p, "data_list")
        if len(items) > MAX_DECRYPT:
            raise param("data_list最多100个")
        out = []
        for entry in items:
            tag, text = str(entry.get("data_tag", "")), str(entry.get("encrypted_data", ""))
            answer: dict[str, Any] = {"data_tag": tag, "encrypted_data": text, "virtual_number_type": 0,
                                      "virtual_identify_number": ""}
            found = self.decrypt_table.get((tag, text))
            if found is None:
                answer.update(decrypted_data="", data_type=0, error_code=30001,
                              error_msg="解密失败：密文不存在或不属于该订单")
            else:
                plain, data_type = found
                answer.update(decrypted_data=plain, data_type=data_type, error_code=0, error_msg="")
                extension = self.orders.get(tag, {}).get("_virtual_extension")
                if data_type == 6 and extension:
                    answer.update(virtual_number_type=1, virtual_identify_number=extension)
            out.append(answer)
        return {"data_decrypt_list": out}

    # ---- shipping ---------------------------------------------------------------------------------

    def _order(self, p: dict[str, str]) -> dict[str, Any]:
        sn = p.get("order_sn")
        if not sn:
            raise param("order_sn不能为空")
        order = self.orders.get(sn)
        if order is None:
            raise business("订单不存在")
        return order

    def _check_parcel(self, logistics_id: int, tracking: str, order_sn: str) -> dict[str, Any]:
        company = _COMPANY.get(logistics_id)
        if company is None or not company["available"]:
            raise business("快递公司不存在或不可用")
        if not TRACKING_RE.match(tracking):
            raise business("运单号格式错误")
        if tracking.startswith("SF") and logistics_id != SF_ID:
            raise business("运单号与快递公司不匹配")
        owner = self._tracking_owner.get(tracking)
        if owner is not None and owner != order_sn:
            raise business("运单号已被其他订单使用")
        return company

    @staticmethod
    def _check_ready(order: dict[str, Any]) -> None:
        if order["order_status"] in (2, 3):
            raise business("订单已发货，请勿重复发货")
        if order["confirm_status"] == 2 or order["group_status"] == 2 or order["refund_status"] == 4:
            raise business("订单已取消或已退款，不能发货")
        if order["refund_status"] in (2, 3):
            raise business("订单售后处理中，不能发货")
        if order["confirm_status"] == 0 or order["group_status"] == 0:
            raise business("订单未成团，不能发货")
        if order["risk_control_status"] == 1:
            raise business("订单风控审核中，暂不能发货")
        if any(t.get("name") == "ship_hold" and t.get("value") for t in order.get("order_tag_list") or []):
            raise business("订单被平台暂停发货")
        if order.get("stock_out_handle_status") == 0:
            raise business("订单缺货待处理，不能发货")

    def _record(self, order: dict[str, Any], company: dict[str, Any], tracking: str, kind: str, now: float) -> None:
        self._tracking_owner[tracking] = order["order_sn"]
        self.shipments.setdefault(order["order_sn"], []).append(
            {"tracking_no": tracking, "logistics_id": company["id"], "company": company["logistics_company"],
             "kind": kind, "effective": True, "at": int(now)})
        self.touch(order["order_sn"], now)

    def ship(self, p: dict[str, str], now: float) -> dict[str, Any]:
        """``pdd.logistics.online.send``: the order's shipment (``redelivery_type`` 2: change it)."""
        order = self._order(p)
        logistics_id = int_param(p, "logistics_id")
        tracking = p.get("tracking_number") or ""
        if not tracking:
            raise param("tracking_number不能为空")
        redelivery = int_param(p, "redelivery_type", 1, allowed=(1, 2))
        company = self._check_parcel(logistics_id, tracking, order["order_sn"])
        if redelivery == 2:
            if order["order_status"] != 2:
                raise business("只有已发货待签收的订单可以修改物流")
            for shipment in self.shipments.get(order["order_sn"], []):
                if shipment["kind"] == "main":
                    shipment["effective"] = False
        else:
            self._check_ready(order)
        order.update(order_status=2, logistics_id=logistics_id, tracking_number=tracking,
                     shipping_time=text_time(now))
        self._record(order, company, tracking, "main", now)
        self.ship_calls[order["order_sn"]] += 1
        return {"is_success": True}

    def ship_extra(self, p: dict[str, str], now: float) -> dict[str, Any]:
        """``pdd.order.upload.extra.logistics``: more parcels of an order already shipped."""
        order = self._order(p)
        tracks = json_list(p, "extra_track_list")
        if order["order_status"] not in (2, 3):
            raise business("订单未发货，不能上传额外运单")
        on_order = {order["tracking_number"], *(e["tracking_number"] for e in order["extra_delivery_list"])}
        parsed = []
        for track in tracks:
            ident, number = track.get("shipping_id"), track.get("tracking_number")
            if isinstance(ident, bool) or not isinstance(ident, int) or not isinstance(number, str) or not number:
                raise param("extra_track_list需要shipping_id和tracking_number")
            if number in on_order:
                raise business("运单号重复")
            on_order.add(number)
            parsed.append((self._check_parcel(ident, number, order["order_sn"]), number))
        for company, number in parsed:
            order["extra_delivery_list"].append({"logistics_id": company["id"], "tracking_number": number})
            self._record(order, company, number, "extra", now)
        self.ship_calls[order["order_sn"]] += 1
        return {"success": True}

    def tracking_numbers(self, order_sn: str) -> list[str]:
        """Effective tracking numbers of the order, main first then extras, each once."""
        return list(dict.fromkeys(s["tracking_no"] for s in self.shipments.get(order_sn, []) if s["effective"]))

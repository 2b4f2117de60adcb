"""After-sales of the Douyin simulator and ``afterSale.List`` (reference/storefronts.md §1.4).

One after-sale per sku order (商品单) at a time, kept in step with that line's ``after_sale_info``: every
change goes through :meth:`AfterSaleBook.change`, which stamps the after-sale's update time and the
order's ``update_time`` as the platform does. A new application after a closed one gets a new id.

``afterSale.List`` here: ``update_start_time`` / ``update_end_time`` filter the update time and
``start_time`` / ``end_time`` the apply time (both ends inclusive, like ``order.searchList``);
``order_id``, ``aftersale_id``, ``aftersale_type`` and ``standard_aftersale_status`` filter too;
``order_by`` takes ``["<apply_time|update_time> <asc|desc>", ...]`` (default ``apply_time asc``:
the real default is not documented). Answers carry ``items``, ``total``, ``has_more``, ``page``, ``size``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from syncd.adapters.sandbox.douyin_errors import MAX_DEPTH, ApiError, int_param, invalid
from syncd.adapters.sandbox.douyin_index import TimeIndex

OPEN = frozenset({6, 7, 8, 11})  # under way
CLOSED = frozenset({27, 28, 29, 51})  # refused / failed / closed
_TYPE_TEXT = {0: "退货退款", 1: "已发货仅退款", 2: "未发货仅退款", 3: "换货", 4: "系统取消", 5: "用户取消",
              6: "价保", 7: "补寄", 8: "维修"}
_STATUS_TEXT = {6: "待商家同意", 7: "待买家退货", 8: "待商家发货", 11: "待商家二次同意", 12: "售后成功",
                13: "换货待买家收货", 14: "换货成功", 27: "商家一次拒绝", 28: "售后失败", 29: "商家二次拒绝",
                51: "取消成功"}
_SORTABLE = ("apply_time", "update_time")


class AfterSaleBook:
    """After-sale id, apply time and update time of every sku order that has (had) an after-sale.

    ``stamped`` is told of every order whose ``update_time`` :meth:`change` set (the order book's index).
    """

    def __init__(self, stamped: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.ids: dict[str, str] = {}  # sku order id → current after-sale id
        self.applied_at: dict[str, int] = {}
        self.updated_at: dict[str, int] = {}
        self.order_of: dict[str, str] = {}  # sku order id → its order's id
        self.by_update = TimeIndex()  # sku order ids by after-sale update time
        self._stamped = stamped
        self._serial = 0

    def seeded(self, order: dict[str, Any]) -> None:
        """Register the after-sales an added order already carries (applied at its update time)."""
        for line in order["sku_order_list"]:
            if line["after_sale_info"].get("after_sale_status"):
                self._open(order, str(line["order_id"]), int(order["update_time"]))

    def _open(self, order: dict[str, Any], sku_order_id: str, now: int) -> None:
        self._serial += 1
        self.ids[sku_order_id] = f"73{self._serial:017d}"
        self.applied_at[sku_order_id] = now
        self._updated(order, sku_order_id, now)

    def _updated(self, order: dict[str, Any], sku_order_id: str, now: int) -> None:
        self.updated_at[sku_order_id] = now
        self.order_of[sku_order_id] = str(order["order_id"])
        self.by_update.put(sku_order_id, now)

    def change(self, order: dict[str, Any], line: dict[str, Any], now: int, **info: int) -> None:
        """Set fields of the line's ``after_sale_info``; stamps the after-sale and the order with ``now``."""
        sid = str(line["order_id"])
        before = int(line["after_sale_info"].get("after_sale_status") or 0)
        line["after_sale_info"] = {**line["after_sale_info"], **info}
        after = int(line["after_sale_info"].get("after_sale_status") or 0)
        if sid not in self.ids or (after and (before == 0 or before in CLOSED) and after not in CLOSED):
            self._open(order, sid, now)  # a new application
        self._updated(order, sid, now)
        order["update_time"] = now
        if self._stamped is not None:
            self._stamped(order)

    def items(self, orders: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Every after-sale as an ``afterSale.List`` item (unsorted)."""
        out = []
        for order in orders:
            for line in order["sku_order_list"]:
                sid = str(line["order_id"])
                info = line["after_sale_info"]
                if not info.get("after_sale_status") or sid not in self.ids:
                    continue
                out.append(self._item(order, line, info))
        return out

    def items_updated(self, orders: Mapping[str, dict[str, Any]], start: int | None,
                      end: int | None) -> list[dict[str, Any]]:
        """The after-sales updated in ``[start, end]`` (an open end when None) as items (unsorted).

        Reads only the index's slice of the window, not every order: what :meth:`items` gives, filtered.
        """
        if self.by_update.odd:
            return [i for i in self.items(orders.values())
                    if (start is None or i["aftersale_info"]["update_time"] >= start)
                    and (end is None or i["aftersale_info"]["update_time"] <= end)]
        out = []
        for sid in self.by_update.keys(self.by_update.span(start, end)):
            order = orders.get(self.order_of[sid])
            if order is None:
                continue
            for line in order["sku_order_list"]:
                info = line["after_sale_info"]
                if str(line["order_id"]) == sid and info.get("after_sale_status"):
                    out.append(self._item(order, line, info))
        return out

    def _item(self, order: dict[str, Any], line: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
        sid = str(line["order_id"])
        kind, status = int(info.get("after_sale_type") or 0), int(info["after_sale_status"])
        return {
            "aftersale_info": {
                "aftersale_id": self.ids[sid], "aftersale_order_type": 1, "aftersale_type": kind,
                "aftersale_status": status, "refund_status": int(info.get("refund_status") or 0),
                "related_id": sid, "apply_time": self.applied_at[sid], "update_time": self.updated_at[sid],
                "create_time": self.applied_at[sid], "refund_amount": line["pay_amount"],
                "refund_post_amount": 0, "aftersale_num": line["item_num"], "got_pkg": 0, "order_logistics": [],
            },
            "order_info": {"shop_order_id": order["order_id"], "order_flag": 0, "related_order_info": [
                {"sku_order_id": sid, "order_status": line.get("order_status", order["order_status"]),
                 "pay_amount": line["pay_amount"], "item_num": line["item_num"],
                 "product_name": line["product_name"], "shop_sku_code": line.get("code", ""),
                 "aftersale_pay_amount": line["pay_amount"], "aftersale_item_num": line["item_num"]}]},
            "text_part": {"aftersale_status_text": _STATUS_TEXT.get(status, ""),
                          "aftersale_type_text": _TYPE_TEXT.get(kind, "")},
            "seller_logs": [],
        }


def aftersale_list(book: AfterSaleBook, orders: Mapping[str, dict[str, Any]], p: dict[str, Any]) -> dict[str, Any]:
    """``afterSale.List``: the after-sales matching the filters, one page (``orders`` by order id)."""
    page = int_param(p, "page", 0)
    size = int_param(p, "size", 10)
    if not 1 <= size <= 100:
        raise ApiError(40004, "isv.parameter-invalid:size", "size超过最大值100")
    if (page + 1) * size > MAX_DEPTH:
        raise ApiError(40004, "isv.parameter-invalid:page", "查询深度超过5万条，请缩小查询时间范围")
    ranges = []
    for field, start_key, end_key in (("update_time", "update_start_time", "update_end_time"),
                                      ("apply_time", "start_time", "end_time")):
        start = int_param(p, start_key, 0) if p.get(start_key) is not None else None
        end = int_param(p, end_key, 0) if p.get(end_key) is not None else None
        if start is not None and end is not None and end < start:
            raise invalid(f"{end_key}小于{start_key}")
        ranges.append((field, start, end))
    only_order = str(p["order_id"]) if p.get("order_id") else None
    only_id = str(p["aftersale_id"]) if p.get("aftersale_id") else None
    kind = int_param(p, "aftersale_type", 0) if p.get("aftersale_type") is not None else None
    statuses = _statuses(p.get("standard_aftersale_status"))
    items = []
    for item in book.items_updated(orders, ranges[0][1], ranges[0][2]):
        info = item["aftersale_info"]
        if any((s is not None and info[f] < s) or (e is not None and info[f] > e) for f, s, e in ranges):
            continue
        if only_order and item["order_info"]["shop_order_id"] != only_order:
            continue
        if (only_id and info["aftersale_id"] != only_id) or (kind is not None and info["aftersale_type"] != kind):
            continue
        if statuses is not None and info["aftersale_status"] not in statuses:
            continue
        items.append(item)
    items.sort(key=lambda i: str(i["aftersale_info"]["aftersale_id"]))  # ties: by id
    for field, descending in reversed(_order_by(p.get("order_by"))):  # stable sorts, least significant first
        items.sort(key=_sort_key(field), reverse=descending)
    chunk = items[page * size:(page + 1) * size]
    return {"items": chunk, "total": len(items), "has_more": (page + 1) * size < len(items),
            "page": page, "size": size}


def _sort_key(field: str) -> Callable[[dict[str, Any]], int]:
    def key(item: dict[str, Any]) -> int:
        return int(item["aftersale_info"][field])
    return key


def _statuses(value: Any) -> set[int] | None:
    if value is None or value == []:
        return None
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(str(v).strip().isdigit() for v in value):
        raise invalid("standard_aftersale_status")
    return {int(str(v).strip()) for v in value}


def _order_by(value: Any) -> list[tuple[str, bool]]:
    if value is None or value == []:
        return [("apply_time", False)]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid("order_by")
    out = []
    for text in value:
        field, _, direction = text.strip().partition(" ")
        if field not in _SORTABLE or direction.strip() not in ("asc", "desc"):
            raise invalid(f"order_by({text})")
        out.append((field, direction.strip() == "desc"))
    return out

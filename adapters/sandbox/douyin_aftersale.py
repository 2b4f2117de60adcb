"""``afterSale.List`` of the Douyin simulator (a subset; reference/storefronts.md §1.4 "Refund / after-sale list")."""

from __future__ import annotations

from typing import Any

from adapters.sandbox.douyin_errors import invalid
from adapters.sandbox.douyin_orders import MAX_DEPTH, OrderBook, int_param


def aftersale_list(book: OrderBook, p: dict[str, Any], now: float) -> dict[str, Any]:
    """``afterSale.List`` (a subset): after-sale records of the lines, filtered by apply time / order."""
    page = int_param(p, "page", 0)
    size = int_param(p, "size", 10)
    if not 1 <= size <= 100:
        raise invalid("size")
    if page * size > MAX_DEPTH:
        raise invalid("page")
    start = p.get("update_start_time", p.get("start_time"))
    end = p.get("update_end_time", p.get("end_time"))
    only = str(p["order_id"]) if p.get("order_id") else None
    items = []
    for order in book.orders.values():
        if only and order["order_id"] != only:
            continue
        for line in order["sku_order_list"]:
            info = line["after_sale_info"]
            applied = book.applied_at.get(str(line["order_id"]))
            if not info.get("after_sale_status") or applied is None:
                continue
            if (start is not None and applied < int(start)) or (end is not None and applied > int(end)):
                continue
            items.append({
                "aftersale_info": {"aftersale_id": "7" + str(line["order_id"])[1:],
                                   "aftersale_type": info["after_sale_type"],
                                   "aftersale_status": info["after_sale_status"],
                                   "refund_status": info.get("refund_status", 0),
                                   "related_id": str(line["order_id"]), "apply_time": applied,
                                   "update_time": applied, "refund_amount": line["pay_amount"]},
                "order_info": {"shop_order_id": order["order_id"], "related_order_info": [
                    {"sku_order_id": str(line["order_id"]), "product_name": line["product_name"],
                     "item_num": line["item_num"]}]},
            })
    items.sort(key=lambda i: (i["aftersale_info"]["apply_time"], i["aftersale_info"]["aftersale_id"]))
    chunk = items[page * size:(page + 1) * size]
    return {"items": chunk, "total": len(items), "has_more": (page + 1) * size < len(items),
            "page": page, "size": size}

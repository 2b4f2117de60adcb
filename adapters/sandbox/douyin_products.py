"""The Douyin simulator's product and stock APIs (reference/stock-and-price.md §1), over a :class:`ProductBook`.

- ``product.listV2``: ``page`` from 1 ("页数从1开始"), ``size`` 1–100, ``page*size`` ≤ 10 000; ``status``,
  ``update_start_time`` / ``update_end_time`` (exclusive bounds) filters. Answers ``{data, total, page, size}``.
- ``sku.list``: the product's SKUs (``id``, ``code``, ``price`` fen, ``stock_num``, ``prehold_stock_num``,
  ``prom_stock_num``); a foreign product answers ``isv.parameter-invalid:4`` "该商品不属于你".
- ``sku.syncStockBatchMultiProducts``: ≤ 50 items, ``incremental`` required, an ``idempotent_id`` required when
  incremental (a repeated one answers -20002 for every item); answered per SKU in ``results[]``: -20008 below
  the activity or held stock (the simulator names the floor in the message and uses this code for held stock
  too [chosen]), -40001 / -40002 / -40003 under review / banned / deleted or unknown, -20001 short on decrement.
- ``sku.syncStock``: one SKU, the same rules as call errors: ``isv.parameter-invalid:5`` unknown SKU,
  ``isv.business-failed:2010041`` / ``2010043`` under review / banned, ``isv.business-failed:-20008`` floor.

``stock_qps`` limits the two write APIs together with Douyin's own busy answer ``isv.business-failed:2010401``
(the gateway's ``api_qps`` answers 60000 ``isv.traffic-limited`` instead).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from syncd.adapters.sandbox.douyin_errors import business, int_param, invalid, missing
from syncd.adapters.sandbox.products import ProductBook, Refusal, SimProduct, SimSku

LIST_DEPTH = 10_000
MULTI_LIMIT = 50
_STATUS = {"online": 0, "offline": 1}
_MULTI_STATE = {"under_review": (-40001, "商品审核中"), "banned": (-40002, "商品已封禁"),
                "deleted": (-40003, "商品已删除")}
_ONE_STATE = {"under_review": ("2010041", "商品审核中，不允许修改"), "banned": ("2010043", "商品已被封禁"),
              "deleted": ("2010042", "商品已删除")}


class DouyinProducts:
    """The Douyin product and stock APIs of one simulated shop (call under the simulator's lock)."""

    def __init__(self, book: ProductBook, stock_qps: float | None = None) -> None:
        self.book = book
        self.stock_qps = stock_qps
        self._bucket = (float(stock_qps or 0), 0.0)
        self._idempotent: set[str] = set()

    def methods(self) -> dict[str, Callable[[dict[str, Any], float], Any]]:
        """API name → handler, for the simulator's method table."""
        return {"product.listV2": self.list_v2, "sku.list": self.sku_list,
                "sku.syncStockBatchMultiProducts": self.sync_multi, "sku.syncStock": self.sync_one}

    # ---- reads -------------------------------------------------------------------------------------

    def list_v2(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        page, size = int_param(p, "page", 1), int_param(p, "size", 10)
        if page < 1:
            raise invalid("页数从1开始", "page")
        if not 1 <= size <= 100:
            raise invalid("size须在1到100之间", "size")
        if page * size > LIST_DEPTH:
            raise invalid("page*size不能超过10000，请缩小查询条件", "page")
        status = p.get("status")
        lo = int_param(p, "update_start_time", 0) if "update_start_time" in p else None
        hi = int_param(p, "update_end_time", 0) if "update_end_time" in p else None
        found = [x for x in self.book.ordered(lo, hi, exclusive=True)
                 if status in (None, "") or _status(x) == int(status)]
        rows = [_product(x) for x in found[(page - 1) * size:page * size]]
        return {"data": rows, "total": len(found), "page": page, "size": size}

    def sku_list(self, p: dict[str, Any], now: float) -> list[dict[str, Any]]:
        if p.get("product_id") in (None, ""):
            raise missing("product_id", "3")
        product = self.book.product(str(p["product_id"]))
        if product is None:
            raise invalid("该商品不属于你", "4")
        return [_sku(product, s) for s in product.skus.values()]

    # ---- writes ------------------------------------------------------------------------------------

    def sync_multi(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        self._throttle(now)
        self.book.write_calls["sku.syncStockBatchMultiProducts"] += 1
        items = p.get("items")
        if not isinstance(items, list) or not items:
            raise missing("items")
        if len(items) > MULTI_LIMIT:
            raise invalid(f"items不能超过{MULTI_LIMIT}个", "items")
        if "incremental" not in p:
            raise missing("incremental")
        incremental = p["incremental"] is True
        token = str(p.get("idempotent_id") or "")
        if incremental and not token:
            raise missing("idempotent_id")
        repeated = incremental and token in self._idempotent
        if incremental:
            self._idempotent.add(token)
        parsed: list[tuple[int, str, SimProduct | None, SimSku | None]] = []
        for item in items:  # every item checked before any is written: a bad parameter changes nothing
            if not isinstance(item, dict):
                raise invalid("items")
            qty = item.get("stock_num")
            if isinstance(qty, bool) or not isinstance(qty, int):
                raise invalid("stock_num")
            sku_id = str(item.get("sku_id") or "")
            parsed.append((qty, sku_id, *self.book.find(str(item.get("product_id") or ""), sku_id,
                                                        item.get("sku_code"))))
        results = []
        for qty, sku_id, product, sku in parsed:
            code, message = (-20002, "Token已被使用") if repeated else (0, "")
            if not repeated:
                refusal = self.book.check(product, sku, qty, incremental=incremental)
                if refusal is None and product is not None and sku is not None:
                    self.book.apply(product, sku, qty, now, incremental=incremental)
                else:
                    code, message = _multi_code(refusal)
            results.append({"sku_id": int(sku.sku_id) if sku else sku_id, "warehouse_id": "",
                            "stock_num": sku.stock if sku else 0, "change_num": qty if code == 0 else 0,
                            "status_code": code, "status_message": message})
        return {"results": results}

    def sync_one(self, p: dict[str, Any], now: float) -> None:
        self._throttle(now)
        self.book.write_calls["sku.syncStock"] += 1
        qty = p.get("stock_num")
        if qty is None:
            raise missing("stock_num")
        if isinstance(qty, bool) or not isinstance(qty, int):
            raise invalid("stock_num")
        incremental = p.get("incremental") is True
        if incremental and not p.get("idempotent_id"):
            raise missing("idempotent_id")
        product, sku = self.book.find(str(p.get("product_id") or ""), str(p.get("sku_id") or ""), p.get("code"))
        refusal = self.book.write(product.product_id if product else None, sku.sku_id if sku else None, qty, now,
                                  incremental=incremental)
        if refusal is None:
            return None
        if refusal.kind in ("no_product", "no_sku"):
            raise invalid("sku_id找不到对应的sku", "5")
        if refusal.kind == "state":
            raise business(*_ONE_STATE[refusal.state])
        if refusal.kind == "floor":
            raise business("-20008", f"当前商品的部分SKU库存不得低于活动/达人专属价设置的库存数 {refusal.floor}")
        if refusal.kind == "short":
            raise business("2010012", "更新库存数失败: 库存不足")
        raise invalid("全量模式下stock_num不能为负数", "stock_num")

    def _throttle(self, now: float) -> None:
        rate = self.stock_qps
        if not rate:
            return
        tokens, last = self._bucket
        tokens = min(rate, tokens + max(0.0, now - last) * rate) if last else rate
        if tokens < 1:
            self._bucket = (tokens, now)
            raise business("2010401", "系统繁忙，请稍后再试")
        self._bucket = (tokens - 1, now)


def _status(p: SimProduct) -> int:
    return _STATUS["online"] if p.on_sale else _STATUS["offline"]


def _product(p: SimProduct) -> dict[str, Any]:
    return {"product_id": int(p.product_id), "name": p.title, "status": _status(p), "check_status": 3,
            "outer_product_id": "", "update_time": int(p.modified), "discount_price": min(
                (s.price_fen for s in p.skus.values()), default=0)}


def _sku(p: SimProduct, s: SimSku) -> dict[str, Any]:
    spec = {f"spec_detail_name{i + 1}": v for i, (_, v) in enumerate(s.spec[:3])}
    return {"id": int(s.sku_id), "product_id": int(p.product_id), "code": s.code, "out_sku_id": 0,
            "price": s.price_fen, "sku_type": 0, "stock_num": s.stock, "prehold_stock_num": s.reserved,
            "prom_stock_num": s.locked, "normal_stock_num": s.stock, "channel_stock_num": 0, **spec}


def _multi_code(refusal: Refusal | None) -> tuple[int, str]:
    if refusal is None or refusal.kind in ("no_product", "no_sku"):
        return -40003, "商品已删除或不存在"
    if refusal.kind == "state":
        return _MULTI_STATE[refusal.state]
    if refusal.kind == "floor":
        return -20008, f"当前商品的部分SKU库存不得低于活动/达人专属价设置的库存数 {refusal.floor}"
    if refusal.kind == "short":
        return -20001, "库存不足"
    return -20001, "全量模式下stock_num不能为负数"

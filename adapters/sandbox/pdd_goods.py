"""The Pinduoduo simulator's goods and stock APIs (reference/stock-and-price.md §2), over a :class:`ProductBook`.

- ``pdd.goods.list.get``: ``page`` from 1, ``page_size`` ≤ 100, ``is_onsale`` / ``outer_id`` filters; goods with
  ``sku_list[]`` (``outer_id``, ``sku_quantity``, ``reserve_quantity``, ``is_sku_onsale``), no price.
- ``pdd.goods.detail.get``: ``sku_list[]`` with ``price`` (单买价) and ``multi_price`` (团购价) in **fen**.
- ``pdd.goods.information.get``: ``goods_info.sku_list[]`` with ``single_price`` / ``group_price`` in **yuan**.
  The group price is the seeded storefront price; the single price is 5 yuan more.
- ``pdd.goods.quantity.update``: one SKU (``sku_id`` or ``outer_id``), ``update_type`` 1 full / 2 incremental;
  ``{is_success: true}``. Refusals are business errors (52101, codes chosen by the simulator) whose text says
  why: a resource slot / activity (资源位) or held stock (预扣库存) below which the stock may not go, naming the
  number; goods under review, banned or unknown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from syncd.adapters.sandbox.pdd_errors import business, param
from syncd.adapters.sandbox.pdd_seed import yuan
from syncd.adapters.sandbox.products import ProductBook, SimProduct, SimSku

SINGLE_EXTRA_FEN = 500
RESPONSE_KEYS = {"pdd.goods.list.get": "goods_list_get_response", "pdd.goods.detail.get": "goods_detail_get_response",
                 "pdd.goods.information.get": "goods_info_get_response",
                 "pdd.goods.quantity.update": "goods_quantity_update_response"}
_STATE_WHY = {"under_review": "商品审核中，暂不能修改库存", "banned": "商品已被平台下架处理，不能修改库存"}


class PddGoods:
    """The Pinduoduo goods APIs of one simulated mall (call under the simulator's lock)."""

    def __init__(self, book: ProductBook) -> None:
        self.book = book

    def methods(self) -> dict[str, Callable[[dict[str, str], float], dict[str, Any]]]:
        """API name → handler, for the simulator's method table."""
        return {"pdd.goods.list.get": self.goods_list, "pdd.goods.detail.get": self.detail,
                "pdd.goods.information.get": self.information, "pdd.goods.quantity.update": self.quantity_update}

    def goods_list(self, p: dict[str, str], now: float) -> dict[str, Any]:
        page, size = _number(p, "page", 1), _number(p, "page_size", 100)
        if page < 1:
            raise param("page从1开始")
        if not 1 <= size <= 100:
            raise param("page_size最大为100")
        onsale = p.get("is_onsale")
        found = self.book.ordered(on_sale=None if onsale in (None, "") else onsale == "1")
        if p.get("outer_id") and onsale in (None, ""):
            found = [g for g in found if any(s.code == p["outer_id"] for s in g.skus.values())]
        rows = [_goods(g) for g in found[(page - 1) * size:page * size]]
        return {"goods_list": rows, "total_count": len(found)}

    def detail(self, p: dict[str, str], now: float) -> dict[str, Any]:
        g = self._goods(p)
        return {"goods_id": int(g.product_id), "goods_name": g.title, "status": 1 if g.on_sale else 2,
                "is_onsale": int(g.on_sale), "market_price": max(s.price_fen for s in g.skus.values()) + 1000,
                "sku_list": [{"sku_id": int(s.sku_id), "out_sku_sn": s.code, "quantity": s.stock,
                              "reserve_quantity": s.reserved, "limit_quantity": 999, "is_onsale": int(s.on_sale),
                              "price": s.price_fen + SINGLE_EXTRA_FEN, "multi_price": s.price_fen}
                             for s in g.skus.values()]}

    def information(self, p: dict[str, str], now: float) -> dict[str, Any]:
        g = self._goods(p)
        return {"goods_info": {
            "goods_id": int(g.product_id), "goods_name": g.title, "is_onsale": int(g.on_sale),
            "goods_quantity": sum(s.stock for s in g.skus.values()),
            "sku_list": [{"sku_id": int(s.sku_id), "outer_id": s.code, "outer_goods_id": "",
                          "sku_quantity": s.stock, "group_price": yuan(s.price_fen),
                          "single_price": yuan(s.price_fen + SINGLE_EXTRA_FEN)} for s in g.skus.values()]}}

    def quantity_update(self, p: dict[str, str], now: float) -> dict[str, Any]:
        self.book.write_calls["pdd.goods.quantity.update"] += 1
        if not p.get("goods_id"):
            raise param("goods_id不能为空")
        raw = p.get("quantity") or ""
        if not raw.lstrip("-").isdigit():
            raise param("quantity不合法")
        update_type = p.get("update_type") or "1"
        if update_type not in ("1", "2"):
            raise param("update_type只能为1或2")
        if not p.get("sku_id") and not p.get("outer_id"):
            raise param("sku_id和outer_id不能同时为空")
        refusal = self.book.write(p["goods_id"], p.get("sku_id"), int(raw), now, code=p.get("outer_id"),
                                  incremental=update_type == "2")
        if refusal is None:
            return {"is_success": True}
        if refusal.kind in ("no_product", "no_sku"):
            raise business("商品或sku不存在")
        if refusal.kind == "state":
            raise business(_STATE_WHY.get(refusal.state, "商品已删除"))
        if refusal.kind == "floor" and refusal.held_by == "locked":
            raise business(f"该商品在资源位中，库存不可减少至 {refusal.floor} 以下")
        if refusal.kind == "floor":
            raise business(f"库存不能小于预扣库存 {refusal.floor}")
        if refusal.kind == "short":
            raise business("增量修改后库存不能小于0")
        raise param("全量更新时quantity不能小于0")

    def _goods(self, p: dict[str, str]) -> SimProduct:
        if not p.get("goods_id"):
            raise param("goods_id不能为空")
        g = self.book.product(p["goods_id"])
        if g is None:
            raise business("商品不存在")
        return g


def _number(p: dict[str, str], key: str, default: int) -> int:
    raw = p.get(key)
    if raw in (None, ""):
        return default
    if not raw.isdigit():
        raise param(f"{key}不合法")
    return int(raw)


def _goods(g: SimProduct) -> dict[str, Any]:
    return {"goods_id": int(g.product_id), "goods_name": g.title, "is_onsale": int(g.on_sale),
            "is_more_sku": int(len(g.skus) > 1), "goods_quantity": sum(s.stock for s in g.skus.values()),
            "goods_reserve_quantity": sum(s.reserved for s in g.skus.values()), "thumb_url": "",
            "created_at": int(g.modified), "sku_list": [_sku(g, s) for s in g.skus.values()]}


def _sku(g: SimProduct, s: SimSku) -> dict[str, Any]:
    return {"sku_id": int(s.sku_id), "outer_id": s.code, "outer_goods_id": "", "sku_quantity": s.stock,
            "reserve_quantity": s.reserved, "is_sku_onsale": int(s.on_sale),
            "spec": ",".join(v for _, v in s.spec)}

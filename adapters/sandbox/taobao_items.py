"""The Taobao simulator's item and stock APIs (reference/stock-and-price.md §3), over a :class:`ProductBook`.

- ``taobao.items.onsale.get`` / ``taobao.items.inventory.get``: items on sale / in the warehouse; ``fields``
  required, ``page_no`` from 1, ``page_size`` ≤ 200, ``start_modified`` / ``end_modified`` (inclusive); deeper than
  ``depth`` (``page_no*page_size``, 20 000 by default: the doc's smaller figure) answers
  ``isv.invalid-parameter:page_no`` [chosen]. No SKU fields. ``{total_results, items: {item: [...]}}``.
- ``taobao.items.seller.list.get``: ≤ 20 ``num_iids``; with ``sku`` in ``fields`` each item carries
  ``skus.sku[]`` (``sku_id``, ``outer_id``, ``price`` yuan text, ``quantity``, ``with_hold_quantity``); unknown ids
  give nothing and no error.
- ``taobao.skus.quantity.update``: ≤ 20 SKUs of one item (``skuid_quantities`` or ``outerid_quantities``), ``type``
  1 full / 2 incremental; all or nothing (the simulator's choice: TOP does not say): the first refusal answers for
  the call, code 15 ``isv.item-quantity-update-error`` [chosen] with a text naming the held quantity (活动锁定 /
  预扣) or ``isv.invalid-parameter:sku_id`` for an unknown SKU.
- ``taobao.item.quantity.update``: one SKU (``sku_id`` or ``outer_id``) or, without both, the item's only stock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from syncd.adapters.sandbox import taobao_seed as tseed
from syncd.adapters.sandbox.products import ProductBook, Refusal, SimProduct, SimSku
from syncd.adapters.sandbox.taobao_errors import TopError, invalid, missing

BATCH_LIMIT = 20
SELLER_LIST_LIMIT = 20
_STATE_WHY = {"under_review": "商品审核中，不能修改库存", "banned": "商品已被处罚下架，不能修改库存",
              "deleted": "商品已删除"}


class TaobaoItems:
    """The Taobao item APIs of one simulated shop (call under the simulator's lock)."""

    def __init__(self, book: ProductBook, depth: int = 20_000) -> None:
        self.book = book
        self.depth = depth

    def methods(self) -> dict[str, Callable[[dict[str, str], float], dict[str, Any]]]:
        """API name → handler, for the simulator's method table."""
        return {"taobao.items.onsale.get": lambda p, now: self._listing(p, on_sale=True),
                "taobao.items.inventory.get": lambda p, now: self._listing(p, on_sale=False),
                "taobao.items.seller.list.get": self.seller_list,
                "taobao.skus.quantity.update": self.skus_quantity_update,
                "taobao.item.quantity.update": self.item_quantity_update}

    def _listing(self, p: dict[str, str], *, on_sale: bool) -> dict[str, Any]:
        if not p.get("fields"):
            raise missing("fields")
        page, size = _number(p, "page_no", 1), _number(p, "page_size", 40)
        if page < 1:
            raise invalid("page_no", "page_no从1开始")
        if not 1 <= size <= 200:
            raise invalid("page_size", "page_size最大为200")
        if page * size > self.depth:
            raise invalid("page_no", f"page_no*page_size不能超过{self.depth}，请按修改时间分段查询")
        lo, hi = _time(p, "start_modified"), _time(p, "end_modified")
        found = sorted(self.book.ordered(lo, hi, on_sale=on_sale), key=lambda g: (g.modified, g.product_id))
        fields = set(p["fields"].split(","))
        rows = [{k: v for k, v in _item(g).items() if k in fields} for g in found[(page - 1) * size:page * size]]
        return {"total_results": len(found), "items": {"item": rows}}

    def seller_list(self, p: dict[str, str], now: float) -> dict[str, Any]:
        ids = [i.strip() for i in (p.get("num_iids") or "").split(",") if i.strip()]
        if not ids:
            raise missing("num_iids")
        if len(ids) > SELLER_LIST_LIMIT:
            raise invalid("num_iids", f"num_iids最多{SELLER_LIST_LIMIT}个")
        fields = set((p.get("fields") or "").split(","))
        out = []
        for i in ids:
            g = self.book.product(i)
            if g is None:
                continue
            row = {k: v for k, v in _item(g).items() if k in fields}
            if "sku" in fields:
                row["skus"] = {"sku": [_sku(g, s) for s in g.skus.values()]}
            out.append(row)
        return {"items": {"item": out}}

    def skus_quantity_update(self, p: dict[str, str], now: float) -> dict[str, Any]:
        self.book.write_calls["taobao.skus.quantity.update"] += 1
        if not p.get("num_iid"):
            raise missing("num_iid")
        incremental = _type(p)
        by_id = p.get("skuid_quantities") or ""
        pairs = by_id or p.get("outerid_quantities") or ""
        if not pairs:
            raise missing("skuid_quantities")
        wanted: list[tuple[str, int]] = []
        for pair in pairs.split(";"):
            key, _, count = pair.partition(":")
            if not key or not count.lstrip("-").isdigit():
                raise invalid("skuid_quantities", f"格式错误: {pair}")
            wanted.append((key, int(count)))
        if len(wanted) > BATCH_LIMIT:
            raise invalid("skuid_quantities", f"一次最多修改{BATCH_LIMIT}个sku")
        planned: list[tuple[SimProduct, SimSku, int]] = []
        for key, qty in wanted:
            g, s = self.book.find(p["num_iid"], key if by_id else None, None if by_id else key)
            refusal = self.book.check(g, s, qty, incremental=incremental)
            if refusal is not None or g is None or s is None:
                raise _refused(refusal, key)
            planned.append((g, s, qty))
        for g, s, qty in planned:
            self.book.apply(g, s, qty, now, incremental=incremental)
        item = planned[0][0]
        return {"item": {"num_iid": int(item.product_id), "modified": tseed.text(now), "skus": {"sku": [
            {"sku_id": int(s.sku_id), "quantity": s.stock, "modified": tseed.text(now)} for _, s, _ in planned]}}}

    def item_quantity_update(self, p: dict[str, str], now: float) -> dict[str, Any]:
        self.book.write_calls["taobao.item.quantity.update"] += 1
        if not p.get("num_iid"):
            raise missing("num_iid")
        raw = p.get("quantity") or ""
        if not raw.lstrip("-").isdigit():
            raise missing("quantity") if not raw else invalid("quantity")
        incremental = _type(p)
        g = self.book.product(p["num_iid"])
        sku_id, code = p.get("sku_id") or None, p.get("outer_id") or None
        if g is not None and not sku_id and not code:
            if len(g.skus) != 1:
                raise invalid("sku_id", "该商品有多个sku，请指定sku_id或outer_id")
            sku_id = next(iter(g.skus))
        g, s = self.book.find(p["num_iid"], sku_id, code)
        refusal = self.book.check(g, s, int(raw), incremental=incremental)
        if refusal is not None or g is None or s is None:
            raise _refused(refusal, sku_id or code or p["num_iid"])
        self.book.apply(g, s, int(raw), now, incremental=incremental)
        return {"item": {"num_iid": int(g.product_id), "num": sum(x.stock for x in g.skus.values()),
                         "modified": tseed.text(now),
                         "skus": {"sku": [{"sku_id": int(s.sku_id), "quantity": s.stock,
                                           "modified": tseed.text(now)}]}}}


def _refused(refusal: Refusal | None, key: str) -> TopError:
    if refusal is None or refusal.kind in ("no_product", "no_sku"):
        return invalid("sku_id", f"sku不存在: {key}")
    if refusal.kind == "state":
        return TopError(15, "isv.item-quantity-update-error", _STATE_WHY[refusal.state])
    if refusal.kind == "floor" and refusal.held_by == "locked":
        return TopError(15, "isv.item-quantity-update-error", f"活动锁定库存，库存不能小于 {refusal.floor}")
    if refusal.kind == "floor":
        return TopError(15, "isv.item-quantity-update-error", f"库存不能小于未付款订单预扣数量 {refusal.floor}")
    if refusal.kind == "short":
        return TopError(15, "isv.item-quantity-update-error", "库存不足，增量修改后不能小于0")
    return invalid("quantity", "全量更新时库存不能为负数")


def _type(p: dict[str, str]) -> bool:
    kind = p.get("type") or "1"
    if kind not in ("1", "2"):
        raise invalid("type", "type只能为1或2")
    return kind == "2"


def _number(p: dict[str, str], key: str, default: int) -> int:
    raw = p.get(key)
    if raw in (None, ""):
        return default
    if not raw.isdigit():
        raise invalid(key)
    return int(raw)


def _time(p: dict[str, str], key: str) -> float | None:
    raw = p.get(key)
    if not raw:
        return None
    try:
        return tseed.parse(raw)
    except ValueError:
        raise invalid(key, f"{key}格式应为yyyy-MM-dd HH:mm:ss") from None


def _item(g: SimProduct) -> dict[str, Any]:
    return {"num_iid": int(g.product_id), "title": g.title, "num": sum(s.stock for s in g.skus.values()),
            "price": tseed.yuan(min(s.price_fen for s in g.skus.values())), "outer_id": "",
            "approve_status": "onsale" if g.on_sale else "instock", "modified": tseed.text(g.modified),
            "with_hold_quantity": sum(s.reserved for s in g.skus.values())}


def _sku(g: SimProduct, s: SimSku) -> dict[str, Any]:
    return {"sku_id": int(s.sku_id), "num_iid": int(g.product_id), "outer_id": s.code,
            "price": tseed.yuan(s.price_fen), "quantity": s.stock, "with_hold_quantity": s.reserved,
            "properties_name": ";".join(f"{k}:{v}" for k, v in s.spec)}

"""The 1688 simulator's product side: detail APIs with stock and price per spec, scripted changes, messages.

reference/stock-and-price.md §4. Over the simulator's catalogue (one :class:`Cargo` per spec): the five detail
APIs answer in their own shapes (``productInfo.skuInfos`` with Double prices in yuan, ``productSkuInfos`` with
string prices for the cross-border ones); an offer can be delisted (status ``expired``) or unreadable for the
buyer (``没有该商品的查询权限``). Changes — a spec's stock or price set now or scheduled for a later clock time
— queue the product messages 1688 sends to followers (``PRODUCT_PRODUCT_INVENTORY_CHANGE`` naming the ``skuId``,
``FENXIAO_PRICE_CHANGE`` naming the product only, ``PRODUCT_RELATION_VIEW_PRODUCT_EXPIRE``), each a form body
``message=<json>&_aop_signature=<HMAC-SHA1 over push_path + "message" + json>``, which :meth:`deliver` POSTs.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx

from syncd.adapters.sandbox.alibaba_orders import Business
from syncd.adapters.sandbox.alibaba_seed import SANDBOX_1688_MEMBER_ID, Cargo

PRODUCT, FENXIAO, CROSSBORDER = "com.alibaba.product", "com.alibaba.fenxiao", "com.alibaba.fenxiao.crossborder"
PRODUCT_APIS: dict[str, str] = {
    "alibaba.cross.productInfo": PRODUCT, "alibaba.product.simple.get": PRODUCT, "alibaba.product.get": PRODUCT,
    "alibaba.fenxiao.productInfo.get": FENXIAO, "product.search.queryProductDetail": CROSSBORDER,
}
NO_PERMISSION = ("400_permission", "没有该商品的查询权限")
MAX_QUEUED = 10_000  # messages kept for delivery (nobody may be listening); the oldest go first


@dataclass(order=True)
class Change:
    """A scripted change: at clock time ``at``, a spec's stock and/or price (fen) becomes this."""

    at: float
    sku: str = field(compare=False)
    stock: int | None = field(default=None, compare=False)
    price_fen: int | None = field(default=None, compare=False)


def _yuan(fen: int) -> float:
    return round(fen / 100, 2)


class ProductDesk:
    """Product answers and messages over a catalogue; the simulator calls it under its own lock."""

    def __init__(self, catalogue: dict[str, Cargo], app_secret: str, push_path: str = "") -> None:
        self.catalogue = catalogue
        self._secret, self.push_path = app_secret, push_path
        self.status: dict[int, str] = {}  # offerId -> status when not "published"
        self.no_permission: set[int] = set()
        self._script: list[Change] = []
        self.outbox: list[bytes] = []  # signed message bodies waiting to be delivered
        self.delivered: list[dict[str, Any]] = []
        self.push_failures = 0
        self._msg_id = 0

    # ---- the detail APIs ------------------------------------------------------------------------------

    def answer(self, api: str, form: Mapping[str, str]) -> dict[str, Any]:
        """One detail API's answer for the offer the form names."""
        offer = self._offer_param(api, form)
        specs = [c for c in self.catalogue.values() if c.offer_id == offer]
        if not specs:
            raise Business("404_offer", f"商品{offer}不存在")
        if offer in self.no_permission:
            raise Business(*NO_PERMISSION)
        status = self.status.get(offer, "published")
        with_specs = [c for c in specs if c.spec_id]
        total = sum(c.stock for c in specs)
        base = min(c.price_fen for c in specs)
        if api in ("alibaba.fenxiao.productInfo.get", "product.search.queryProductDetail"):
            product = {"offerId": offer, "status": status, "subject": specs[0].title,
                       "productSaleInfo": {"amountOnSale": total, "consignPrice": f"{base / 100:.2f}"},
                       "productSkuInfos": [{"specId": c.spec_id, "skuId": c.sku_id, "amountOnSale": c.stock,
                                            "consignPrice": f"{c.price_fen / 100:.2f}",
                                            "price": f"{c.price_fen * 9 // 10 / 100:.2f}", "cargoNumber": c.sku}
                                           for c in with_specs]}
            return {"result": {"success": True, "code": "200", "result": product}}
        info = {"productID": offer, "status": status, "subject": specs[0].title,
                "saleInfo": {"amountOnSale": float(total), "consignPrice": _yuan(base), "quoteType": 1,
                             "priceRanges": [{"startQuantity": 1, "price": _yuan(base * 9 // 10)}]},
                "skuInfos": [{"specId": c.spec_id, "skuId": c.sku_id, "amountOnSale": c.stock,
                              "consignPrice": _yuan(c.price_fen), "price": _yuan(c.price_fen * 9 // 10),
                              "cargoNumber": c.sku, "attributes": [{"attributeValue": c.spec}]}
                             for c in with_specs]}
        if api == "alibaba.cross.productInfo":
            return {"result": {"success": True, "productInfo": info}}
        return {"success": True, "productInfo": info}

    @staticmethod
    def _offer_param(api: str, form: Mapping[str, str]) -> int:
        if api == "product.search.queryProductDetail":
            try:
                raw: Any = json.loads(form.get("offerDetailParam", "")).get("offerId")
            except (ValueError, AttributeError):
                raw = None
        else:
            name = {"alibaba.cross.productInfo": "productId", "alibaba.fenxiao.productInfo.get": "offerId"}.get(
                api, "productID")
            raw = form.get(name)
        text = str(raw or "")
        if not text.isdigit():
            raise Business("400_param", "商品ID格式错误")
        return int(text)

    # ---- changes ------------------------------------------------------------------------------------

    def change(self, sku: str, now: float, *, stock: int | None = None, price_fen: int | None = None) -> None:
        """Set a spec's stock and/or price now, and queue the messages a follower receives."""
        cargo = self.catalogue[sku]
        if stock is not None and stock != cargo.stock:
            delta, cargo.stock = stock - cargo.stock, stock
            offer_total = sum(c.stock for c in self.catalogue.values() if c.offer_id == cargo.offer_id)
            entry: dict[str, Any] = {"offerId": cargo.offer_id, "offerOnSale": offer_total, "skuOnSale": stock,
                                     "quantity": delta, "bizTime": int(now * 1000)}
            if cargo.spec_id:
                entry["skuId"] = cargo.sku_id
            self._queue("PRODUCT_PRODUCT_INVENTORY_CHANGE", {"OfferInventoryChangeList": [entry]}, now)
        if price_fen is not None and price_fen != cargo.price_fen:
            cargo.price_fen = price_fen
            self._queue("FENXIAO_PRICE_CHANGE", {"productId": cargo.offer_id, "memberId": SANDBOX_1688_MEMBER_ID,
                                                 "msgSendTime": int(now * 1000)}, now)

    def schedule(self, at: float, sku: str, *, stock: int | None = None, price_fen: int | None = None) -> None:
        """A change that happens when the clock reaches ``at``."""
        if sku not in self.catalogue:
            raise KeyError(sku)
        heapq.heappush(self._script, Change(at, sku, stock, price_fen))

    def advance(self, now: float) -> None:
        """Apply the scripted changes that are due."""
        while self._script and self._script[0].at <= now:
            due = heapq.heappop(self._script)
            self.change(due.sku, due.at, stock=due.stock, price_fen=due.price_fen)

    def delist(self, offer_id: int, now: float, status: str = "expired") -> None:
        """The supplier takes the offer off sale (or back on with ``published``)."""
        if status == "published":
            self.status.pop(offer_id, None)
            kind = "PRODUCT_RELATION_VIEW_PRODUCT_REPOST"
        else:
            self.status[offer_id] = status
            kind = "PRODUCT_RELATION_VIEW_PRODUCT_EXPIRE"
        self._queue(kind, {"productIds": str(offer_id), "memberId": SANDBOX_1688_MEMBER_ID, "status": status}, now)

    def _queue(self, kind: str, data: dict[str, Any], now: float) -> None:
        self._msg_id += 1
        text = json.dumps({"msgId": 70_000_000 + self._msg_id, "type": kind, "gmtBorn": int(now * 1000),
                           "userInfo": SANDBOX_1688_MEMBER_ID, "data": data}, ensure_ascii=False,
                          separators=(",", ":"))
        sig = hmac.new(self._secret.encode(), (self.push_path + "message" + text).encode(),
                       hashlib.sha1).hexdigest().upper()
        self.outbox.append(urlencode({"message": text, "_aop_signature": sig}).encode())
        del self.outbox[:-MAX_QUEUED]

    def take_outbox(self) -> list[bytes]:
        """The queued message bodies, removed from the queue (the caller delivers them)."""
        out, self.outbox = self.outbox, []
        return out

    def record(self, body: bytes, ok: bool) -> None:
        """After a delivery attempt: a message refused or unreachable goes back to the queue."""
        if ok:
            self.delivered.append(json.loads(dict(parse_qsl(body.decode(), keep_blank_values=True))["message"]))
        else:
            self.push_failures += 1
            self.outbox.append(body)

    def state(self) -> dict[str, Any]:
        return {"prices": {sku: c.price_fen for sku, c in sorted(self.catalogue.items())},
                "delisted": {str(k): v for k, v in sorted(self.status.items())},
                "messages": {"pending": len(self.outbox), "delivered": len(self.delivered),
                             "failed_attempts": self.push_failures}, "scripted": len(self._script)}


def deliver(bodies: list[bytes], url: str, http: httpx.Client) -> list[tuple[bytes, bool]]:
    """POST each message body to ``url`` (form-encoded, as 1688 does); (body, delivered) per body."""
    out: list[tuple[bytes, bool]] = []
    for body in bodies:
        try:
            resp = http.post(url, content=body,
                             headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"})
            out.append((body, 200 <= resp.status_code < 300))
        except httpx.HTTPError:
            out.append((body, False))
    return out


__all__ = ["NO_PERMISSION", "PRODUCT_APIS", "Change", "ProductDesk", "deliver"]

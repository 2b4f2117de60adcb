"""1688 stock and price per spec, read from the product-detail API the buyer's relationship allows.

reference/stock-and-price.md §4.1–4.2. Which API is a supplier setting (``products.api``): each takes one
offer id, so a read groups the route SKUs (``offerId:specId`` or a bare ``offerId``) per offer and makes one
call per offer. Per spec: ``amountOnSale`` (可销售数量) and ``consignPrice`` (一件代发价) or ``price`` (报价);
the price unit is not stated (yuan by default, a setting) and goes to fen with Decimal. The answers of the
five APIs differ in where the product object sits (``productInfo``, ``result``, ``result.result``) and in
the names of its lists (``skuInfos`` / ``productSkuInfos``, ``saleInfo`` / ``productSaleInfo``): one reader
serves them all. Every detail read also refreshes the ``skuId`` → ``specId`` map the change messages need.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from syncd.adapters.alibaba.client import AlibabaClient
from syncd.adapters.alibaba.config import AlibabaProductSettings
from syncd.adapters.alibaba.mapping import parse_sku, sku_of, text
from syncd.errors import ProtocolError, RejectedError, TransientError
from syncd.stockmodel import StockReadResult, SupplierStock

log = logging.getLogger("syncd.adapters.alibaba")

ON_SALE = "published"  # 上网; anything else cannot be ordered (§4.2 [D])
MAX_SPECS = 2000  # specs one offer may list before the answer is called malformed
_MAX_PRICE_DIGITS = 10  # a price of ten digits before the point is no price (and Decimal must not overflow)
_NO_PERMISSION = ("权限", "permission", "nopermission", "no_permission", "not authorized", "无权")
_GONE = ("下架", "不存在", "已删除", "删除", "not exist", "notexist", "not found", "deleted", "expired", "offline",
         "失效")
_PRODUCT_KEYS = ("skuInfos", "productSkuInfos", "saleInfo", "productSaleInfo")


@dataclass(frozen=True, slots=True)
class Spec:
    """One spec of an offer as the detail API shows it."""

    spec_id: str
    sku_id: str
    quantity: int
    price_fen: int | None


@dataclass(slots=True)
class Offer:
    """One offer: its status, its specs, and its offer-level figures (for an offer without specs)."""

    offer_id: str
    status: str
    specs: list[Spec] = field(default_factory=list)
    quantity: int | None = None
    price_fen: int | None = None


# ---- reading one answer (pure) -------------------------------------------------------------------------


def price_fen(value: Any, unit: str, where: str) -> int | None:
    """A product-API price (Double or string, ``unit`` yuan or fen) → fen; None when absent or empty.
    ProtocolError for a value that is not a non-negative number."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ProtocolError(f"{where}: expected a price, found {type(value).__name__}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ProtocolError(f"{where}: expected a price, found {str(value)[:40]!r}") from None
    if not amount.is_finite() or amount < 0:
        raise ProtocolError(f"{where}: expected a price ≥ 0, found {str(value)[:40]!r}")
    if amount.adjusted() >= _MAX_PRICE_DIGITS:
        raise ProtocolError(f"{where}: expected a price, found one of {amount.adjusted() + 1} digits")
    fen = amount * 100 if unit == "yuan" else amount
    return int(fen.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def quantity(value: Any, where: str) -> int | None:
    """``amountOnSale`` (Integer per spec, Double per offer, sometimes text) → units; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ProtocolError(f"{where}: expected a quantity, found a boolean")
    if isinstance(value, float):
        if not value.is_integer():
            raise ProtocolError(f"{where}: expected a whole quantity, found {value!r}")
        value = int(value)
    if isinstance(value, str):
        raw = value.strip()
        if not (raw.isascii() and raw.lstrip("-").isdigit() and len(raw) <= 12):
            raise ProtocolError(f"{where}: expected a quantity, found {raw[:40]!r}")
        value = int(raw)
    if not isinstance(value, int):
        raise ProtocolError(f"{where}: expected a quantity, found {type(value).__name__}")
    return max(0, value)  # a negative on-sale amount (oversold at the supplier) sells nothing


def product_object(body: Mapping[str, Any], api: str) -> dict[str, Any]:
    """The product object of a detail answer, wherever the API puts it; ProtocolError when none is found."""
    layers: list[Any] = [body]
    result = body.get("result")
    if isinstance(result, dict):
        layers += [result, result.get("result"), result.get("data")]
    layers.append(body.get("data"))
    for layer in layers:
        if not isinstance(layer, dict):
            continue
        info = layer.get("productInfo")
        if isinstance(info, dict):
            return info
        if any(key in layer for key in _PRODUCT_KEYS):
            return layer
    raise ProtocolError(f"1688 {api}: no product in the answer (expected productInfo with skuInfos)")


def nested_failure(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """A business failure inside ``result`` (the cross-border APIs wrap their own success flag)."""
    result = body.get("result")
    if not isinstance(result, dict) or "success" not in result:
        return None
    flag = result.get("success")
    if flag is True or (isinstance(flag, str) and flag.strip().lower() == "true"):
        return None
    code = text(result.get("code")) or text(result.get("errorCode")) or "unknown"
    message = text(result.get("message")) or text(result.get("errorMessage")) or text(result.get("errorMsg"))
    return code, message


def _price_of(entry: Mapping[str, Any], settings: AlibabaProductSettings, where: str) -> int | None:
    other = "price" if settings.price_field == "consignPrice" else "consignPrice"
    first = price_fen(entry.get(settings.price_field), settings.price_unit, f"{where}.{settings.price_field}")
    return first if first is not None else price_fen(entry.get(other), settings.price_unit, f"{where}.{other}")


def offer_from(body: Mapping[str, Any], offer_id: str, api: str, settings: AlibabaProductSettings) -> Offer:
    """One detail answer → the offer; ProtocolError naming the API and the field for a malformed answer."""
    product = product_object(body, api)
    where = f"1688 {api} offer {offer_id}"
    status = text(product.get("status")) or ON_SALE  # queryProductDetail omits it for an orderable offer
    sale = product.get("saleInfo", product.get("productSaleInfo"))
    if sale is not None and not isinstance(sale, dict):
        raise ProtocolError(f"{where}: saleInfo is not an object")
    sale = sale or {}
    offer = Offer(offer_id, status, quantity=quantity(sale.get("amountOnSale"), f"{where}: saleInfo.amountOnSale"))
    offer.price_fen = _price_of(sale, settings, f"{where}: saleInfo")
    if offer.price_fen is None:
        ranges = sale.get("priceRanges")
        if isinstance(ranges, list) and ranges and isinstance(ranges[0], dict):
            offer.price_fen = price_fen(ranges[0].get("price"), settings.price_unit,
                                        f"{where}: saleInfo.priceRanges[0].price")
    raw = product.get("skuInfos", product.get("productSkuInfos"))
    if raw is None:
        return offer
    if not isinstance(raw, list) or not all(isinstance(s, dict) for s in raw):
        raise ProtocolError(f"{where}: skuInfos is not a list of objects")
    if len(raw) > MAX_SPECS:
        raise ProtocolError(f"{where}: {len(raw)} specs, more than the {MAX_SPECS} an offer may have")
    for i, entry in enumerate(raw):
        at = f"{where}: skuInfos[{i}]"
        spec_id = text(entry.get("specId"))
        if not spec_id:
            raise ProtocolError(f"{at}.specId is missing")
        amount = quantity(entry.get("amountOnSale"), f"{at}.amountOnSale")
        if amount is None:
            raise ProtocolError(f"{at}.amountOnSale is missing")
        price = _price_of(entry, settings, at)
        offer.specs.append(Spec(spec_id, text(entry.get("skuId")), amount,
                                price if price is not None else offer.price_fen))
    return offer


def refusal_reason(code: str, message: str) -> str:
    """Why 1688 would not show an offer, in the words the stock status shows."""
    words = f"{code} {message}".lower()
    said = f"{code}: {message}".strip(": ")
    if any(w in words for w in _NO_PERMISSION):
        return f"no permission to read this offer (no 铺货/purchase relation for the configured API; 1688 said {said})"
    if any(w in words for w in _GONE):
        return f"offer delisted or deleted (1688 said {said})"
    return f"1688 refused the read ({said})"


def figures(offer: Offer, wanted: Sequence[str], result: StockReadResult) -> None:
    """Put each wanted SKU of this offer into ``result``: a figure, or the reason it has none."""
    if offer.status != ON_SALE:
        for sku in wanted:
            result.failed[sku] = f"offer not on sale (1688 status {offer.status[:40]})"
        return
    by_spec = {s.spec_id: s for s in offer.specs}
    for sku in wanted:
        _, spec_id = parse_sku(sku)
        if spec_id is None:
            if offer.quantity is None and not offer.specs:
                result.failed[sku] = "1688 shows no on-sale amount for this offer"
                continue
            amount = offer.quantity if offer.quantity is not None else sum(s.quantity for s in offer.specs)
            result.stock.append(SupplierStock(sku, amount, offer.price_fen))
        elif spec_id in by_spec:
            spec = by_spec[spec_id]
            result.stock.append(SupplierStock(sku, spec.quantity, spec.price_fen))
        else:
            result.failed[sku] = f"spec {spec_id} is no longer in offer {offer.offer_id} (removed by the supplier?)"


# ---- the reader ----------------------------------------------------------------------------------------


class SpecMap:
    """``skuId`` → (offerId, specId) and offerId → its specIds, learnt from every detail read; thread-safe."""

    def __init__(self) -> None:
        self._spec: dict[str, tuple[str, str]] = {}
        self._offer: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def learn(self, offer: Offer) -> None:
        with self._lock:
            for old in self._offer.get(offer.offer_id, ()):
                self._spec.pop(old, None)
            self._offer[offer.offer_id] = [s.spec_id for s in offer.specs]
            for spec in offer.specs:
                if spec.sku_id:
                    self._spec[spec.sku_id] = (offer.offer_id, spec.spec_id)

    def spec_of(self, sku_id: str) -> tuple[str, str] | None:
        with self._lock:
            return self._spec.get(sku_id)

    def specs_of(self, offer_id: str) -> list[str] | None:
        with self._lock:
            specs = self._offer.get(offer_id)
            return list(specs) if specs is not None else None


class ProductReader:
    """Reads offers through the configured detail API and keeps the spec map."""

    def __init__(self, client: AlibabaClient, settings: AlibabaProductSettings, supplier_id: str) -> None:
        self._client = client
        self._settings = settings
        self._supplier_id = supplier_id
        self.specs = SpecMap()

    @property
    def api(self) -> str:
        return self._settings.api

    def params(self, offer_id: str) -> dict[str, Any]:
        """The detail API's parameters for one offer."""
        match self._settings.api:
            case "alibaba.cross.productInfo":
                return {"productId": offer_id}
            case "alibaba.product.simple.get" | "alibaba.product.get":
                return {"productID": offer_id, "webSite": "1688"}
            case "alibaba.fenxiao.productInfo.get":
                return {"offerId": offer_id}
            case "product.search.queryProductDetail":
                return {"offerDetailParam": {"offerId": int(offer_id), "country": "en"}}
        raise AssertionError(self._settings.api)

    def offer(self, offer_id: str, *, retried: bool = True) -> Offer | str:
        """The offer, or the reason 1688 will not show it (delisted, no permission). Raises TransientError /
        RateLimitedError (after the client's retries), FatalError, AuthError, ProtocolError."""
        api = self._settings.api
        answer = self._client.call(api, self.params(offer_id), refusals=True, retried=retried)
        failure = (answer.code, answer.message) if answer.code else nested_failure(answer.body)
        if failure is not None:
            return refusal_reason(*failure)
        offer = offer_from(answer.body, offer_id, api, self._settings)
        self.specs.learn(offer)
        return offer

    def read(self, supplier_skus: Sequence[str]) -> StockReadResult:
        """Stock and price of these SKUs, one detail call per offer. A flow-control or other passing failure
        defers this offer and the rest (asked again next read) — raised when nothing was read at all."""
        result = StockReadResult()
        by_offer: dict[str, list[str]] = {}
        for sku in dict.fromkeys(supplier_skus):
            try:
                number, _ = parse_sku(sku)
            except RejectedError as err:
                result.failed[sku] = str(err)
                continue
            by_offer.setdefault(str(number), []).append(sku)
        offers = list(by_offer.items())
        for n, (offer_id, wanted) in enumerate(offers):
            try:
                got = self.offer(offer_id)
            except TransientError as err:
                if not result.stock and not result.failed and n == 0:
                    raise
                rest = [sku for _, skus in offers[n:] for sku in skus]
                log.warning("1688 supplier %s: stock read stopped at offer %s (%s); %d SKU(s) wait for the next "
                            "read", self._supplier_id, offer_id, err, len(rest))
                result.deferred.update(dict.fromkeys(rest, f"not read: {err}"[:300]))
                break
            except ProtocolError as err:
                log.error("1688 supplier %s: unreadable stock answer: %s", self._supplier_id, err)
                result.deferred.update(dict.fromkeys(wanted, f"unreadable answer: {err}"[:300]))
                continue
            if isinstance(got, str):
                result.failed.update(dict.fromkeys(wanted, got))
            else:
                figures(got, wanted, result)
        if result.deferred and not result.stock and not result.failed:
            raise ProtocolError(f"1688 supplier {self._supplier_id}: no stock answer could be read: "
                                f"{next(iter(result.deferred.values()))}")
        return result

    def figures_of(self, offer_id: str) -> list[SupplierStock]:
        """Every spec of an offer as figures (a price-change message names the offer only); [] when it cannot be
        read now (the scheduled read catches up), zero for every known spec when 1688 will not show it."""
        try:
            got = self.offer(offer_id, retried=False)
        except (TransientError, ProtocolError, RejectedError) as err:
            log.warning("1688 supplier %s: offer %s changed but could not be read now (%s); the next stock read "
                        "catches up", self._supplier_id, offer_id, err)
            return []
        if isinstance(got, str):
            return gone(offer_id, self.specs.specs_of(offer_id))
        if got.status != ON_SALE:
            return gone(offer_id, [s.spec_id for s in got.specs])
        out = [SupplierStock(sku_of(offer_id, s.spec_id), s.quantity, s.price_fen) for s in got.specs]
        if got.quantity is not None or not got.specs:
            total = got.quantity if got.quantity is not None else 0
            out.append(SupplierStock(offer_id, total, got.price_fen))
        return out


def gone(offer_id: str, spec_ids: Sequence[str] | None) -> list[SupplierStock]:
    """Zero for the offer and each of its known specs (delisted, deleted)."""
    return [SupplierStock(offer_id, 0), *(SupplierStock(sku_of(offer_id, s), 0) for s in spec_ids or ())]


__all__ = ["MAX_SPECS", "ON_SALE", "Offer", "ProductReader", "Spec", "SpecMap", "figures", "gone", "nested_failure",
           "offer_from", "price_fen", "product_object", "quantity", "refusal_reason"]

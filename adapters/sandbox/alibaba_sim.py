"""1688 open-platform simulator (the buyer side of dropshipping) speaking the real wire protocol.

Mounted at ``/1688``: the supplier file's ``base_url`` is ``{server.url}/1688`` and calls go to
``/1688/openapi/param2/1/{namespace}/{api}/{appKey}`` (form-encoded POST), tokens to
``/1688/openapi/http/1/system.oauth2/getToken/{appKey}`` and
``/1688/openapi/param2/1/system.oauth2/postponeToken/{appKey}`` (reference/suppliers-tracking-alerts.md
§A.1–A.3). Every business call is checked as the gateway does: a known app key and API, the
``_aop_signature`` (HMAC-SHA1 over the url path and the sorted ``key+value`` strings; ``gw.SignatureInvalid``
otherwise), then the access token (HTTP 401). Gateway errors are ``{error_code, error_message, request_id}``.

Knobs: ``qps`` (app-wide calls per second; above it ``gw.QosAppFrequencyLimit``), ``fault_rate``
(seeded transient failures before anything happens), ``lost_reply_rate`` (fastCreateOrder creates the
order, then answers HTTP 502: the buyer cannot know), ``ship_delay`` / ``split_rate`` / ``never_pickup_rate`` (see
:mod:`adapters.sandbox.alibaba_orders`; :meth:`AlibabaSimulator.never_picked_up` tells which tracking numbers
are the parcels nobody collects), ``protocol_pay`` (免密支付 enabled), ``trace_field``
(``logisticsTrace`` as the doc, or ``result`` as the old SDK). Unsigned admin endpoints under
``/1688/_sandbox/``: GET ``state``, GET ``order/<id>``; POST ``pay``, ``ship``, ``stock``, ``faults``,
``expire_token``, ``revoke``, ``age_refresh`` (JSON bodies, see :func:`_admin`).

Products (:mod:`adapters.sandbox.alibaba_products`): the detail APIs answer stock and price per spec; POST
``stock`` {sku, stock}, ``price`` {sku, price_fen}, ``schedule`` {at, sku, stock?, price_fen?}, ``delist``
{offerId, status?} change them and queue the product messages; POST ``push`` {url?} delivers the queued
messages to ``url`` (default ``push_url``), signed with the app secret.
"""

from __future__ import annotations

import hmac
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

import httpx

from syncd.adapters.alibaba.signing import SIGNATURE, sign, url_path
from syncd.adapters.sandbox.alibaba_orders import NEVER_PICKED_UP_RATE, Business, OrderBook
from syncd.adapters.sandbox.alibaba_products import PRODUCT_APIS, ProductDesk, deliver
from syncd.adapters.sandbox.alibaba_seed import (
    SANDBOX_1688_ACCESS_TOKEN,
    SANDBOX_1688_APP_KEY,
    SANDBOX_1688_APP_SECRET,
    SANDBOX_1688_REFRESH_TOKEN,
    build_catalogue,
    parse_compact,
)
from syncd.adapters.sandbox.alibaba_tokens import AlibabaTokens, TokenFailure
from syncd.adapters.sandbox.httpserver import Response, json_response

PREFIX = "/1688"
TRADE, LOGISTICS = "com.alibaba.trade", "com.alibaba.logistics"
APIS: dict[str, str] = {
    "alibaba.createOrder.preview": TRADE, "alibaba.trade.fastCreateOrder": TRADE,
    "alibaba.trade.getBuyerOrderList": TRADE, "alibaba.trade.get.buyerView": TRADE,
    "alibaba.trade.cancel": TRADE, "alibaba.trade.pay.protocolPay.preparePay": TRADE,
    "alibaba.trade.getLogisticsInfos.buyerView": LOGISTICS,
    "alibaba.trade.getLogisticsTraceInfo.buyerView": LOGISTICS,
    **PRODUCT_APIS,
}
# How each API spells a business failure (§A.7): (success value, code key, message key)
FAILURE_STYLE: dict[str, tuple[Any, str, str]] = {
    "alibaba.createOrder.preview": (False, "errorCode", "errorMsg"),
    "alibaba.trade.fastCreateOrder": (False, "code", "message"),
    "alibaba.trade.pay.protocolPay.preparePay": (False, "code", "message"),
    "alibaba.trade.get.buyerView": ("false", "errorCode", "errorMessage"),
    "alibaba.trade.getBuyerOrderList": (None, "errorCode", "errorMessage"),
}
_FORCED = {"transient": (502, "isp.temporary-unavailable", "服务暂时不可用"),
           "rate_limited": (400, "gw.QosAppFrequencyLimit", "App call exceeds limited frequency"),
           "auth_revoked": (401, "401", "access_token is invalid")}


class GatewayError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code, self.message = status, code, message
        super().__init__(f"{code}: {message}")


class AlibabaSimulator:
    """One 1688 buyer account with its app, its orders and one supplier's catalogue; thread-safe."""

    prefix = PREFIX

    def __init__(self, app_key: str = SANDBOX_1688_APP_KEY, app_secret: str = SANDBOX_1688_APP_SECRET, *,
                 seed: int = 0, clock: Callable[[], float] = time.time, catalogue: Mapping[str, Any] | None = None,
                 qps: float | None = None, fault_rate: float = 0.0, lost_reply_rate: float = 0.0,
                 ship_delay: float = 2 * 3600, split_rate: float = 0.3, protocol_pay: bool = True,
                 trace_field: str = "logisticsTrace", denied_apis: frozenset[str] = frozenset(),
                 refresh_ttl: float = 180 * 86_400, never_pickup_rate: float = NEVER_PICKED_UP_RATE,
                 push_url: str | None = None, push_path: str = "") -> None:
        self.app_key, self._secret, self.clock = app_key, app_secret, clock
        self.qps, self.fault_rate, self.lost_reply_rate = qps, fault_rate, lost_reply_rate
        self.protocol_pay, self.trace_field, self.denied_apis = protocol_pay, trace_field, set(denied_apis)
        self._rng = random.Random(f"1688-faults|{seed}")  # noqa: S311 - reproducible faults
        self._lock = threading.RLock()
        self._serial = 0
        self._bucket: tuple[float, float] | None = None
        self._forced: list[str] = []
        self.book = OrderBook(build_catalogue(catalogue), seed, ship_delay=ship_delay, split_rate=split_rate,
                              never_pickup_rate=never_pickup_rate)
        self.products = ProductDesk(self.book.catalogue, app_secret, push_path)
        self.push_url = push_url
        self.tokens = AlibabaTokens(app_key, seed, refresh_ttl=refresh_ttl)
        self.tokens.issue(clock(), SANDBOX_1688_ACCESS_TOKEN, SANDBOX_1688_REFRESH_TOKEN)
        self.calls: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.lost_replies = 0
        self._methods: dict[str, Callable[[dict[str, str], float], dict[str, Any]]] = {
            "alibaba.createOrder.preview": self._preview, "alibaba.trade.fastCreateOrder": self._create,
            "alibaba.trade.getBuyerOrderList": self._list, "alibaba.trade.get.buyerView": self._detail,
            "alibaba.trade.cancel": self._cancel, "alibaba.trade.pay.protocolPay.preparePay": self._pay,
            "alibaba.trade.getLogisticsInfos.buyerView": self._infos,
            "alibaba.trade.getLogisticsTraceInfo.buyerView": self._trace,
            **{api: self._product_api(api) for api in PRODUCT_APIS},
        }

    def _product_api(self, api: str) -> Callable[[dict[str, str], float], dict[str, Any]]:
        def answer(p: dict[str, str], now: float) -> dict[str, Any]:
            return self.products.answer(api, p)

        return answer

    # ---- HTTP entry ---------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str],
               body: bytes) -> Response:
        """Answer one HTTP request under ``/1688``."""
        rest = path[len(self.prefix):] if path.startswith(self.prefix) else path
        if method == "POST" and rest == "/_sandbox/push":  # outside the lock: the daemon may call back
            url = _push_url(body) or self.push_url
            if not url:
                return json_response(400, {"error": "no url given and no push_url set"})
            with httpx.Client(timeout=10) as http:
                return json_response(200, {"delivered": self.deliver_messages(http, url)})
        if rest == "/_sandbox" or rest.startswith("/_sandbox/"):
            with self._lock:
                return _admin(self, method, rest[len("/_sandbox"):].strip("/"), body)
        if method != "POST":
            return json_response(405, {"error": "the gateway takes POST"})
        try:
            form = {**query, **dict(parse_qsl(body.decode(), keep_blank_values=True))}
        except UnicodeDecodeError:
            return json_response(400, {"error_code": "gw.ParamInvalid", "error_message": "body is not UTF-8"})
        parts = rest.strip("/").split("/")
        with self._lock:
            now = self.clock()
            self._serial += 1
            request_id = f"{int(now * 1000)}{self._serial:06d}"
            try:
                if parts[:1] != ["openapi"] or len(parts) != 6:
                    raise GatewayError(404, "gw.ApiNotExist", f"nothing at {path}")
                _, protocol, version, namespace, api, app_key = parts
                if namespace == "system.oauth2":
                    return self._system(api, protocol, app_key, form, now)
                self.calls[api] += 1
                if app_key != self.app_key:
                    raise GatewayError(400, "gw.AppKeyNotExist", f"AppKey {app_key} does not exist")
                if protocol != "param2" or version != "1" or APIS.get(api) != namespace:
                    raise GatewayError(400, "gw.ApiNotExist", f"API {namespace}:{api}-{version} does not exist")
                given = form.get(SIGNATURE, "")
                expected = sign(url_path(protocol, 1, namespace, api, app_key), form, self._secret)
                if not hmac.compare_digest(given, expected):
                    raise GatewayError(400, "gw.SignatureInvalid", "Request signature is invalid")
                if api in self.denied_apis:
                    raise GatewayError(403, "gw.APIACLDecline", f"App has no permission to call {api}")
                self._gate(now)
                why = self.tokens.check(form.get("access_token", ""), now)
                if why:
                    raise GatewayError(401, "401", why)
                self.book.advance(now)
                self.products.advance(now)
                return json_response(200, {**self._methods[api](form, now)})
            except GatewayError as err:
                self.errors[err.code] += 1
                if err.status == 502:
                    return 502, {"Content-Type": "text/html"}, b"<html><body>502 Bad Gateway</body></html>"
                return json_response(err.status, {"error_code": err.code, "error_message": err.message,
                                                  "exception": err.message, "request_id": request_id})
            except Business as err:
                self.errors[err.code] += 1
                api_name = parts[4] if len(parts) == 6 else "?"
                ok, code_key, msg_key = FAILURE_STYLE.get(api_name, (False, "errorCode", "errorMessage"))
                answer: dict[str, Any] = {code_key: err.code, msg_key: err.message}
                if ok is not None:
                    answer["success"] = ok
                return json_response(200, answer)

    def _gate(self, now: float) -> None:
        """Forced failures, seeded faults and the app-wide flow control, before anything happens."""
        if self._forced:
            kind = self._forced.pop(0)
            if kind == "auth_revoked":
                self.tokens.revoke(now)
            raise GatewayError(*_FORCED[kind])
        if self.fault_rate > 0 and self._rng.random() < self.fault_rate:
            raise GatewayError(*_FORCED["transient" if self._rng.random() < 0.5 else "rate_limited"])
        if self.qps is None:
            return
        capacity = max(1.0, self.qps)
        tokens, last = self._bucket or (capacity, now)
        tokens = min(capacity, tokens + max(0.0, now - last) * self.qps)
        if tokens < 1:
            self._bucket = (tokens, now)
            raise GatewayError(*_FORCED["rate_limited"])
        self._bucket = (tokens - 1, now)

    def _system(self, api: str, protocol: str, app_key: str, form: dict[str, str], now: float) -> Response:
        self.calls[api] += 1
        try:
            if app_key != self.app_key or form.get("client_id") != self.app_key \
                    or not hmac.compare_digest(form.get("client_secret", ""), self._secret):
                raise TokenFailure(401, "invalid_client", "client_id or client_secret is wrong")
            if api == "getToken" and protocol in ("http", "param2"):
                if form.get("grant_type") != "refresh_token":
                    raise TokenFailure(400, "unsupported_grant_type", "the sandbox only refreshes tokens")
                return json_response(200, self.tokens.grant(form.get("refresh_token", ""), now))
            if api == "postponeToken" and protocol == "param2":
                return json_response(200, self.tokens.postpone(form.get("refresh_token", ""),
                                                               form.get("access_token", ""), now))
            raise TokenFailure(404, "invalid_request", f"no {protocol}/{api} here")
        except TokenFailure as err:
            self.errors[err.error] += 1
            return json_response(err.status, err.body())

    # ---- business APIs ---------------------------------------------------------------------------------

    def _preview(self, p: dict[str, str], now: float) -> dict[str, Any]:
        address, cargos = _json(p, "addressParam", dict), _json(p, "cargoParamList", list)
        self.book.check_address(address)
        checked = self.book.cargo_checks(cargos)
        unknown = [msg for _, known, _, msg in checked if known is None]
        if unknown:
            raise Business("500_001", unknown[0])
        lines = [{"offerId": c["offerId"], "specId": k.spec_id or None, "skuId": k.sku_id,
                  "amount": k.price_fen * int(c["quantity"]), "finalUnitPrice": k.price_fen / 100,
                  "resultCode": code or None, "message": msg or None}
                 for c, k, code, msg in checked if k is not None]
        goods = sum(int(x["amount"]) for x in lines)
        return {"success": True, "orderPreviewResuslt": [{
            "sumPayment": goods + 500, "sumCarriage": 500, "sumPaymentNoCarriage": goods,
            "flowFlag": p.get("flow") or "general", "tradeModeNameList": ["fxassure"], "cargoList": lines}]}

    def _create(self, p: dict[str, str], now: float) -> dict[str, Any]:
        order = self.book.create(p.get("outOrderId", ""), p.get("flow", ""), p.get("fenxiaoChannel", ""),
                                 _json(p, "addressParam", dict), _json(p, "cargoParamList", list),
                                 p.get("message", ""), now)
        if self.lost_reply_rate > 0 and self._rng.random() < self.lost_reply_rate:
            self.lost_replies += 1
            raise GatewayError(502, "gw.Timeout", "upstream timed out")  # created; the answer never arrives
        return {"success": True, "result": {"orderId": str(order.order_id), "totalSuccessAmount": order.total_fen,
                                            "postFee": order.shipping_fen, "failedOfferList": []}}

    def _list(self, p: dict[str, str], now: float) -> dict[str, Any]:
        page, size = _int(p, "page", 1), min(_int(p, "pageSize", 20), 50)
        since = parse_compact(p["createStartTime"]) if p.get("createStartTime") else None
        if p.get("createStartTime") and since is None:
            raise Business("400_param", "createStartTime格式错误")
        chosen = [o for o in self.book.orders.values()
                  if (not p.get("outOrderId") or o.out_order_id == p["outOrderId"])
                  and (since is None or o.created_at >= since)
                  and (not p.get("orderStatus") or o.status == p["orderStatus"])]
        chosen.sort(key=lambda o: o.created_at, reverse=True)
        window = chosen[(page - 1) * size: page * size]
        return {"result": [self.book.view(o) for o in window], "totalRecord": len(chosen)}

    def _detail(self, p: dict[str, str], now: float) -> dict[str, Any]:
        return {"success": "true", "result": self.book.view(self.book.get(p.get("orderId", "")))}

    def _cancel(self, p: dict[str, str], now: float) -> dict[str, Any]:
        if p.get("cancelReason") not in ("buyerCancel", "sellerGoodsLack", "other"):
            raise Business("400_param", "cancelReason取值错误")
        self.book.cancel(self.book.get(p.get("tradeID", "")), now)
        return {"success": True}

    def _pay(self, p: dict[str, str], now: float) -> dict[str, Any]:
        param = _json(p, "tradeWithholdPreparePayParam", dict)
        order = self.book.get(str(param.get("orderId", "")))
        if not self.protocol_pay:
            raise Business("PAY_PROTOCOL_NOT_SIGNED", "买家未开通免密支付")
        self.book.pay(order, now)
        return {"success": True, "result": {"payChannel": "alipay", "paySuccess": True}}

    def _infos(self, p: dict[str, str], now: float) -> dict[str, Any]:
        return {"success": True, "result": self.book.logistics_infos(self.book.get(p.get("orderId", "")), now)}

    def _trace(self, p: dict[str, str], now: float) -> dict[str, Any]:
        return {"success": True, self.trace_field: self.book.traces(self.book.get(p.get("orderId", "")), now)}

    # ---- test hooks --------------------------------------------------------------------------------------

    def fail_next(self, kind: str, count: int = 1) -> None:
        """The next ``count`` signed calls fail: ``transient`` (502), ``rate_limited``, ``auth_revoked``."""
        if kind not in _FORCED:
            raise ValueError(f"unknown failure kind {kind!r}")
        with self._lock:
            self._forced.extend([kind] * count)

    def pay_order(self, order_id: int | str) -> None:
        """A person paid the order in 1688."""
        with self._lock:
            self.book.pay(self.book.get(str(order_id)), self.clock())

    def ship_order(self, order_id: int | str, split: bool | None = None) -> list[str]:
        """The supplier sends what is left now; returns the tracking numbers."""
        with self._lock:
            return [s.bill_no for s in self.book.ship_now(self.book.get(str(order_id)), self.clock(), split)]

    def never_picked_up(self, tracking_no: str) -> bool:
        """Whether the parcel with this tracking number is scripted never picked up: an old send time reported,
        no trace step ever (so syncd's no_pickup alert fires as soon as the number arrives)."""
        with self._lock:
            return self.book.never_picked_up(tracking_no)

    def set_stock(self, sku: str, stock: int) -> None:
        """A spec's on-sale amount changes now (followers get PRODUCT_PRODUCT_INVENTORY_CHANGE)."""
        with self._lock:
            self.products.change(sku, self.clock(), stock=stock)

    def set_price(self, sku: str, price_fen: int) -> None:
        """A spec's dropship price changes now (followers get FENXIAO_PRICE_CHANGE, without the price)."""
        with self._lock:
            self.products.change(sku, self.clock(), price_fen=price_fen)

    def schedule_change(self, at: float, sku: str, *, stock: int | None = None, price_fen: int | None = None) -> None:
        """A change that happens when the clock reaches ``at`` (stock to 0, a price rise...)."""
        with self._lock:
            self.products.schedule(at, sku, stock=stock, price_fen=price_fen)

    def delist(self, offer_id: int, status: str = "expired") -> None:
        """Take an offer off sale (``published`` puts it back)."""
        with self._lock:
            self.products.delist(offer_id, self.clock(), status)

    def deliver_messages(self, http: httpx.Client, url: str | None = None) -> int:
        """POST the queued product messages (after due scripted changes) to ``url`` or ``push_url``; those not
        answered 2xx stay queued. Returns how many were delivered. Never called under the lock."""
        target = url or self.push_url
        if not target:
            return 0
        with self._lock:
            self.products.advance(self.clock())
            bodies = self.products.take_outbox()
        results = deliver(bodies, target, http)
        with self._lock:
            for body, ok in results:
                self.products.record(body, ok)
        return sum(ok for _, ok in results)

    def state(self) -> dict[str, Any]:
        """Orders per status, duplicates per outOrderId, calls per API, errors per code, stock, tokens."""
        now = self.clock()
        self.book.advance(now)
        return {
            "now": now,
            "orders": dict(sorted(Counter(o.status for o in self.book.orders.values()).items())),
            "orders_total": len(self.book.orders),
            "duplicates": {k: n for k, n in sorted(self.book.creates.items()) if n > 1},
            "parcels": sum(len(o.parcels) for o in self.book.orders.values()),
            "never_picked_up": sum(not p.picked_up for o in self.book.orders.values() for p in o.parcels),
            "lost_replies": self.lost_replies,
            "calls": dict(self.calls),
            "errors": dict(self.errors),
            "stock": {sku: c.stock for sku, c in sorted(self.book.catalogue.items())},
            "products": self.products.state(),
            "tokens": self.tokens.counts(now),
        }

    def snapshot(self) -> dict[str, Any]:
        """:meth:`state` under the simulator's lock."""
        with self._lock:
            return self.state()

    def supplier_config(self, base_url: str, supplier_id: str = "sandbox-1688") -> dict[str, Any]:
        """A complete supplier file for the 1688 adapter (secrets inline), pointing at ``base_url``."""
        return {"id": supplier_id, "kind": "1688", "name": "1688沙盒供应商", "base_url": base_url,
                "app_key": self.app_key, "app_secret": self._secret, "access_token": SANDBOX_1688_ACCESS_TOKEN,
                "refresh_token": SANDBOX_1688_REFRESH_TOKEN, "payment": "protocol_pay"}


def _json(p: dict[str, str], name: str, kind: type) -> Any:
    raw = p.get(name)
    if not raw:
        raise GatewayError(400, "gw.ParamMissing", f"Required parameter {name} is missing")
    try:
        value = json.loads(raw)
    except ValueError:
        raise GatewayError(400, "gw.ParamInvalid", f"{name} is not valid JSON") from None
    if not isinstance(value, kind):
        raise GatewayError(400, "gw.ParamInvalid", f"{name} must be a JSON {kind.__name__}")
    return value


def _int(p: dict[str, str], name: str, default: int) -> int:
    raw = p.get(name, "")
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise GatewayError(400, "gw.ParamInvalid", f"{name} must be a positive integer")
    return int(raw)


def _opt_int(payload: dict[str, Any], name: str) -> int | None:
    return None if payload.get(name) is None else int(payload[name])


def _push_url(body: bytes) -> str | None:
    try:
        payload = json.loads(body) if body.strip() else {}
    except ValueError:
        return None
    url = payload.get("url") if isinstance(payload, dict) else None
    return url if isinstance(url, str) and url else None


def _admin(sim: AlibabaSimulator, method: str, route: str, body: bytes) -> Response:
    """Unsigned admin endpoints (tests and the demo); the caller holds the lock."""
    try:
        payload = json.loads(body) if body.strip() else {}
    except ValueError:
        return json_response(400, {"error": "body is not JSON"})
    if not isinstance(payload, dict):
        return json_response(400, {"error": "body must be a JSON object"})
    head, _, arg = route.partition("/")
    now = sim.clock()
    try:
        if method == "GET" and route == "state":
            return json_response(200, sim.state())
        if method == "GET" and head == "order":
            sim.book.advance(now)
            return json_response(200, {"order": sim.book.view(sim.book.get(arg))})
        if method == "POST" and route == "pay":
            sim.pay_order(str(payload.get("orderId", "")))
            return json_response(200, {"paid": str(payload.get("orderId"))})
        if method == "POST" and route == "ship":
            split = payload.get("split")
            return json_response(200, {"tracking": sim.ship_order(str(payload.get("orderId", "")),
                                                                  split if isinstance(split, bool) else None)})
        if method == "POST" and route == "stock":
            sim.set_stock(str(payload.get("sku")), int(payload.get("stock", 0)))
            return json_response(200, {"stock": sim.book.catalogue[str(payload.get("sku"))].stock})
        if method == "POST" and route == "price":
            sim.set_price(str(payload.get("sku")), int(payload["price_fen"]))
            return json_response(200, {"price_fen": sim.book.catalogue[str(payload.get("sku"))].price_fen})
        if method == "POST" and route == "schedule":
            sim.schedule_change(float(payload["at"]), str(payload.get("sku")), stock=_opt_int(payload, "stock"),
                                price_fen=_opt_int(payload, "price_fen"))
            return json_response(200, {"scheduled": True})
        if method == "POST" and route == "delist":
            sim.delist(int(payload["offerId"]), str(payload.get("status", "expired")))
            return json_response(200, {"status": sim.products.status.get(int(payload["offerId"]), "published")})
        if method == "POST" and route == "faults":
            for name in ("fault_rate", "lost_reply_rate", "split_rate", "ship_delay", "never_pickup_rate"):
                if name in payload:
                    target = sim.book if name in ("split_rate", "ship_delay", "never_pickup_rate") else sim
                    setattr(target, name, float(payload[name]))
            if "qps" in payload:
                sim.qps, sim._bucket = (None if payload["qps"] is None else float(payload["qps"])), None
            return json_response(200, {"fault_rate": sim.fault_rate, "lost_reply_rate": sim.lost_reply_rate,
                                       "qps": sim.qps})
        if method == "POST" and route == "expire_token":
            return json_response(200, {"expired": sim.tokens.expire_access(now)})
        if method == "POST" and route == "revoke":
            sim.tokens.revoke(now)
            return json_response(200, {"revoked": True})
        if method == "POST" and route == "age_refresh":
            sim.tokens.age_refresh(float(payload.get("days_left", 10)), now)
            return json_response(200, {"days_left": float(payload.get("days_left", 10))})
    except Business as err:
        return json_response(409, {"error": f"{err.code} {err.message}"})
    except (KeyError, TypeError, ValueError) as err:
        return json_response(400, {"error": f"bad admin request: {err}"})
    return json_response(404, {"error": f"no admin endpoint {method} _sandbox/{route}"})

"""Douyin Shop (抖店) open-platform simulator speaking the real wire protocol.

Mounted at ``/douyin`` (the daemon's ``base_url`` is ``{server.url}/douyin``). Every call is checked
as the gateway does (reference/storefronts.md §1.1–1.3, §1.7): known ``app_key``; ``method`` equal
to the URL path; ``v=2``; ``sign_method`` hmac-sha256 or md5 (md5 when absent); the signature over
the exact raw body as ``param_json``; timestamp within ±300 s; a JSON object body; a live
``access_token`` except for token.create / token.refresh. Answers use the v2 envelope
``{code, msg, sub_code, sub_msg, log_id, data}`` with 10000 for success, always over HTTP 200.

Where the reference leaves a code unconfirmed the simulator picks one and says so here:
unknown app_key → 40003 ``isv.app-key-invalid``; unknown method → 40003 ``isv.method-not-exist``;
unknown order → 40004 ``isv.parameter-invalid:order_id``.

Flow control: ``qps`` limits every call together and ``api_qps`` (``{method: calls/s}``) each API on its
own, as token buckets (burst = one second's worth); a call over either answers 60000
``isv.traffic-limited`` before any effect. Douyin publishes no numbers: the limits are the test's choice.

Unsigned admin endpoints under ``/douyin/_sandbox/`` are in :mod:`adapters.sandbox.douyin_admin`; the
contract suite's hooks (:class:`adapters.sandbox.control.StorefrontSim`) in
:mod:`adapters.sandbox.douyin_control`.
"""

from __future__ import annotations

import hmac
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from syncd.adapters.douyin.signing import sign as douyin_sign
from syncd.adapters.sandbox.douyin_admin import AdminMixin
from syncd.adapters.sandbox.douyin_aftersale import aftersale_list
from syncd.adapters.sandbox.douyin_control import ControlMixin
from syncd.adapters.sandbox.douyin_errors import ApiError, invalid, missing
from syncd.adapters.sandbox.douyin_orders import COMPANIES, OrderBook
from syncd.adapters.sandbox.douyin_products import DouyinProducts
from syncd.adapters.sandbox.douyin_tokens import TokenStore
from syncd.adapters.sandbox.httpserver import Response
from syncd.adapters.sandbox.products import DOUYIN_IDS, ProductBook
from syncd.adapters.sandbox.seed import SANDBOX_SHOP_NAME

PREFIX = "/douyin"
_CST = timezone(timedelta(hours=8))
_MSG = {10000: "success", 10001: "部分失败", 20000: "服务不可用", 20001: "服务超时", 30001: "权限不足",
        40001: "缺少必选参数", 40002: "缺少必选参数", 40003: "非法的参数", 40004: "非法的参数",
        50001: "授权失败", 50002: "业务处理失败", 60000: "流量超限", 70000: "接口已下线"}
_TOKENLESS = {"token.create", "token.refresh"}
_SHIP_METHODS = {"order.logisticsAdd", "order.logisticsAddMultiPack"}
_JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}


class DouyinSimulator(AdminMixin, ControlMixin):
    """One Douyin shop behind one app; thread-safe (every call runs under one lock).

    Implements :class:`adapters.sandbox.control.StorefrontSim` (``platform`` "douyin", ``prefix`` "/douyin").
    """

    platform = "douyin"
    prefix = PREFIX

    def __init__(self, app_key: str, app_secret: str, shop_id: str, orders: Iterable[dict[str, Any]], *,
                 token_ttl: float = 7 * 86400, refresh_ttl: float = 14 * 86400, fault_rate: float = 0.0,
                 qps: float | None = None, seed: int = 0, clock: Callable[[], float] = time.time,
                 release_after: float | None = 300.0, release_fraction: float = 0.5,
                 refund_after: float | None = None, refund_fraction: float = 0.0,
                 lost_reply_rate: float = 0.0, decrypt_partial_code: int = 10001,
                 shop_name: str = SANDBOX_SHOP_NAME, api_qps: Mapping[str, float] | None = None,
                 products: ProductBook | None = None, stock_qps: float | None = None) -> None:
        self.app_key, self.shop_id, self.shop_name = app_key, str(shop_id), shop_name
        self._secret = app_secret
        self.clock = clock
        self.fault_rate = fault_rate
        self.lost_reply_rate = lost_reply_rate
        self.decrypt_partial_code = decrypt_partial_code
        self.qps = qps
        self._bucket = (float(qps or 0), clock())
        self.api_qps: dict[str, float] = dict(api_qps or {})
        self._api_buckets: dict[str, tuple[float, float]] = {}
        self._rng = random.Random(f"douyin-faults|{seed}")  # noqa: S311 - reproducible faults
        self._lock = threading.RLock()
        self._log_serial = 0
        self.tokens = TokenStore(app_key, token_ttl, refresh_ttl, seed)
        self.book = OrderBook(orders)
        self.calls: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.sub_errors: Counter[str] = Counter()
        self.started_at = clock()
        self._init_control()
        self._plan_evolution(seed, release_after, release_fraction, refund_after, refund_fraction)
        self._methods: dict[str, Callable[[dict[str, Any], float], Any]] = {
            "token.create": self._token_create,
            "token.refresh": self._token_refresh,
            "order.searchList": self.book.search,
            "order.orderDetail": lambda p, now: self.book.detail(p),
            "order.batchDecrypt": self._decrypt,
            "order.logisticsCompanyList": lambda p, now: COMPANIES,
            "order.logisticsAdd": self.book.ship,
            "order.logisticsAddMultiPack": self.book.ship_multi,
            "afterSale.List": lambda p, now: aftersale_list(self.book.aftersales, self.book.orders, p),
        }
        self.products = products if products is not None else ProductBook(DOUYIN_IDS, started=self.started_at)
        self.stock = DouyinProducts(self.products, stock_qps)  # product.listV2, sku.list, the stock writes
        self._methods.update(self.stock.methods())

    def _plan_evolution(self, seed: int, release_after: float | None, release_fraction: float,
                        refund_after: float | None, refund_fraction: float) -> None:
        rng = random.Random(f"douyin-evolution|{seed}")  # noqa: S311 - reproducible
        ids = sorted(self.book.orders)
        if release_after is not None:
            pending = [o for o in ids if self.book.orders[o]["order_status"] == 105]
            for i, oid in enumerate(o for o in pending if rng.random() < release_fraction):
                self.book.schedule(self.started_at + release_after + i, oid, "release")
        if refund_after is not None and refund_fraction > 0:
            ready = [o for o in ids if self.book.orders[o]["order_status"] == 2]
            for i, oid in enumerate(o for o in ready if rng.random() < refund_fraction):
                self.book.schedule(self.started_at + refund_after + i, oid, "refund")

    def snapshot(self) -> dict[str, Any]:
        """The admin state (``GET /douyin/_sandbox/state``), taken under the simulator's lock."""
        with self._lock:
            self.book.advance(self.clock())
            return self.state()

    # ---- HTTP entry -------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str],
               body: bytes) -> Response:
        """Answer one HTTP request under ``/douyin``."""
        rest = path[len(self.prefix):] if path.startswith(self.prefix) else path
        if rest.startswith("/_sandbox/") or rest == "/_sandbox":
            with self._lock:
                self.book.advance(self.clock())
                return self.admin(method, rest[len("/_sandbox"):].strip("/"), query, body)
        api = rest.strip("/").replace("/", ".")
        with self._lock:
            now = self.clock()
            self.book.advance(now)
            self.calls[api] += 1
            log_id = self._log_id(now)
            try:
                code, data = self._call(method, api, query, body, now)
            except ApiError as err:
                self.errors[str(err.code)] += 1
                self.sub_errors[err.sub_code] += 1
                return self._envelope(err.code, err.sub_code, err.msg, err.data, log_id)
            if code != 10000:
                self.errors[str(code)] += 1
                return self._envelope(code, "isv.business-failed:300008", "部分密文解密失败", data, log_id)
            return self._envelope(10000, "", "", data, log_id)

    def _envelope(self, code: int, sub_code: str, sub_msg: str, data: Any, log_id: str) -> Response:
        payload = {"code": code, "msg": _MSG.get(code, "error"), "sub_code": sub_code, "sub_msg": sub_msg,
                   "log_id": log_id, "data": data}
        return 200, dict(_JSON_HEADERS), json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()

    def _log_id(self, now: float) -> str:
        self._log_serial += 1
        stamp = datetime.fromtimestamp(now, _CST).strftime("%Y%m%d%H%M%S")
        return f"{stamp}{self._log_serial:018X}"

    # ---- gateway checks -----------------------------------------------------------------------------

    def _call(self, http_method: str, api: str, q: dict[str, str], body: bytes, now: float) -> tuple[int, Any]:
        if self.fault_rate > 0 and self._rng.random() < self.fault_rate:
            if self._rng.random() < 0.5:
                raise ApiError(20000, "isp.service-error:20004", "服务繁忙，请稍后重试")
            raise ApiError(60000, "isv.traffic-limited", "触发限流，请稍后重试")
        self._throttle(now, api)
        app_key = q.get("app_key")
        if not app_key:
            raise ApiError(40001, "isv.app-id-missing", "缺少app_key")
        if app_key != self.app_key:
            raise ApiError(40003, "isv.app-key-invalid", "app_key不存在")
        if not q.get("method"):
            raise ApiError(40001, "isv.method-missing", "缺少method")
        if q["method"] != api:
            raise ApiError(40003, "isv.parameter-format-invalid", "method与请求路径不一致")
        if api not in self._methods:
            raise ApiError(40003, "isv.method-not-exist", f"接口{api}不存在")
        if q.get("v") != "2":
            raise ApiError(40003, "isv.parameter-format-invalid", "v必须为2")
        sign_method = q.get("sign_method") or "md5"
        if sign_method not in ("md5", "hmac-sha256"):
            raise ApiError(40003, "isv.parameter-format-invalid", "sign_method只支持md5或hmac-sha256")
        ts_text = q.get("timestamp")
        if not ts_text:
            raise ApiError(40001, "isv.timestamp-missing", "缺少timestamp")
        ts = self._parse_timestamp(ts_text)
        if abs(ts - now) > 300:
            raise ApiError(40003, "isv.timestamp-invalid", "timestamp与服务器时间相差超过300秒")
        if not q.get("sign"):
            raise ApiError(40001, "isv.signature-missing", "缺少sign")
        if http_method == "GET" and not body:
            body = q.get("param_json", "").encode()
        try:
            param_json = body.decode()
        except UnicodeDecodeError:
            raise ApiError(40003, "isv.parameter-format-invalid", "请求体不是UTF-8") from None
        expected = douyin_sign(app_key, self._secret, api, param_json, ts_text, sign_method)
        if not hmac.compare_digest(q["sign"], expected):
            raise ApiError(40003, "isv.signature-invalid", "签名校验失败,请检查签名算法与app_secret")
        try:
            params = json.loads(param_json)
        except ValueError:
            params = None
        if not isinstance(params, dict):
            raise ApiError(40003, "isv.parameter-format-invalid", "param_json不是合法的JSON对象")
        injected = self._injected_failure()
        if injected is not None:
            raise injected
        if api not in _TOKENLESS:
            token = q.get("access_token")
            if not token:
                raise ApiError(40001, "isv.access-token-missing", "缺少access_token")
            self.tokens.check(token, now)
        if api == "order.searchList":
            self._before_list(params, now)
        result = self._methods[api](params, now)
        if api in _SHIP_METHODS and self.lost_reply_rate > 0 and self._rng.random() < self.lost_reply_rate:
            raise ApiError(20001, "isp.service-error:20001", "服务超时")  # done, but the answer is lost
        if api == "order.batchDecrypt":
            ok, data = result
            return (10000 if ok else self.decrypt_partial_code), data
        return 10000, result

    def _throttle(self, now: float, api: str) -> None:
        if self.qps:
            self._bucket = self._take(self._bucket, float(self.qps), now)
        rate = self.api_qps.get(api)
        if rate:
            self._api_buckets[api] = self._take(self._api_buckets.get(api, (rate, now)), rate, now)

    @staticmethod
    def _take(bucket: tuple[float, float], rate: float, now: float) -> tuple[float, float]:
        """One call out of a token bucket (capacity = ``rate``), or 60000 when it is empty."""
        tokens, last = bucket
        tokens = min(rate, tokens + max(0.0, now - last) * rate)
        if tokens < 1:
            raise ApiError(60000, "isv.traffic-limited", "接口调用频率超过限制")
        return tokens - 1, now

    @staticmethod
    def _parse_timestamp(text: str) -> float:
        if text.isdigit():
            value = int(text)
            return value / 1000 if len(text) >= 13 else float(value)  # the Java SDK sends milliseconds
        try:
            return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=_CST).timestamp()
        except ValueError:
            raise ApiError(40003, "isv.timestamp-format-error", "timestamp格式错误") from None

    # ---- methods with gateway-level state -------------------------------------------------------------

    def _token_data(self, access: str, refresh: str, expires_at: float, now: float) -> dict[str, Any]:
        return {"access_token": access, "expires_in": int(expires_at - now), "refresh_token": refresh,
                "scope": "SCOPE", "shop_id": int(self.shop_id) if self.shop_id.isdigit() else self.shop_id,
                "shop_name": self.shop_name, "authority_id": "", "auth_subject_type": ""}

    def _token_create(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        grant = p.get("grant_type")
        if not grant:
            raise missing("grant_type")
        if grant == "authorization_code":
            raise ApiError(50001, "dop.token-generate-failed:code-invalid", "授权码无效(沙盒只支持自用型授权)")
        if grant != "authorization_self":
            raise invalid("grant_type")
        if p.get("shop_id") in (None, ""):
            raise missing("shop_id")
        if str(p["shop_id"]) != self.shop_id:
            raise ApiError(30001, "dop.authorization-no-existed", "店铺未授权该应用")
        return self._token_data(*self.tokens.create(now), now)

    def _token_refresh(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        if p.get("grant_type") != "refresh_token":
            raise invalid("grant_type") if p.get("grant_type") else missing("grant_type")
        token = p.get("refresh_token")
        if not token or not isinstance(token, str):
            raise missing("refresh_token")
        return self._token_data(*self.tokens.refresh(token, now), now)

    def _decrypt(self, p: dict[str, Any], now: float) -> tuple[bool, dict[str, Any]]:
        return self.book.decrypt(p, now)

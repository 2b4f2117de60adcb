"""Kuaidi100 (快递100) simulator speaking the real wire protocol: reference/suppliers-tracking-alerts.md §C.

Mounted at ``/kuaidi100`` (the provider's ``base_url`` is ``{server.url}/kuaidi100``):

* ``POST /kuaidi100/poll/query.do`` — form ``customer``, ``param``, ``sign = UPPER(MD5(param+key+customer))``.
  A wrong customer answers 600, a wrong sign 503, a used-up ``quota`` 601, an SF number without a phone
  400 (the rumoured 408 is unconfirmed), a number with no scan yet 500 "查询无结果", else the trace.
* ``POST /kuaidi100/poll`` — form ``schema=json`` and ``param`` (company, number, key, parameters{callbackurl,
  salt, resultv2, phone}): 600 for a wrong key, 700 for bad data, 501 while the number is still polling.

Failures answer HTTP 200 with ``{"result": false, "returnCode", "message"}`` as Kuaidi100 does. Histories
are scripted per number (:mod:`adapters.sandbox.kuaidi100_history`). Pushes are not sent by a thread of
this class: :meth:`deliver_pushes` POSTs what is due (the bundle calls it from its own thread) as a form
``param`` + ``sign = UPPER(MD5(param+salt))``, and retries a push whose answer is not the success JSON.
Unsigned admin endpoints: ``GET /kuaidi100/_sandbox/state``, ``POST /kuaidi100/_sandbox/scenario``
``{"number", "scenario"}``, ``POST /kuaidi100/_sandbox/fail`` ``{"code", "count"}``.
"""

from __future__ import annotations

import heapq
import hmac
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx

from syncd.adapters.kuaidi100.signing import param_json, push_sign, query_sign
from syncd.adapters.sandbox.httpserver import Response, json_response
from syncd.adapters.sandbox.kuaidi100_history import (
    DEFAULT_WEIGHTS,
    NO_CHANGE_ABORT,
    NO_RECORD_ABORT,
    SCENARIOS,
    Script,
    last_result,
    pick_scenario,
    script,
)
from syncd.carriers import CARRIERS

PREFIX = "/kuaidi100"
SANDBOX_KUAIDI100_CUSTOMER = "SANDBOXCUSTOMER2025"
SANDBOX_KUAIDI100_KEY = "sandbox-kuaidi100-key"
SANDBOX_KUAIDI100_SALT = "sandbox-salt"
KNOWN_COMS = frozenset(c.code for c in CARRIERS)
PHONE_COMS = frozenset({"shunfeng", "shunfengkuaiyun"})
MESSAGES = {"400": "提交的数据不完整，或者贵公司没授权", "500": "查询无结果，请隔段时间再查", "501": "服务器错误",
            "502": "服务器繁忙", "503": "验证签名失败", "600": "不是合法的订阅者（授权key错）",
            "601": "key已过期或没有剩余查询量", "700": "订阅数据错误", "701": "拒绝订阅的快递公司",
            "702": "识别不到该单号对应的快递公司"}
PUSH_RETRIES = 3  # Kuaidi100 retries a refused push 3 times, 35 minutes apart (C.3)


class _Refusal(Exception):
    def __init__(self, code: str, message: str = "") -> None:
        self.code, self.message = code, message or MESSAGES.get(code, "")
        super().__init__(code)


@dataclass(slots=True)
class _Subscription:
    number: str
    com: str
    callback: str
    salt: str | None
    resultv2: int
    status: str = "polling"  # polling / shutdown / abort
    pushed: tuple[Any, ...] | None = None  # fingerprint of the last answer delivered (or given up on)
    attempts: int = 0  # failed deliveries of the current answer
    due: float = 0.0


@dataclass(frozen=True, slots=True)
class PendingPush:
    """One push ready to go: where, the signed form, and what it says."""

    number: str
    url: str
    form: dict[str, str]
    status: str
    fingerprint: tuple[Any, ...]


class Kuaidi100Simulator:
    """One Kuaidi100 account; thread-safe (state under one lock, pushes sent outside it)."""

    prefix = PREFIX

    def __init__(self, customer: str, key: str, salt: str | None = None, *, clock: Callable[[], float] = time.time,
                 seed: int = 0, weights: Mapping[str, float] | None = None, fault_rate: float = 0.0,
                 quota: int | None = None, push_retry_seconds: float = 35 * 60) -> None:
        self.customer, self._key = customer, key
        self._salt = salt  # signs pushes of subscriptions that gave no salt of their own
        self.clock, self._seed = clock, seed
        self.weights = dict(weights or DEFAULT_WEIGHTS)
        if unknown := set(self.weights) - set(SCENARIOS):
            raise ValueError(f"unknown scenarios in weights: {sorted(unknown)}")
        self.fault_rate, self.quota, self.push_retry_seconds = fault_rate, quota, push_retry_seconds
        self._rng = random.Random(f"kuaidi100-faults|{seed}")  # noqa: S311 - reproducible faults
        self._lock = threading.RLock()
        self._first_seen: dict[str, float] = {}
        self._overrides: dict[str, str] = {}
        self._scenario_counts: Counter[str] = Counter()
        self._forced: list[str] = []
        self._subs: dict[str, _Subscription] = {}
        self._heap: list[tuple[float, str]] = []
        self._ready: dict[str, PendingPush] = {}
        self.calls: Counter[str] = Counter()
        self.answers: Counter[str] = Counter()  # "<api>:<returnCode>"
        self.pushes: Counter[str] = Counter()  # delivered / failed / dropped

    # ---- HTTP entry ---------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str],
               body: bytes) -> Response:
        """Answer one HTTP request under ``/kuaidi100``."""
        rest = path[len(self.prefix):] if path.startswith(self.prefix) else path
        if rest.startswith("/_sandbox"):
            return self._admin(method, rest[len("/_sandbox"):].strip("/"), body)
        api = {"/poll/query.do": "query", "/poll": "subscribe"}.get(rest)
        if api is None:
            return json_response(404, {"error": f"nothing at {path}: try {self.prefix}/poll/query.do or /poll"})
        if method != "POST":
            return json_response(405, {"error": f"{path} takes POST"})
        try:
            form = {**query, **dict(parse_qsl(body.decode(), keep_blank_values=True))}
        except UnicodeDecodeError:
            form = {}
        with self._lock:
            self.calls[api] += 1
            now = self.clock()
            try:
                self._inject()
                answer = self._query(form, now) if api == "query" else self._subscribe(form, now)
            except _Refusal as err:
                self.answers[f"{api}:{err.code}"] += 1
                return json_response(200, {"result": False, "returnCode": err.code, "message": err.message})
            self.answers[f"{api}:200"] += 1
            return json_response(200, answer)

    def _inject(self) -> None:
        if self._forced:
            raise _Refusal(self._forced.pop(0))
        if self.fault_rate > 0 and self._rng.random() < self.fault_rate:
            raise _Refusal("502" if self._rng.random() < 0.5 else "501")

    def _spend(self) -> None:
        if self.quota is not None:
            if self.quota <= 0:
                raise _Refusal("601")
            self.quota -= 1

    def _query(self, form: dict[str, str], now: float) -> dict[str, Any]:
        customer, param, sign = form.get("customer"), form.get("param"), form.get("sign")
        if not customer or not param or not sign:
            raise _Refusal("400", "提交的数据不完整：需要customer、param和sign")
        if customer != self.customer:
            raise _Refusal("600")
        if not hmac.compare_digest(sign.encode(), query_sign(param, self._key, self.customer).encode()):
            raise _Refusal("503")
        self._spend()
        p = _json_object(param)
        com, num = p.get("com"), p.get("num")
        if not isinstance(com, str) or not isinstance(num, str) or not com or not num or len(num) > 32:
            raise _Refusal("400", "提交的数据不完整：com和num必填，单号不超过32位")
        if com in PHONE_COMS and sum(ch.isdigit() for ch in str(p.get("phone") or "")) < 4:
            raise _Refusal("400", "顺丰单号需要提供寄件人或收件人手机号（可只填后四位）")
        if com not in KNOWN_COMS:
            raise _Refusal("500")
        first_seen = self._see(num, now)
        nodes = self._script(num).visible(first_seen, now)
        if not nodes:
            raise _Refusal("500")
        return last_result(num, com, nodes, first_seen, now, resultv2=_int(p.get("resultv2")),
                           desc=str(p.get("order") or "desc") != "asc")

    def _subscribe(self, form: dict[str, str], now: float) -> dict[str, Any]:
        if form.get("schema", "json") != "json" or not form.get("param"):
            raise _Refusal("700", "订阅数据错误：需要schema=json和param")
        p = _json_object(form["param"], code="700")
        if p.get("key") != self._key:
            raise _Refusal("600")
        self._spend()
        com, num, parameters = p.get("company"), p.get("number"), p.get("parameters")
        if not isinstance(num, str) or not num or len(num) > 32:
            raise _Refusal("700", "订阅数据错误：单号为空或超长")
        if not isinstance(com, str) or com not in KNOWN_COMS:
            raise _Refusal("700", "订阅数据错误：不支持的快递公司")
        callback = parameters.get("callbackurl") if isinstance(parameters, dict) else None
        if not isinstance(callback, str) or not callback.startswith(("http://", "https://")):
            raise _Refusal("700", "错误的回调地址")
        old = self._subs.get(num)
        if old is not None and old.status == "polling":
            raise _Refusal("501", "重复订阅")
        salt = parameters.get("salt") if isinstance(parameters, dict) else None
        sub = _Subscription(num, com, callback, salt if isinstance(salt, str) and salt else None,
                            _int(parameters.get("resultv2") if isinstance(parameters, dict) else None))
        self._subs[num] = sub
        self._ready.pop(num, None)
        self._see(num, now)
        self._schedule(sub, now)
        return {"result": True, "returnCode": "200", "message": "提交成功"}

    # ---- histories ----------------------------------------------------------------------------------

    def scenario(self, number: str) -> str:
        """The scenario of ``number`` (its override, else the hash's pick)."""
        return self._overrides.get(number) or pick_scenario(self._seed, number, self.weights)

    def _script(self, number: str) -> Script:
        return script(self._seed, number, self.scenario(number))

    def _see(self, number: str, now: float) -> float:
        first = self._first_seen.get(number)
        if first is None:
            first = self._first_seen[number] = now
            self._scenario_counts[self.scenario(number)] += 1
        return first

    def set_scenario(self, number: str, name: str) -> None:
        """Give ``number`` this scenario from now on (a subscription to it is looked at again at once)."""
        if name not in SCENARIOS:
            raise ValueError(f"unknown scenario {name!r}; expected one of {', '.join(SCENARIOS)}")
        with self._lock:
            if number in self._first_seen:
                self._scenario_counts[self.scenario(number)] -= 1
                self._scenario_counts[name] += 1
            self._overrides[number] = name
            sub = self._subs.get(number)
            if sub is not None and sub.status == "polling" and number not in self._ready:
                self._schedule(sub, self.clock())

    def first_seen(self, number: str) -> float | None:
        """When the simulator first saw ``number`` (query or subscription), Unix seconds."""
        with self._lock:
            return self._first_seen.get(number)

    def fail_next(self, code: str, count: int = 1) -> None:
        """The next ``count`` calls (query or subscribe) answer ``returnCode`` ``code``."""
        with self._lock:
            self._forced.extend([str(code)] * count)

    # ---- pushes -------------------------------------------------------------------------------------

    def _schedule(self, sub: _Subscription, at: float) -> None:
        sub.due = at
        heapq.heappush(self._heap, (at, sub.number))

    def _collect(self, now: float) -> None:
        """Move every subscription that is due into the ready pushes (or on to its next change)."""
        while self._heap and self._heap[0][0] <= now:
            due, number = heapq.heappop(self._heap)
            sub = self._subs.get(number)
            if sub is None or sub.due != due or sub.status != "polling" or number in self._ready:
                continue  # a stale heap entry
            push = self._push_for(sub, now)
            if push is not None:
                self._ready[number] = push
            else:
                self._schedule_next(sub, now)

    def _push_for(self, sub: _Subscription, now: float) -> PendingPush | None:
        first_seen = self._first_seen[sub.number]
        plan = self._script(sub.number)
        nodes = plan.visible(first_seen, now)
        last = last_result(sub.number, sub.com, nodes, first_seen, now, resultv2=sub.resultv2)
        status, message = "polling", ""
        if plan.scenario == "never_picked_up" and now - first_seen >= NO_RECORD_ABORT:
            status, message = "abort", "3天查询无记录"
        elif nodes and now - (first_seen + nodes[-1].offset) >= NO_CHANGE_ABORT:
            status, message = "abort", "60天无变化"
        elif last["ischeck"] == "1":
            status = "shutdown"
        fingerprint = (status, len(nodes), last["state"], nodes[-1].status_code if nodes else "",
                       json.dumps(last["data"][:1], ensure_ascii=False))
        if status == "polling" and (not nodes or fingerprint == sub.pushed):
            return None
        param = param_json({"status": status, "billstatus": "got" if status == "polling" else "check",
                            "message": message, "autoCheck": "0", "comOld": "", "comNew": "", "lastResult": last})
        form = {"param": param}
        salt = sub.salt or self._salt
        if salt:
            form["sign"] = push_sign(param, salt)
        return PendingPush(sub.number, sub.callback, form, status, fingerprint)

    def _schedule_next(self, sub: _Subscription, now: float) -> None:
        first_seen = self._first_seen[sub.number]
        plan = self._script(sub.number)
        times = [t for t in (plan.next_change(first_seen, now),) if t is not None]
        if plan.scenario == "never_picked_up":
            times.append(first_seen + NO_RECORD_ABORT)
        nodes = plan.visible(first_seen, now)
        if nodes:
            times.append(first_seen + nodes[-1].offset + NO_CHANGE_ABORT)
        later = [t for t in times if t > now]
        if later:
            self._schedule(sub, min(later))

    def pending_pushes(self) -> list[PendingPush]:
        """The pushes due now (calling it changes nothing but moving due work into this list)."""
        with self._lock:
            self._collect(self.clock())
            return list(self._ready.values())

    def deliver_pushes(self, http: httpx.Client) -> dict[str, int]:
        """POST every due push; a reply other than the success JSON is retried later (at most 3 times)."""
        pushes = self.pending_pushes()
        outcomes: list[tuple[PendingPush, bool]] = []
        for push in pushes:  # outside the lock: the receiver may query this simulator while answering
            try:
                resp = http.post(push.url, content=urlencode(push.form).encode(),
                                 headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
                outcomes.append((push, resp.status_code == 200 and _accepted(resp.content)))
            except httpx.HTTPError:
                outcomes.append((push, False))
        done = Counter[str]()
        with self._lock:
            now = self.clock()
            for push, ok in outcomes:
                sub = self._subs.get(push.number)
                if sub is None or self._ready.get(push.number) is not push:
                    continue  # resubscribed meanwhile
                del self._ready[push.number]
                if not ok:
                    self.pushes["failed"] += 1
                    done["failed"] += 1
                    sub.attempts += 1
                    if sub.attempts <= PUSH_RETRIES:
                        self._schedule(sub, now + self.push_retry_seconds)
                        continue
                    self.pushes["dropped"] += 1
                else:
                    self.pushes["delivered"] += 1
                    done["delivered"] += 1
                sub.attempts, sub.pushed = 0, push.fingerprint
                if push.status in ("shutdown", "abort"):
                    sub.status = push.status
                else:
                    self._schedule_next(sub, now)
        return {"delivered": done["delivered"], "failed": done["failed"]}

    def subscription(self, number: str) -> dict[str, Any] | None:
        """What the simulator holds for a subscribed number (callback, status), or None."""
        with self._lock:
            sub = self._subs.get(number)
            return None if sub is None else {"com": sub.com, "callbackurl": sub.callback, "status": sub.status,
                                             "salted": sub.salt is not None, "attempts": sub.attempts}

    # ---- admin --------------------------------------------------------------------------------------

    def tracking_config(self, base_url: str) -> dict[str, Any]:
        """A complete ``tracking.yaml`` for the Kuaidi100 provider against this simulator, secrets inline."""
        cfg: dict[str, Any] = {"provider": "kuaidi100", "customer": self.customer, "key": self._key,
                               "base_url": base_url}
        if self._salt:
            cfg["salt"] = self._salt
        return cfg

    def snapshot(self) -> dict[str, Any]:
        """Calls, answers per code, numbers seen per scenario, subscriptions per status, pushes."""
        with self._lock:
            subs = Counter(s.status for s in self._subs.values())
            return {"now": self.clock(), "calls": dict(self.calls), "answers": dict(sorted(self.answers.items())),
                    "numbers": len(self._first_seen),
                    "scenarios": {k: v for k, v in sorted(self._scenario_counts.items()) if v},
                    "subscriptions": {"total": len(self._subs), **dict(sorted(subs.items()))},
                    "pushes": {"delivered": self.pushes["delivered"], "failed": self.pushes["failed"],
                               "dropped": self.pushes["dropped"], "pending": len(self._ready)},
                    "quota_left": self.quota}

    def _admin(self, method: str, action: str, body: bytes) -> Response:
        if method == "GET" and action == "state":
            return json_response(200, self.snapshot())
        if method != "POST" or action not in ("scenario", "fail"):
            return json_response(404, {"error": f"no admin action {method} {action!r}"})
        try:
            data = json.loads(body or b"{}")
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            if action == "scenario":
                self.set_scenario(str(data["number"]), str(data["scenario"]))
            else:
                self.fail_next(str(data["code"]), int(data.get("count", 1)))
        except (ValueError, KeyError, TypeError) as err:
            return json_response(400, {"error": f"{type(err).__name__}: {err}"})
        return json_response(200, {"ok": True})


def _json_object(text: str, code: str = "400") -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise _Refusal(code, "param不是合法的JSON") from None
    if not isinstance(value, dict):
        raise _Refusal(code, "param必须是JSON对象")
    return value


def _int(value: Any) -> int:
    text = str(value if value is not None else "").strip()
    return int(text) if text.isdigit() else 0


def _accepted(body: bytes) -> bool:
    try:
        reply = json.loads(body)
    except ValueError:
        return False
    return isinstance(reply, dict) and reply.get("result") is True and str(reply.get("returnCode")) == "200"

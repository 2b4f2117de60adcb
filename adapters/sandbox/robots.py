"""Alert robot simulators (reference §E.1–E.4, and syncd's signed webhook), mounted at ``/robots``.

==========  ===============================================  =============================================
robot       path                                             refuses like the real service
==========  ===============================================  =============================================
DingTalk    ``/robots/dingtalk/robot/send?access_token=``    unknown token 300001; signed robot: timestamp
                                                             (ms) over 1 h off or sign mismatch 310000;
                                                             keyword missing 310000; markdown without
                                                             title / text 400402; 21st in a minute
                                                             130101 and muted 10 minutes
WeCom       ``/robots/wecom/cgi-bin/webhook/send?key=``      unknown key 93000; content over 4096 bytes
                                                             (markdown) / 2048 (text) 40058; 21st in a
                                                             minute 45009
Feishu      ``/robots/feishu/open-apis/bot/v2/hook/<tok>``   unknown token 19001; signed bot: timestamp (s)
                                                             over 1 h off or sign mismatch 19021; keyword
                                                             19024; over 100 a minute or 5 a second 11232
Slack       ``/robots/slack/services/<T>/<B>/<X>``           unknown path 404 ``no_service``; bad JSON 400
                                                             ``invalid_payload``; no text 400 ``no_text``;
                                                             over 60 a minute 429 + Retry-After
webhook     ``/robots/webhook/<name>``                       signed (when a secret is set): timestamp over
                                                             5 min off or bad signature 401
==========  ===============================================  =============================================

The robots answer their errors in an HTTP 200 body, as the real ones do; codes the reference does not
give (300001, 40035, 40058, 19001, 19002, 460101) are the simulator's choice. ``secrets`` maps a kind
(``dingtalk``, ``feishu``, ``webhook``) to its signing secret: a kind without one accepts unsigned
requests. ``keywords`` maps a kind to a custom keyword its messages must contain. :meth:`fail_next`
makes the next N requests of a kind answer the service's transient error (DingTalk / WeCom errcode
-1, Feishu / Slack HTTP 500, webhook HTTP 503).

Unsigned admin endpoints: ``GET /robots/_sandbox/state``, ``GET /robots/_sandbox/messages/<kind>``,
``POST /robots/_sandbox/fail`` ``{"kind": ..., "count": N}``.
"""

from __future__ import annotations

import copy
import hmac
import json
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from typing import Any

from syncd.adapters.alerts.signing import dingtalk_sign, feishu_sign, webhook_signature
from syncd.adapters.sandbox.httpserver import Response, json_response

PREFIX = "/robots"
KINDS = ("dingtalk", "wecom", "feishu", "slack", "webhook")
ROBOT_TOKENS: dict[str, str] = {
    "dingtalk": "sandbox-dingtalk-access-token",
    "wecom": "sandbox-wecom-key-0000",
    "feishu": "sandbox-feishu-hook-token",
    "slack": "T0SANDBOX/B0SANDBOX/sandboxslacktoken",
}
SIGNED_WINDOW = 3600  # DingTalk and Feishu: the timestamp within one hour
WEBHOOK_WINDOW = 300
DINGTALK_MUTE = 600
LIMITS: dict[str, tuple[tuple[int, float], ...]] = {
    "dingtalk": ((20, 60.0),), "wecom": ((20, 60.0),), "feishu": ((100, 60.0), (5, 1.0)), "slack": ((60, 60.0),),
}
DINGTALK_MAX = 20_000
FEISHU_MAX = 20 * 1024
WECOM_MAX = {"markdown": 4096, "text": 2048}
_PLAIN = {"Content-Type": "text/plain; charset=utf-8"}


class _Refused(Exception):
    """A refusal: the HTTP answer to give."""

    def __init__(self, response: Response, tag: str) -> None:
        super().__init__(tag)
        self.response = response
        self.tag = tag


def _errcode(code: int, msg: str) -> _Refused:
    """DingTalk's and WeCom's shape: ``{"errcode", "errmsg"}`` over HTTP 200."""
    return _Refused(json_response(200, {"errcode": code, "errmsg": msg}), str(code))


def _feishu_error(code: int, msg: str) -> _Refused:
    return _Refused(json_response(200, {"code": code, "msg": msg, "data": {}}), str(code))


def _slack_error(status: int, reason: str, headers: Mapping[str, str] | None = None) -> _Refused:
    return _Refused((status, {**_PLAIN, **(headers or {})}, reason.encode()), reason)


class RobotSimulator:
    """One robot of each kind (one webhook receiver per name); thread-safe."""

    prefix = PREFIX

    def __init__(self, *, clock: Callable[[], float] = time.time, secrets: Mapping[str, str] | None = None,
                 tokens: Mapping[str, str] | None = None, keywords: Mapping[str, str] | None = None) -> None:
        self.clock = clock
        self.secrets = dict(secrets or {})
        self.tokens = {**ROBOT_TOKENS, **(tokens or {})}
        self.keywords = dict(keywords or {})
        self._lock = threading.Lock()
        self._accepted: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
        self._sent: dict[str, deque[float]] = {kind: deque() for kind in KINDS}
        self._muted_until: dict[str, float] = {}
        self._forced: Counter[str] = Counter()
        self.refused: dict[str, Counter[str]] = {kind: Counter() for kind in KINDS}
        self.requests: Counter[str] = Counter()

    # ---- HTTP entry ---------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str],
               body: bytes) -> Response:
        """Answer one HTTP request under ``/robots``."""
        rest = path[len(self.prefix):] if path.startswith(self.prefix) else path
        if rest.startswith("/_sandbox/"):
            return self._admin(method, rest[len("/_sandbox/"):], body)
        kind, _, tail = rest.strip("/").partition("/")
        if kind not in KINDS:
            return json_response(404, {"error": f"no robot at {path}"})
        if method != "POST":
            return json_response(405, {"error": "robots take POST"})
        with self._lock:
            now = self.clock()
            self.requests[kind] += 1
            try:
                record = self._check(kind, tail, query, headers, body, now)
            except _Refused as refusal:
                self.refused[kind][refusal.tag] += 1
                return refusal.response
            self._sent[kind].append(now)
            self._accepted[kind].append({"kind": kind, "at": now, **record})
        return self._success(kind)

    def _check(self, kind: str, tail: str, query: dict[str, str], headers: Mapping[str, str], body: bytes,
               now: float) -> dict[str, Any]:
        if kind == "dingtalk":
            return self._dingtalk(tail, query, body, now)
        if kind == "wecom":
            return self._wecom(tail, query, body, now)
        if kind == "feishu":
            return self._feishu(tail, body, now)
        if kind == "slack":
            return self._slack(tail, body, now)
        return self._webhook(tail, headers, body, now)

    @staticmethod
    def _success(kind: str) -> Response:
        if kind in ("dingtalk", "wecom"):
            return json_response(200, {"errcode": 0, "errmsg": "ok"})
        if kind == "feishu":
            return json_response(200, {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {},
                                       "msg": "success"})
        if kind == "slack":
            return 200, dict(_PLAIN), b"ok"
        return json_response(200, {"ok": True})

    # ---- the robots ---------------------------------------------------------------------------------

    def _dingtalk(self, tail: str, query: dict[str, str], body: bytes, now: float) -> dict[str, Any]:
        if tail != "robot/send":
            raise _Refused(json_response(404, {"errcode": 404, "errmsg": "not found"}), "404")
        if not hmac.compare_digest(query.get("access_token", ""), self.tokens["dingtalk"]):
            raise _errcode(300001, "token is not exist")
        secret = self.secrets.get("dingtalk")
        if secret:
            stamp = query.get("timestamp", "")
            if not stamp.isdigit() or abs(int(stamp) - now * 1000) > SIGNED_WINDOW * 1000:
                raise _errcode(310000, "invalid timestamp")
            if not hmac.compare_digest(query.get("sign", ""), dingtalk_sign(secret, int(stamp))):
                raise _errcode(310000, "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]")
        if self._forced["dingtalk"]:
            self._forced["dingtalk"] -= 1
            raise _errcode(-1, "系统繁忙")
        if now < self._muted_until.get("dingtalk", 0.0):
            raise _errcode(130101, "send too fast, exceed 20 times per minute")
        if self._over("dingtalk", now):
            self._muted_until["dingtalk"] = now + DINGTALK_MUTE
            raise _errcode(130101, "send too fast, exceed 20 times per minute")
        if len(body) > DINGTALK_MAX:
            raise _errcode(460101, f"message too long, exceed {DINGTALK_MAX} bytes")
        data = _json_object(body)
        if data is None:
            raise _errcode(40035, "缺少参数 json")
        msgtype = data.get("msgtype")
        if msgtype == "markdown":
            md = _part(data, "markdown")
            if not _text(md.get("title")) or not _text(md.get("text")):
                raise _errcode(400402, "缺少参数 markdown.title 或 markdown.text")
            content = f"{md['title']}\n{md['text']}"
        elif msgtype == "text":
            tx = _part(data, "text")
            if not _text(tx.get("content")):
                raise _errcode(400402, "缺少参数 text.content")
            content = tx["content"]
        else:
            raise _errcode(40035, f"不合法的参数 msgtype: {msgtype!r}")
        keyword = self.keywords.get("dingtalk")
        if keyword and keyword not in content:
            raise _errcode(310000, "keywords not in content, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]")
        return {"body": data, "text": content}

    def _wecom(self, tail: str, query: dict[str, str], body: bytes, now: float) -> dict[str, Any]:
        if tail != "cgi-bin/webhook/send":
            raise _Refused(json_response(404, {"errcode": 404, "errmsg": "not found"}), "404")
        if not hmac.compare_digest(query.get("key", ""), self.tokens["wecom"]):
            raise _errcode(93000, "invalid webhook url, hint: [1700000000_sandbox], from ip: 127.0.0.1")
        if self._forced["wecom"]:
            self._forced["wecom"] -= 1
            raise _errcode(-1, "system busy")
        if self._over("wecom", now):
            raise _errcode(45009, "api freq out of limit, hint: [1700000000_sandbox]")
        data = _json_object(body)
        msgtype = data.get("msgtype") if data else None
        if data is None or msgtype not in WECOM_MAX:
            raise _errcode(40008, "invalid message type")
        content = _part(data, msgtype).get("content")
        if not isinstance(content, str) or not content.strip():
            raise _errcode(40058, f"{msgtype}.content exceed min length 1")
        if len(content.encode()) > WECOM_MAX[msgtype]:
            raise _errcode(40058, f"{msgtype}.content exceed max length {WECOM_MAX[msgtype]}")
        return {"body": data, "text": content}

    def _feishu(self, tail: str, body: bytes, now: float) -> dict[str, Any]:
        head, _, token = tail.rpartition("/")
        if head != "open-apis/bot/v2/hook" or not hmac.compare_digest(token, self.tokens["feishu"]):
            raise _feishu_error(19001, "param invalid: incoming webhook access token invalid")
        if len(body) > FEISHU_MAX:
            raise _feishu_error(19002, "params error: request body over 20 KB")
        data = _json_object(body)
        if data is None:
            raise _feishu_error(9499, "Bad Request")
        secret = self.secrets.get("feishu")
        if secret:
            stamp, sign = data.get("timestamp"), data.get("sign")
            if (not isinstance(stamp, str) or not stamp.isdigit() or abs(int(stamp) - now) > SIGNED_WINDOW
                    or not isinstance(sign, str) or not hmac.compare_digest(sign, feishu_sign(secret, int(stamp)))):
                raise _feishu_error(19021, "sign match fail or timestamp is not within one hour from current time")
        if self._forced["feishu"]:
            self._forced["feishu"] -= 1
            raise _Refused(json_response(500, {"code": 500, "msg": "internal error"}), "500")
        if self._over("feishu", now):
            raise _feishu_error(11232, "frequency limited psm[lark.oapi.app_platform_runtime]")
        msg_type, content = data.get("msg_type"), data.get("content")
        if msg_type not in ("text", "post", "interactive", "image", "share_chat") or not isinstance(content, dict):
            raise _feishu_error(19002, "params error, msg_type need")
        text = json.dumps(content, ensure_ascii=False)
        keyword = self.keywords.get("feishu")
        if keyword and keyword not in text:
            raise _feishu_error(19024, "Key Words Not Found")
        return {"body": data, "text": text}

    def _slack(self, tail: str, body: bytes, now: float) -> dict[str, Any]:
        head, _, token = tail.partition("/")
        if head != "services" or not hmac.compare_digest(token, self.tokens["slack"]):
            raise _slack_error(404, "no_service")
        if self._forced["slack"]:
            self._forced["slack"] -= 1
            raise _slack_error(500, "internal_error")
        wait = self._wait("slack", now)
        if wait > 0:
            raise _slack_error(429, "rate_limited", {"Retry-After": str(math.ceil(wait))})
        data = _json_object(body)
        if data is None:
            raise _slack_error(400, "invalid_payload")
        if not _text(data.get("text")) and not data.get("blocks"):
            raise _slack_error(400, "no_text")
        return {"body": data, "text": data.get("text") or ""}

    def _webhook(self, name: str, headers: Mapping[str, str], body: bytes, now: float) -> dict[str, Any]:
        if not name or "/" in name:
            raise _Refused(json_response(404, {"error": "a webhook path is /robots/webhook/<name>"}), "404")
        secret = self.secrets.get("webhook")
        if secret:
            stamp = headers.get("x-syncd-timestamp", "")
            if not stamp.isdigit() or abs(int(stamp) - now) > WEBHOOK_WINDOW:
                raise _Refused(json_response(401, {"error": "missing or stale X-Syncd-Timestamp"}), "401")
            given = headers.get("x-syncd-signature", "")
            if not hmac.compare_digest(given, webhook_signature(secret, int(stamp), body)):
                raise _Refused(json_response(401, {"error": "bad X-Syncd-Signature"}), "401")
        if self._forced["webhook"]:
            self._forced["webhook"] -= 1
            raise _Refused(json_response(503, {"error": "busy"}), "503")
        data = _json_object(body)
        fields = {"title": str, "severity": str, "lines": list, "text": str, "sent_at": str}
        if data is None or any(not isinstance(data.get(k), t) for k, t in fields.items()):
            raise _Refused(json_response(400, {"error": f"expected a JSON object with {sorted(fields)}"}), "400")
        return {"body": data, "text": data["text"], "name": name}

    # ---- rate windows ---------------------------------------------------------------------------------

    def _wait(self, kind: str, now: float) -> float:
        """Seconds until ``kind`` accepts another message (0 when it would now)."""
        limits = LIMITS.get(kind, ())
        sent = self._sent[kind]
        while sent and sent[0] <= now - 60:
            sent.popleft()
        wait = 0.0
        for count, seconds in limits:
            recent = [t for t in sent if t > now - seconds]
            if len(recent) >= count:
                wait = max(wait, recent[-count] + seconds - now)
        return wait

    def _over(self, kind: str, now: float) -> bool:
        return self._wait(kind, now) > 0

    # ---- control and inspection -----------------------------------------------------------------------

    def fail_next(self, kind: str, count: int = 1) -> None:
        """The next ``count`` authentic requests to ``kind`` answer the service's transient error."""
        if kind not in KINDS:
            raise ValueError(f"unknown robot {kind!r}; expected one of {', '.join(KINDS)}")
        with self._lock:
            self._forced[kind] += count

    def messages(self, kind: str) -> list[dict[str, Any]]:
        """Accepted messages of ``kind``, oldest first: ``{"kind", "at", "body", "text"[, "name"]}``."""
        if kind not in KINDS:
            raise ValueError(f"unknown robot {kind!r}; expected one of {', '.join(KINDS)}")
        with self._lock:
            return copy.deepcopy(self._accepted[kind])

    def snapshot(self) -> dict[str, Any]:
        """Requests, accepted messages and refusals (by code) per robot; DingTalk's mute."""
        with self._lock:
            now = self.clock()
            return {
                "requests": {k: self.requests[k] for k in KINDS},
                "accepted": {k: len(v) for k, v in self._accepted.items()},
                "refused": {k: dict(c) for k, c in self.refused.items()},
                "dingtalk_muted_for": max(0.0, self._muted_until.get("dingtalk", 0.0) - now),
                "pending_failures": {k: n for k, n in self._forced.items() if n},
            }

    def channels(self, base_url: str) -> list[dict[str, Any]]:
        """``alerts.yaml`` channel entries pointing at this simulator (secrets inline, for the sandbox)."""
        root = f"{base_url.rstrip('/')}{self.prefix}"
        out: list[dict[str, Any]] = [
            {"id": "sandbox-dingtalk", "kind": "dingtalk", "base_url": f"{root}/dingtalk",
             "access_token": self.tokens["dingtalk"]},
            {"id": "sandbox-wecom", "kind": "wecom", "base_url": f"{root}/wecom", "key": self.tokens["wecom"]},
            {"id": "sandbox-feishu", "kind": "feishu", "base_url": f"{root}/feishu", "token": self.tokens["feishu"]},
            {"id": "sandbox-slack", "kind": "slack", "webhook_url": f"{root}/slack/services/{self.tokens['slack']}"},
            {"id": "sandbox-webhook", "kind": "webhook", "url": f"{root}/webhook/sandbox"},
        ]
        for entry in out:
            kind = entry["kind"]
            if kind in ("dingtalk", "feishu", "webhook") and self.secrets.get(kind):
                entry["secret"] = self.secrets[kind]
            if kind in ("dingtalk", "feishu") and self.keywords.get(kind):
                entry["keyword"] = self.keywords[kind]
        return out

    def _admin(self, method: str, route: str, body: bytes) -> Response:
        if method == "GET" and route == "state":
            return json_response(200, self.snapshot())
        head, _, arg = route.partition("/")
        if method == "GET" and head == "messages" and arg in KINDS:
            return json_response(200, {"messages": self.messages(arg)})
        if method == "POST" and route == "fail":
            data = _json_object(body) or {}
            kind, count = data.get("kind"), data.get("count", 1)
            if kind not in KINDS or isinstance(count, bool) or not isinstance(count, int) or count < 0:
                return json_response(400, {"error": f'expected {{"kind": one of {list(KINDS)}, "count": N}}'})
            self.fail_next(kind, count)
            return json_response(200, {"pending": count})
        return json_response(404, {"error": f"no admin endpoint {method} _sandbox/{route}"})


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _part(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())

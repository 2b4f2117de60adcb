"""A tiny signed Douyin client for the simulator tests (independent of the Douyin adapter)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from syncd.adapters.douyin.signing import canonical_param_json, sign
from syncd.adapters.sandbox.seed import SANDBOX_APP_KEY, SANDBOX_APP_SECRET, SANDBOX_SHOP_ID


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class SignedClient:
    """Signs and posts Douyin calls the way the platform documents (reference §1.1–1.2)."""

    def __init__(self, http: httpx.Client, clock: Callable[[], float], app_key: str = SANDBOX_APP_KEY,
                 secret: str = SANDBOX_APP_SECRET) -> None:
        self.http, self.clock, self.app_key, self.secret = http, clock, app_key, secret
        self.token: str | None = None

    def query(self, method: str, param_json: str, *, sign_method: str | None = "hmac-sha256",
              timestamp: str | None = None, token: str | None = None, **override: str) -> dict[str, str]:
        ts = timestamp or str(int(self.clock()))
        q = {"app_key": self.app_key, "method": method, "timestamp": ts, "v": "2",
             "sign": sign(self.app_key, self.secret, method, param_json, ts, sign_method or "md5")}
        if sign_method is not None:
            q["sign_method"] = sign_method
        if token or self.token:
            q["access_token"] = token or self.token or ""
        q.update(override)
        return q

    def raw(self, method: str, body: str, query: dict[str, str], path: str | None = None) -> dict[str, Any]:
        r = self.http.post(path or "/" + method.replace(".", "/"), params=query, content=body.encode(),
                           headers={"Content-Type": "application/json"})
        assert r.status_code == 200
        out: dict[str, Any] = r.json()
        return out

    def call(self, method: str, params: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        pj = canonical_param_json(params or {})
        return self.raw(method, pj, self.query(method, pj, **kw))

    def login(self) -> dict[str, Any]:
        answer = self.call("token.create", {"code": "", "grant_type": "authorization_self",
                                            "shop_id": SANDBOX_SHOP_ID})
        assert answer["code"] == 10000, answer
        self.token = answer["data"]["access_token"]
        return answer

    def admin_state(self) -> dict[str, Any]:
        out: dict[str, Any] = self.http.get("/_sandbox/state").json()
        return out

    def admin(self, route: str, payload: dict[str, Any]) -> httpx.Response:
        return self.http.post(f"/_sandbox/{route}", json=payload)

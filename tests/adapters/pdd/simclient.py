"""A small signed client and fixtures for the Pinduoduo simulator tests (tests/sandbox/test_pdd_*.py).

Independent of the adapter's client: it builds the form by hand from the reference's rules, so a
simulator test does not pass merely because both sides share a bug.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from syncd.adapters.sandbox.httpserver import SandboxServer
from syncd.adapters.sandbox.pdd_seed import (
    SANDBOX_PDD_ACCESS_TOKEN,
    SANDBOX_PDD_CLIENT_ID,
    SANDBOX_PDD_CLIENT_SECRET,
    SANDBOX_PDD_MALL_ID,
    generate_pdd_orders,
)
from syncd.adapters.sandbox.pdd_sim import PddSimulator


def md5_sign(params: dict[str, str], secret: str) -> str:
    text = secret + "".join(k + params[k] for k in sorted(params) if k != "sign") + secret
    return hashlib.md5(text.encode()).hexdigest().upper()


class PddSignedClient:
    """Signs and posts router calls the way reference/storefronts.md §2.1–2.2 documents."""

    def __init__(self, http: httpx.Client, clock: Callable[[], float], client_id: str = SANDBOX_PDD_CLIENT_ID,
                 secret: str = SANDBOX_PDD_CLIENT_SECRET) -> None:
        self.http, self.clock, self.client_id, self.secret = http, clock, client_id, secret
        self.token: str | None = SANDBOX_PDD_ACCESS_TOKEN

    def form(self, api: str, params: dict[str, str] | None = None, *, token: str | None = None,
             timestamp: str | None = None, **override: str) -> dict[str, str]:
        out = {"type": api, "client_id": self.client_id, "timestamp": timestamp or str(int(self.clock())),
               "data_type": "JSON", **(params or {})}
        if (token or self.token) and api not in ("pdd.pop.auth.token.refresh", "pdd.pop.auth.token.create"):
            out["access_token"] = token or self.token or ""
        out["sign"] = md5_sign(out, self.secret)
        out.update(override)
        return out

    def post(self, form: dict[str, str]) -> dict[str, Any]:
        response = self.http.post("", data=form)
        assert response.status_code == 200
        body: dict[str, Any] = response.json()
        return body

    def call(self, api: str, params: dict[str, str] | None = None, **kw: Any) -> dict[str, Any]:
        """The whole answer: ``{"<name>_response": …}`` or ``{"error_response": …}``."""
        return self.post(self.form(api, params, **kw))

    def ok(self, api: str, params: dict[str, str] | None = None, **kw: Any) -> dict[str, Any]:
        """The inner object of a success; fails the test on an error_response."""
        body = self.call(api, params, **kw)
        assert "error_response" not in body, body
        (inner,) = body.values()
        assert isinstance(inner, dict)
        return inner

    def error(self, api: str, params: dict[str, str] | None = None, **kw: Any) -> dict[str, Any]:
        """The error_response of a refusal; fails the test on a success."""
        body = self.call(api, params, **kw)
        assert "error_response" in body, body
        err: dict[str, Any] = body["error_response"]
        return err


MakePdd = Callable[..., tuple[PddSimulator, PddSignedClient]]


@pytest.fixture
def make_pdd(clock: Callable[[], float]) -> Iterator[MakePdd]:
    """Factory: a PDD simulator (kwargs go to PddSimulator) on a real server, and a signed client to it."""
    servers: list[SandboxServer] = []
    clients: list[httpx.Client] = []

    def make(n: int = 60, order_seed: int = 7, **kw: Any) -> tuple[PddSimulator, PddSignedClient]:
        orders = kw.pop("orders", None)
        if orders is None:
            orders = generate_pdd_orders(n, order_seed, clock())
        kw.setdefault("clock", clock)
        sim = PddSimulator(SANDBOX_PDD_CLIENT_ID, SANDBOX_PDD_CLIENT_SECRET, SANDBOX_PDD_MALL_ID, orders, **kw)
        server = SandboxServer()
        server.mount(sim.prefix, sim)
        server.start()
        servers.append(server)
        http = httpx.Client(base_url=server.url + sim.prefix, timeout=10)
        clients.append(http)
        return sim, PddSignedClient(http, clock)

    yield make
    for http in clients:
        http.close()
    for server in servers:
        server.stop()


@pytest.fixture
def pdd(make_pdd: MakePdd) -> tuple[PddSimulator, PddSignedClient]:
    """A simulator with 60 seeded orders, no faults, and a client holding the pre-issued token."""
    return make_pdd()

"""Fixtures: a Douyin simulator on a real 127.0.0.1 server, driven by a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from syncd.adapters.sandbox.douyin_sim import DouyinSimulator
from syncd.adapters.sandbox.httpserver import SandboxServer
from syncd.adapters.sandbox.seed import SANDBOX_APP_KEY, SANDBOX_APP_SECRET, SANDBOX_SHOP_ID, generate_orders
from tests.sandbox.helpers import FakeClock, SignedClient


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_sim(clock: FakeClock) -> Iterator[Any]:
    """Factory: start a simulator (kwargs go to DouyinSimulator) and get a signed client to it."""
    servers: list[SandboxServer] = []
    clients: list[httpx.Client] = []

    def make(n: int = 60, order_seed: int = 7, **kw: Any) -> tuple[DouyinSimulator, SignedClient]:
        orders = kw.pop("orders", None)
        if orders is None:
            orders = generate_orders(n, order_seed, clock())
        kw.setdefault("clock", clock)
        sim = DouyinSimulator(SANDBOX_APP_KEY, SANDBOX_APP_SECRET, SANDBOX_SHOP_ID, orders, **kw)
        server = SandboxServer()
        server.mount("/douyin", sim)
        server.start()
        servers.append(server)
        http = httpx.Client(base_url=server.url + "/douyin", timeout=10)
        clients.append(http)
        return sim, SignedClient(http, clock)

    yield make
    for http in clients:
        http.close()
    for server in servers:
        server.stop()


@pytest.fixture
def douyin(make_sim: Any) -> tuple[DouyinSimulator, SignedClient]:
    """A simulator with 60 seeded orders, no faults, and a logged-in client."""
    sim, client = make_sim()
    client.login()
    return sim, client

"""The supplier stock contract (syncd/stockmodel.py SupplierStockSource), one suite over every API supplier:
the 1688 and webhook adapters, each against its simulator on a real 127.0.0.1 server, built as the daemon
builds them (the registry plugin over the simulator's supplier file)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import time_machine

from syncd import registry
from syncd.adapters.sandbox.alibaba_seed import SANDBOX_1688_APP_KEY, SANDBOX_1688_APP_SECRET
from syncd.adapters.sandbox.alibaba_sim import AlibabaSimulator
from syncd.adapters.sandbox.httpserver import Response, SandboxServer, json_response
from syncd.adapters.sandbox.webhook_supplier_sim import WebhookSupplierSimulator
from syncd.errors import RejectedError
from syncd.ratelimit import RateLimiter
from syncd.registry import AdapterContext
from syncd.retry import RetryPolicy
from syncd.stockmodel import SupplierStockSource
from tests.fakes import FakeTokenStore

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


class Inbox:
    """The daemon's push endpoint, recording what arrives (the test hands it to the adapter)."""

    def __init__(self) -> None:
        self.pushes: list[tuple[dict[str, str], bytes]] = []

    def handle(self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str],
               body: bytes) -> Response:
        self.pushes.append((dict(headers), body))
        return json_response(200, {"ok": True})


@dataclass
class Supplier:
    adapter: SupplierStockSource
    skus: list[str]  # SKUs the simulator carries, the first one at stock > 0
    unknown: str  # a SKU it does not carry
    set_stock: Callable[[str, int], None]
    set_price: Callable[[str, int], None]
    push: Callable[[httpx.Client], int]  # deliver pending pushes; how many
    inbox: Inbox


def _ctx(http: httpx.Client, tmp_path: Path) -> AdapterContext:
    policy = RetryPolicy(attempts=3, max_seconds=600, initial_wait=0, max_wait=0, sleep=lambda s: None)
    return AdapterContext(http=http, tokens=FakeTokenStore(), data_dir=tmp_path, retry=policy,
                          limiter=RateLimiter(sleep=lambda s: None))


def _adapter(kind: str, raw: dict[str, Any], ctx: AdapterContext) -> SupplierStockSource:
    registry.load_builtin()
    plugin = registry.SUPPLIERS[kind]
    adapter = plugin.factory(plugin.config_model.model_validate(raw), ctx)
    assert isinstance(adapter, SupplierStockSource)
    return adapter


@pytest.fixture(params=["1688", "webhook"])
def supplier(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Supplier]:
    with time_machine.travel(NOW, tick=False), httpx.Client(timeout=10) as http:
        server, inbox = SandboxServer(), Inbox()
        server.mount("/callbacks", inbox)
        server.start()
        try:
            if request.param == "1688":
                sim = AlibabaSimulator(SANDBOX_1688_APP_KEY, SANDBOX_1688_APP_SECRET, seed=3,
                                       push_url=server.url + "/callbacks/1688")
                server.mount(sim.prefix, sim)
                adapter = _adapter("1688", sim.supplier_config(server.url + sim.prefix), _ctx(http, tmp_path))
                yield Supplier(adapter, ["610000001:a1b2c3d4e5f60718293a4b5c6d7e8f90", "610000004"], "610000999",
                               sim.set_stock, sim.set_price, lambda h: sim.deliver_messages(h), inbox)
            else:
                hook = WebhookSupplierSimulator("sandbox-webhook-secret-0123456789", seed=3, stock={"TEE-RED-M": 35},
                                                reject_skus=["NOT-OURS"], supplier_id="webhook-demo",
                                                stock_push_url=server.url + "/callbacks/suppliers/webhook-demo/stock")
                server.mount(hook.prefix, hook)
                adapter = _adapter("webhook", hook.supplier_config(server.url), _ctx(http, tmp_path))
                yield Supplier(adapter, ["TEE-RED-M", "SOCK-5P"], "NOT-OURS", hook.set_stock, hook.set_price,
                               hook.deliver_stock_pushes, inbox)
        finally:
            server.stop()


def test_every_sku_asked_is_answered_once_as_a_figure_a_failure_or_deferred(supplier: Supplier) -> None:
    asked = [*supplier.skus, supplier.unknown]

    result = supplier.adapter.read_stock(asked)

    places = [s.supplier_sku for s in result.stock] + list(result.failed) + list(result.deferred)
    assert sorted(places) == sorted(asked)
    known = {s.supplier_sku: s for s in result.stock}
    for sku in supplier.skus:
        quantity, price = known[sku].quantity, known[sku].price_fen
        assert isinstance(quantity, int) and quantity >= 0
        assert isinstance(price, int) and price > 0
    assert supplier.unknown not in known or known[supplier.unknown].quantity == 0


def test_a_supplier_at_zero_and_a_price_rise_show_on_the_next_read(supplier: Supplier) -> None:
    sku = supplier.skus[0]
    before = supplier.adapter.read_stock([sku]).stock[0]
    assert before.quantity and before.price_fen

    supplier.set_stock(sku, 0)
    supplier.set_price(sku, before.price_fen + 500)
    after = supplier.adapter.read_stock([sku]).stock[0]

    assert (after.quantity, after.price_fen) == (0, before.price_fen + 500)


def test_a_pushed_change_is_verified_and_read_then_its_replay_refused(supplier: Supplier) -> None:
    sku = supplier.skus[0]
    supplier.adapter.read_stock(supplier.skus)  # as the scheduled read does first (1688 learns its skuId map)
    supplier.set_stock(sku, 0)
    with httpx.Client(timeout=10) as http:
        assert supplier.push(http) >= 1
    headers, body = supplier.inbox.pushes[0]

    figures = supplier.adapter.parse_stock_push(headers, body, datetime.now(UTC))

    assert [(s.supplier_sku, s.quantity) for s in figures if s.supplier_sku == sku] == [(sku, 0)]
    with pytest.raises(RejectedError) as replay:
        supplier.adapter.parse_stock_push(headers, body, datetime.now(UTC) + timedelta(seconds=5))
    assert replay.value.code == "replay"


def test_a_tampered_push_is_refused_as_a_bad_signature(supplier: Supplier) -> None:
    supplier.set_stock(supplier.skus[0], 0)
    with httpx.Client(timeout=10) as http:
        supplier.push(http)
    headers, body = supplier.inbox.pushes[0]

    with pytest.raises(RejectedError) as caught:
        supplier.adapter.parse_stock_push(headers, body.replace(b"0", b"9", 1), datetime.now(UTC))

    assert caught.value.code == "bad_signature"

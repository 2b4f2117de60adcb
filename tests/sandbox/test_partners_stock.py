"""The sandbox partners send the suppliers' stock changes to the daemon's callback port once told where."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from syncd.adapters.sandbox.httpserver import Response, SandboxServer, json_response
from syncd.adapters.sandbox.partners import Partners


class Paths:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def handle(self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str],
               body: bytes) -> Response:
        self.seen.append(f"{method} {path}")
        return json_response(200, {"ok": True})


def test_stock_changes_go_to_each_suppliers_stock_callback() -> None:
    sandbox, daemon, got = SandboxServer(), SandboxServer(), Paths()
    daemon.mount("/callbacks", got)
    partners = Partners(sandbox)
    sandbox.start()
    daemon.start()
    try:
        partners.stock_pushes_to(daemon.url)
        partners.alibaba.set_stock("610000004", 0)
        partners.webhook.set_stock("HZ-B500-BLU", 0)
        with httpx.Client(timeout=10) as http:
            assert partners.alibaba.deliver_messages(http) == 1
            assert partners.webhook.deliver_stock_pushes(http) == 1
    finally:
        sandbox.stop()
        daemon.stop()

    assert got.seen == ["POST /callbacks/suppliers/ali-factory/stock", "POST /callbacks/suppliers/hz-warehouse/stock"]

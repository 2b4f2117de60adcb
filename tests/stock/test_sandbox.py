"""End to end against the sandbox simulators, through the real adapters: the catalogue of three shops, a full
pass, a webhook supplier's signed push of zero, a 1688 message, a 库存表 in a drop folder, a price rise; and
the stock push route's refusals."""

from __future__ import annotations

import json
import os
import time

import httpx
import pytest
from sqlalchemy import select

from syncd.adapters.sandbox.partners import SANDBOX_WEBHOOK_SECRET
from syncd.adapters.webhook.signing import sign_headers
from syncd.stages import collect
from syncd.stock import engine
from syncd.stock.callbacks import stock_handler, stock_path
from syncd.store.models import StockMargin, StockSupplier
from tests.stock.conftest import World

MUG, CABLE, BOTTLE = "SB-MUG-WHT", "SB-CABLE-2PK", "SB-BOTTLE-500"
MUG_1688 = "610000001:a1b2c3d4e5f60718293a4b5c6d7e8f90"


def test_a_full_pass_sets_every_shops_stock_from_the_suppliers(world: World) -> None:
    report = engine.run_pass(world.rt)

    assert report.shop_errors == {} and report.read_errors == {}
    assert world.shown(MUG) == {"douyin": 498, "pdd": 498, "taobao": 498}  # 1688 500 − buffer 2 (max 500)
    assert world.shown(BOTTLE) == {"douyin": 3, "pdd": 3, "taobao": 3}  # the warehouse's 5 − 2; yiwu unknown
    assert report.calls == 1 + 4 + 4  # 4 SKUs known: Douyin one batch; Pinduoduo 1 a call; Taobao 1 item each
    again = engine.run_pass(world.rt)
    assert again.calls == 0 and again.unchanged == report.written


def test_a_webhook_supplier_push_of_zero_takes_every_listing_to_zero_at_once(world: World) -> None:
    engine.run_pass(world.rt)
    assert world.sandbox.partners is not None
    world.sandbox.partners.webhook.set_stock("HZ-C001-1M", 0)

    with world.transport() as http:
        assert world.sandbox.partners.webhook.deliver_stock_pushes(http) == 1
    report = engine.due_pass(world.rt)

    assert world.shown(CABLE) == {"douyin": 0, "pdd": 0, "taobao": 0}
    assert {p.merchant_sku for p in report.plans} == {CABLE}


def test_a_1688_inventory_message_reaches_the_storefronts(world: World) -> None:
    engine.run_pass(world.rt)  # the first read follows the products
    assert world.sandbox.partners is not None
    world.sandbox.partners.alibaba.set_stock(MUG_1688, 0)

    with world.transport() as http:
        assert world.sandbox.partners.alibaba.deliver_messages(http) >= 1
    engine.due_pass(world.rt)

    assert world.shown(MUG) == {"douyin": 0, "pdd": 0, "taobao": 0}


def test_a_stock_file_in_the_drop_folder_is_taken_and_written_through(world: World) -> None:
    bot = world.sandbox.bots["yiwu-goods"]
    path = bot.drop_stock_file({"YW-B500-BLU": 40, "YW-H010": 0}, {"YW-B500-BLU": 1150})
    os.utime(path, (time.time() - 60, time.time() - 60))  # settled: the inbox takes files a moment old

    collect.collect_file_supplier(world.rt, "yiwu-goods", world.rt.suppliers["yiwu-goods"])
    engine.due_pass(world.rt)

    assert world.shown("SB-HOOK-10P") == {"douyin": 0, "pdd": 0, "taobao": 0}
    with world.rt.db.read() as s:
        row = s.get(StockSupplier, ("yiwu-goods", "YW-B500-BLU"))
        assert row is not None and (row.quantity, row.price_fen, row.source) == (40, 1150, "file")
    engine.run_pass(world.rt)
    assert world.shown(BOTTLE) == {"douyin": 43, "pdd": 43, "taobao": 43}  # warehouse 5 + fallback 40 − 2


def test_a_supplier_price_rise_shows_as_a_margin_below_the_floor(world: World) -> None:
    engine.run_pass(world.rt)
    assert world.sandbox.partners is not None
    world.sandbox.partners.alibaba.set_price(MUG_1688, 4990)

    report = engine.run_pass(world.rt)

    assert {(shop, code) for shop, code, _m in report.margin_low if code == MUG} == {
        ("douyin-demo", MUG), ("pdd-demo", MUG), ("taobao-demo", MUG)}
    with world.rt.db.read() as s:
        rows = s.scalars(select(StockMargin).where(StockMargin.merchant_sku == MUG)).all()
    assert all(r.low and r.supplier_cost_fen == 4990 for r in rows)


# ---- the push route's refusals -------------------------------------------------------------------------


def _push(world: World, body: bytes, headers: dict[str, str], supplier: str = "hz-warehouse",
          path: str | None = None) -> tuple[int, dict[str, object]]:
    status, _h, reply = stock_handler(world.rt, supplier)(path or stock_path(supplier), {}, headers, body)
    return status, json.loads(reply)


def _signed(body: bytes, secret: str = SANDBOX_WEBHOOK_SECRET, path: str = stock_path("hz-warehouse"),
            ts: int | None = None) -> dict[str, str]:
    return {"Content-Type": "application/json",
            **sign_headers(secret, int(time.time()) if ts is None else ts, "POST", path, body)}


PUSH = json.dumps({"event_id": "stk_1", "lines": [{"sku": "HZ-B500-BLU", "available": 0}]}).encode()


def test_a_signed_push_is_taken_and_marked_due(world: World) -> None:
    status, reply = _push(world, PUSH, _signed(PUSH))

    assert (status, reply["changed"]) == (200, 1)
    with world.rt.db.read() as s:
        row = s.get(StockSupplier, ("hz-warehouse", "HZ-B500-BLU"))
        assert row is not None and (row.quantity, row.source, row.due) == (0, "push", True)


@pytest.mark.parametrize("headers", [
    {},  # unsigned
    _signed(PUSH, secret="not-the-secret-not-the-secret-00"),
    _signed(PUSH, ts=int(time.time()) - 3600),  # stale
], ids=["unsigned", "bad-signature", "stale"])
def test_an_unverified_push_is_refused_with_401_and_changes_nothing(world: World, headers: dict[str, str]) -> None:
    status, reply = _push(world, PUSH, headers)

    assert status == 401 and reply["error"] == {"code": "refused", "message": (
        "refused: unknown sender, or signature or timestamp not accepted")}
    with world.rt.db.read() as s:
        assert s.get(StockSupplier, ("hz-warehouse", "HZ-B500-BLU")) is None


def test_a_replayed_push_is_refused(world: World) -> None:
    headers = _signed(PUSH)
    assert _push(world, PUSH, headers)[0] == 200

    assert _push(world, PUSH, headers)[0] == 401


def test_a_malformed_push_from_the_genuine_sender_is_400(world: World) -> None:
    body = json.dumps({"event_id": "stk_2", "lines": [{"sku": "X", "available": -1}]}).encode()

    status, reply = _push(world, body, _signed(body))

    assert status == 400 and reply["error"]["code"] == "malformed"  # type: ignore[index]


def test_a_supplier_that_does_not_exist_or_push_is_refused_like_a_bad_signature(world: World) -> None:
    assert _push(world, PUSH, _signed(PUSH), supplier="nobody")[0] == 401
    assert _push(world, PUSH, _signed(PUSH), supplier="yiwu-goods")[0] == 401  # a drop-folder supplier


def test_the_callback_port_serves_each_suppliers_stock_push_beside_the_supplier_callbacks(world: World) -> None:
    from syncd.callbacks import supplier_handler
    from syncd.httpd import Listener
    from syncd.stock.callbacks import register

    listener = Listener(name="callback")
    listener.register("POST", "/callbacks/suppliers", supplier_handler(world.rt))
    paths = register(listener, world.rt)
    listener.start()
    try:
        assert paths == ["/callbacks/suppliers/ali-factory/stock", "/callbacks/suppliers/hz-warehouse/stock"]
        engine.run_pass(world.rt)
        assert world.sandbox.partners is not None
        world.sandbox.partners.stock_pushes_to(f"http://127.0.0.1:{listener.port}")
        world.sandbox.partners.webhook.set_stock("HZ-C001-1M", 0)
        with httpx.Client(timeout=10) as http:
            assert world.sandbox.partners.webhook.deliver_stock_pushes(http) == 1
            refused = http.post(f"http://127.0.0.1:{listener.port}/callbacks/suppliers/nobody/stock", content=PUSH)
    finally:
        listener.stop()
    assert refused.status_code == 401
    engine.due_pass(world.rt)
    assert world.shown(CABLE) == {"douyin": 0, "pdd": 0, "taobao": 0}

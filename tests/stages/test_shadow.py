"""Shadow mode (syncd.shadow) through the real stages over a real database: a shadow shop's orders are pulled and
routed, nothing reaches a supplier or the storefront, and switching the shop to live sends each order once."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from syncd import clock, shadow
from syncd.config.models import Route, SupplierConfigBase
from syncd.domain import Parcel
from syncd.store.db import Database
from syncd.store.models import Hold, Order, SupplierOrder
from tests.fakes import FakeTokenStore, make_order
from tests.stages.harness import SHOP, Harness, build
from tests.stages.test_supplier_api import FakeApiSupplier


def _mode(h: Harness, mode: str) -> None:
    h.rt.config.shops[SHOP] = h.rt.config.shops[SHOP].model_copy(update={"mode": mode})


def _ago(minutes: float):
    return clock.now() - timedelta(minutes=minutes)


def _states(db: Database) -> dict[str, tuple[str, str | None]]:
    with db.read() as s:
        return {r.platform_order_id: (r.state, r.hold_reason)
                for r in s.execute(select(Order.platform_order_id, Order.state, Order.hold_reason))}


def _supplier_orders(db: Database) -> list[SupplierOrder]:
    with db.read() as s:
        return list(s.scalars(select(SupplierOrder).order_by(SupplierOrder.id)))


def _outbox_files(h: Harness) -> list[Path]:
    return [p for sid in ("acme", "beta") if h.outbox(sid).exists() for p in h.outbox(sid).iterdir()]


@pytest.fixture
def h(db: Database, tmp_path: Path) -> Harness:
    h = build(db, tmp_path)
    _mode(h, "shadow")
    return h


def _put_three(h: Harness) -> None:
    h.shop.put(make_order("301", _ago(20)))
    h.shop.put(make_order("302", _ago(19), skus=("SKU-2P",), qty=3))
    h.shop.put(make_order("303", _ago(18), skus=("SKU-A", "SKU-B")))


def test_shadow_shop_given_paid_orders_sends_nothing_and_lists_what_would_be_sent(h: Harness, db: Database):
    _put_three(h)
    h.cycle()
    h.cycle()
    assert _outbox_files(h) == []  # no file dropped for any supplier
    assert _supplier_orders(db) == []  # nothing forward could send
    assert h.shop.ship_calls == []
    assert _states(db) == {pid: ("held", "shadow") for pid in ("301", "302", "303")}
    plan = shadow.plan(db, h.rt.config)
    assert plan["shops"] == [SHOP]
    sent = sorted((r["order"], r["supplier"], ln["supplier_sku"], ln["quantity"])
                  for r in plan["to_suppliers"] for ln in r["lines"])
    assert sent == [("301", "acme", "A-1", 1), ("302", "acme", "A-2", 6), ("303", "acme", "A-1", 1),
                    ("303", "beta", "B-1", 1)]
    assert plan["to_shops"] == []
    words = json.dumps(plan, ensure_ascii=False)
    assert plan["to_suppliers"][0]["receiver"] == {"name": "张*", "phone": "138****0000", "province": "浙江省",
                                                   "city": "金华市"}
    assert "稠城" not in words and "#P#" not in words  # no street, no ciphertext


def test_shadow_shop_given_an_api_supplier_never_asks_or_places(db: Database, tmp_path: Path):
    h = build(db, tmp_path)
    _mode(h, "shadow")
    api = FakeApiSupplier()
    h.rt.api_suppliers["ali"] = api
    h.rt.config.suppliers["ali"] = SupplierConfigBase(id="ali", kind="fakeapi")
    h.rt.config.routes["SKU-X"] = Route(sku="SKU-X", supplier="ali", supplier_sku="610001:aa")
    h.shop.put(make_order("311", _ago(10), skus=("SKU-X",)))
    h.cycle()
    h.cycle()
    assert api.requests == [] and api.stock_checks == 0 and api.created() == 0
    assert _states(db)["311"] == ("held", "shadow")


def test_switching_to_live_forwards_each_shadow_order_once_and_releases_its_hold(h: Harness, db: Database):
    _put_three(h)
    h.cycle()
    _mode(h, "live")
    h.cycle()
    h.cycle()
    rows = h.exported_rows("acme") + h.exported_rows("beta")
    assert sorted(r["订单号"] for r in rows) == ["301", "302", "303", "303"]  # 303 has one line at each supplier
    assert {st for st, _ in _states(db).values()} == {"placed"}
    with db.read() as s:
        holds = list(s.scalars(select(Hold)))
    assert {(x.reason, x.released_by) for x in holds} == {("shadow", "auto")}
    assert all(x.released_at is not None for x in holds)


def test_shadow_given_supplier_orders_routed_while_live_exports_none_of_them(db: Database, tmp_path: Path):
    h = build(db, tmp_path)
    h.shop.put(make_order("321", _ago(10)))
    h.stage("pull")
    h.stage("route")  # live: a pending supplier order exists
    _mode(h, "shadow")
    h.stage("forward")
    h.stage("forward")
    assert _outbox_files(h) == []
    assert [so.state for so in _supplier_orders(db)] == ["pending"]
    plan = shadow.plan(db, h.rt.config)
    assert [(r["order"], r["supplier"]) for r in plan["to_suppliers"]] == [("321", "acme")]


def test_shadow_given_tracking_waiting_uploads_nothing_until_live_then_once(db: Database, tmp_path: Path):
    h = build(db, tmp_path)
    h.shop.put(make_order("331", _ago(10)))
    h.cycle()
    h.reply("acme", "reply.csv", [("331", "中通快递", "77300000331")])
    _mode(h, "shadow")
    h.cycle()
    h.cycle()
    assert h.shop.ship_calls == []
    plan = shadow.plan(db, h.rt.config)
    assert plan["to_shops"] == [{"shop": SHOP, "order": "331", "carrier": "zhongtong",
                                 "tracking_no": "77300000331"}]
    _mode(h, "live")
    h.cycle()
    h.cycle()
    assert [c[0] for c in h.shop.ship_calls] == ["331"]


def test_shadow_storefront_given_a_write_refuses_it_unsent_and_passes_reads(h: Harness):
    shadow.guard(h.rt)
    wrapped = h.rt.storefronts[SHOP]
    assert isinstance(wrapped, shadow.ShadowStorefront)
    h.shop.put(make_order("341", _ago(10)))
    assert [o.platform_order_id for o in wrapped.list_orders(_ago(60), clock.now()).orders] == ["341"]
    with pytest.raises(shadow.ShadowRefused, match="shadow mode"):
        wrapped.ship("341", [Parcel("zhongtong", "7730001", [], "r1")], True)
    with pytest.raises(shadow.ShadowRefused):
        wrapped.write_stock([])
    assert h.shop.ship_calls == []
    shadow.guard(h.rt)
    assert h.rt.storefronts[SHOP] is wrapped  # wrapped once


def test_live_shop_given_guard_keeps_its_own_adapter(db: Database, tmp_path: Path):
    h = build(db, tmp_path)
    shadow.guard(h.rt)
    assert h.rt.storefronts[SHOP] is h.shop


def test_read_only_tokens_given_a_refresh_never_lets_it_happen():
    inner = FakeTokenStore()
    tokens = shadow.ReadOnlyTokens(inner)
    with pytest.raises(shadow.TransientError, match="dry run neither creates nor refreshes"), \
            tokens.refresh_lock(SHOP):
        pytest.fail("a refresh began")
    with pytest.raises(shadow.TransientError, match="dry run"):
        tokens.save(SHOP, object())  # type: ignore[arg-type]
    assert inner.saved == [] and inner.locks == 0


def test_shadow_hold_given_the_shop_still_in_shadow_is_not_looked_at_again_on_a_timer(h: Harness, db: Database):
    h.shop.put(make_order("351", _ago(10)))
    h.stage("pull")
    h.stage("route")
    with db.read() as s:
        assert s.scalar(select(Order.recheck_at).where(Order.platform_order_id == "351")) is None


def test_shadow_given_an_api_supplier_order_routed_while_live_never_places_it(db: Database, tmp_path: Path):
    h = build(db, tmp_path)
    api = FakeApiSupplier()
    h.rt.api_suppliers["ali"] = api
    h.rt.config.suppliers["ali"] = SupplierConfigBase(id="ali", kind="fakeapi")
    h.rt.config.routes["SKU-X"] = Route(sku="SKU-X", supplier="ali", supplier_sku="610001:aa")
    h.shop.put(make_order("361", _ago(10), skus=("SKU-X",)))
    h.stage("pull")
    h.stage("route")
    _mode(h, "shadow")
    h.stage("forward")
    assert api.requests == [] and api.created() == 0
    _mode(h, "live")
    h.stage("forward")
    h.stage("forward")
    assert api.created() == 1


def test_startup_line_given_a_shadow_shop_says_it_sends_nothing(h: Harness):
    from syncd.daemon import startup_line

    assert "in shadow mode (nothing sent): shop1" in startup_line(h.rt)
    _mode(h, "live")
    assert "shadow" not in startup_line(h.rt)

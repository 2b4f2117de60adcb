"""1688 product messages (reference/stock-and-price.md §4.4): signature, window, replay, skuId → specId,
price change re-read, delisting to zero, malformed messages."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import respx

from syncd.adapters.alibaba.adapter import AlibabaAdapter
from syncd.errors import RejectedError
from syncd.registry import AdapterContext
from syncd.stockmodel import SupplierStock
from tests.adapters.alibaba.conftest import NOW, SECRET, fixture, make_config, route

CROSS = "alibaba.cross.productInfo"
RED_SPEC, BLUE_SPEC = "a1b2c3d4e5f60718293a4b5c6d7e8f90", "b1b2c3d4e5f60718293a4b5c6d7e8f91"
RED, BLUE = f"610000001:{RED_SPEC}", f"610000001:{BLUE_SPEC}"
BORN_MS = int(NOW.timestamp() * 1000) - 5000

pytestmark = pytest.mark.usefixtures("clock_at")


def message(kind: str, data: dict[str, Any], *, msg_id: int = 9001, born: int = BORN_MS) -> str:
    return json.dumps({"msgId": msg_id, "type": kind, "gmtBorn": born, "userInfo": "b2b-2200000000001",
                       "data": data}, ensure_ascii=False, separators=(",", ":"))


def signed(text: str, secret: str = SECRET, path: str = "") -> bytes:
    # computed here by hand, apart from the adapter: HMAC-SHA1(secret, path + "message" + text), upper hex
    sig = hmac.new(secret.encode(), (path + "message" + text).encode(), hashlib.sha1).hexdigest().upper()
    return urlencode({"message": text, "_aop_signature": sig}).encode()


def inventory(*entries: dict[str, Any], msg_id: int = 9001, born: int = BORN_MS) -> bytes:
    return signed(message("PRODUCT_PRODUCT_INVENTORY_CHANGE", {"OfferInventoryChangeList": list(entries)},
                          msg_id=msg_id, born=born))


def entry(sku_id: int | None = 4500000000001, on_sale: int = 7, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"offerId": 610000001, "offerOnSale": 300, "skuOnSale": on_sale, "quantity": -3,
                           "bizTime": BORN_MS - 1000}
    if sku_id is not None:
        out["skuId"] = sku_id
    out.update(extra)
    return out


@pytest.fixture
def learnt(adapter: AlibabaAdapter, api: respx.MockRouter) -> AlibabaAdapter:
    """An adapter that read offer 610000001 once (so it knows the skuId → specId map)."""
    route(api, CROSS).mock(return_value=httpx.Response(200, json=fixture("product_cross.json")))
    adapter.read_stock([RED])
    return adapter


def test_an_inventory_message_maps_sku_id_to_the_routes_spec_id(learnt: AlibabaAdapter, api: respx.MockRouter) -> None:
    calls = api.calls.call_count

    got = learnt.parse_stock_push({}, inventory(entry(4500000000001, 7), entry(4500000000002, 0)), NOW)

    at = NOW - timedelta(seconds=6)
    assert got == [SupplierStock(RED, 7, None, at), SupplierStock(BLUE, 0, None, at)]
    assert api.calls.call_count == calls  # the map answered; no call


def test_an_inventory_message_for_an_unknown_sku_id_reads_the_offer_once_to_learn_it(
        adapter: AlibabaAdapter, api: respx.MockRouter) -> None:
    r = route(api, CROSS).mock(return_value=httpx.Response(200, json=fixture("product_cross.json")))

    got = adapter.parse_stock_push({}, inventory(entry(4500000000002, 4), entry(4500000000099, 1)), NOW)

    assert [(s.supplier_sku, s.quantity) for s in got] == [(BLUE, 4)]  # 4500000000099 is in no detail: skipped
    assert r.call_count == 1


def test_an_inventory_message_without_sku_id_is_the_offer_figure(adapter: AlibabaAdapter) -> None:
    got = adapter.parse_stock_push({}, inventory(entry(None, 0, offerOnSale=12)), NOW)

    assert [(s.supplier_sku, s.quantity) for s in got] == [("610000001", 12)]


def test_a_price_change_message_rereads_the_offer_for_every_spec(adapter: AlibabaAdapter,
                                                                 api: respx.MockRouter) -> None:
    body = fixture("product_cross.json")
    body["result"]["productInfo"]["skuInfos"][0]["consignPrice"] = "19.90"
    r = route(api, CROSS).mock(return_value=httpx.Response(200, json=body))
    text = message("FENXIAO_PRICE_CHANGE", {"productId": 610000001, "memberId": "b2b-1", "msgSendTime": BORN_MS})

    got = adapter.parse_stock_push({}, signed(text), NOW)

    assert r.call_count == 1
    assert SupplierStock(RED, 200, 1990) in got and SupplierStock(BLUE, 0, 1605) in got


def test_a_delisting_message_takes_the_offer_and_its_known_specs_to_zero(learnt: AlibabaAdapter) -> None:
    text = message("PRODUCT_RELATION_VIEW_PRODUCT_EXPIRE", {"productIds": "610000001", "status": "expire"})

    got = learnt.parse_stock_push({}, signed(text), NOW)

    assert {s.supplier_sku for s in got} == {"610000001", RED, BLUE, "610000001:c1b2c3d4e5f60718293a4b5c6d7e8f92"}
    assert {s.quantity for s in got} == {0}


def test_an_unknown_message_type_is_accepted_and_ignored(adapter: AlibabaAdapter) -> None:
    assert adapter.parse_stock_push({}, signed(message("ORDER_BUYER_VIEW_ORDER_PAY", {"orderId": 1})), NOW) == []


def test_a_message_signed_over_the_configured_path_is_accepted(ctx: AdapterContext) -> None:
    adapter = AlibabaAdapter(make_config(products={"push_signed_path": "/callbacks/1688"}), ctx)
    text = message("PRODUCT_PRODUCT_INVENTORY_CHANGE", {"OfferInventoryChangeList": [entry(None, 0)]})

    assert adapter.parse_stock_push({}, signed(text, path="/callbacks/1688"), NOW)
    with pytest.raises(RejectedError) as caught:
        adapter.parse_stock_push({}, signed(text), NOW)
    assert caught.value.code == "bad_signature"


@pytest.mark.parametrize(("body", "code"), [
    (signed(message("PRODUCT_PRODUCT_INVENTORY_CHANGE", {"OfferInventoryChangeList": []}), secret="wrong"),
     "bad_signature"),
    (urlencode({"message": "{}"}).encode(), "unsigned"),
    (b"", "unsigned"),
    (b"\xff\xfe", "malformed"),
    (signed("not json"), "malformed"),
    (signed("[1, 2]"), "malformed"),
    (signed(json.dumps({"msgId": 1, "gmtBorn": BORN_MS})), "malformed"),
    (signed(message("PRODUCT_PRODUCT_INVENTORY_CHANGE", {}, born=BORN_MS - 3_601_000)), "stale_timestamp"),
    (signed(message("PRODUCT_PRODUCT_INVENTORY_CHANGE", {}, born=BORN_MS + 3_700_000)), "stale_timestamp"),
    (signed(json.dumps({"msgId": 1, "type": "X", "data": {}})), "bad_timestamp"),
    (signed(message("PRODUCT_PRODUCT_INVENTORY_CHANGE", {"OfferInventoryChangeList": {"a": 1}})), "malformed"),
    (signed(message("PRODUCT_PRODUCT_INVENTORY_CHANGE", {"OfferInventoryChangeList": [{"offerId": "x"}]})),
     "malformed"),
    (signed(message("PRODUCT_PRODUCT_INVENTORY_CHANGE", {"OfferInventoryChangeList": [entry(1, on_sale="many")]})),
     "malformed"),
    (signed(message("PRODUCT_PRODUCT_INVENTORY_CHANGE", {"OfferInventoryChangeList": [entry()] * 1001})),
     "malformed"),
    (signed(message("PRODUCT_RELATION_VIEW_PRODUCT_DELETE", {"productIds": "1,abc"})), "malformed"),
    (signed(message("PRODUCT_PRODUCT_INVENTORY_CHANGE", "data")), "malformed"),  # type: ignore[arg-type]
])
def test_a_bad_message_is_refused_with_its_reason(adapter: AlibabaAdapter, body: bytes, code: str) -> None:
    with pytest.raises(RejectedError) as caught:
        adapter.parse_stock_push({}, body, NOW)

    assert caught.value.code == code
    assert SECRET not in str(caught.value)


def test_a_replayed_message_is_refused_inside_the_window(adapter: AlibabaAdapter) -> None:
    body = inventory(entry(None, 0), msg_id=77)
    assert adapter.parse_stock_push({}, body, NOW)

    with pytest.raises(RejectedError) as caught:
        adapter.parse_stock_push({}, body, NOW + timedelta(seconds=30))

    assert caught.value.code == "replay"
    assert adapter.parse_stock_push({}, inventory(entry(None, 0), msg_id=78), NOW)  # another message passes

"""The 4xx table: every status the contract defines, classified once; supplier words masked."""

from __future__ import annotations

import httpx
import pytest
import respx

from syncd.adapters.webhook.adapter import WebhookSupplier
from syncd.adapters.webhook.errors import Action, NotFound, classify
from syncd.errors import AuthError, FatalError, OutOfStockError, ProtocolError, RejectedError
from tests.adapters.webhook.conftest import BASE, DETAIL, KEY, PHONE, SECRET, error_json, sample_request


@pytest.mark.parametrize(("status", "code", "action"), [
    (401, "bad_signature", Action.AUTH),
    (401, None, Action.AUTH),
    (403, None, Action.FATAL),
    (404, "not_found", Action.NOT_FOUND),
    (404, None, Action.FATAL),
    (404, "no_route", Action.FATAL),
    (405, None, Action.FATAL),
    (409, "idempotency_conflict", Action.CONFLICT),
    (400, "bad_request", Action.REJECT),
    (413, None, Action.REJECT),
    (422, "out_of_stock", Action.REJECT),
    (418, None, Action.PROTOCOL),
    (451, "legal", Action.PROTOCOL),
])
def test_classify(status: int, code: str | None, action: Action) -> None:
    assert classify(status, code).action is action


@pytest.mark.parametrize(("status", "body", "error", "code", "text"), [
    (400, error_json("bad_request", "lines[0].sku 缺失"), RejectedError, "bad_request", "could not read"),
    (401, error_json("stale_timestamp", "timestamp outside"), AuthError, "stale_timestamp", "check secret"),
    (401, None, AuthError, "signature", "this host's clock"),
    (403, error_json("forbidden", "IP 不在白名单"), FatalError, None, "allow this host"),
    (405, None, FatalError, None, "check paths"),
    (409, error_json("idempotency_conflict", "key reused"), RejectedError, "idempotency_conflict",
     "nothing was resent"),
    (413, None, RejectedError, "413", "too large"),
    (422, error_json("sku_not_supplied", "商品 TEE-RED-M 不在供货范围"), RejectedError, "sku_not_supplied",
     "不在供货范围"),
    # for want of stock: nothing was created, the core holds the order out of stock or sends it to the fallback
    (422, error_json("out_of_stock", "商品 TEE-RED-M 库存不足（剩 0，要 1）"), OutOfStockError, "out_of_stock",
     "库存不足"),
    (418, error_json("teapot"), ProtocolError, None, "no such status"),
])
def test_place_given_a_4xx_raises_its_error_once_without_retrying(
        supplier: WebhookSupplier, api: respx.MockRouter, status: int, body: dict[str, object] | None,
        error: type[Exception], code: str | None, text: str) -> None:
    response = httpx.Response(status, json=body) if body is not None else httpx.Response(status, text="nope")
    route = api.post(f"{BASE}/orders").mock(return_value=response)

    with pytest.raises(error, match=text) as caught:
        supplier.place(sample_request())

    assert type(caught.value) is error
    assert getattr(caught.value, "code", None) == code
    assert f"HTTP {status}" in str(caught.value)
    assert route.call_count == 1


def test_a_422_keeps_the_supplier_words_but_masks_receiver_data_and_secrets(
        supplier: WebhookSupplier, api: respx.MockRouter) -> None:
    words = f"地址无法送达: 张三 {PHONE} 浙江省杭州市西湖区文三路{DETAIL}; other 13912345678; key {SECRET}"
    api.post(f"{BASE}/orders").mock(return_value=httpx.Response(422, json=error_json("address_unserviceable", words)))

    with pytest.raises(RejectedError) as caught:
        supplier.place(sample_request())

    shown = f"{caught.value} {caught.value.platform_message}"
    for private in (PHONE, DETAIL, "张三", "13912345678", SECRET, "文三路"):
        assert private not in shown
    assert "地址无法送达" in shown
    assert "139****5678" in shown
    assert caught.value.code == "address_unserviceable"


def test_an_error_body_of_the_wrong_shape_still_gives_the_status_error(
        supplier: WebhookSupplier, api: respx.MockRouter) -> None:
    api.post(f"{BASE}/orders").mock(return_value=httpx.Response(422, json={"error": "out of stock"}))

    with pytest.raises(RejectedError, match="HTTP 422") as caught:
        supplier.place(sample_request())

    assert caught.value.code == "422"


def test_a_long_supplier_message_is_cut(supplier: WebhookSupplier, api: respx.MockRouter) -> None:
    api.post(f"{BASE}/orders").mock(return_value=httpx.Response(422, json=error_json("x", "缺" * 5000)))

    with pytest.raises(RejectedError) as caught:
        supplier.place(sample_request())

    assert len(str(caught.value)) < 500


def test_status_given_404_not_found_raises_not_found(supplier: WebhookSupplier, api: respx.MockRouter) -> None:
    api.get(f"{BASE}/orders/{KEY}").mock(return_value=httpx.Response(404, json=error_json("not_found")))

    with pytest.raises(NotFound) as caught:
        supplier.status(KEY, "WS1")

    assert isinstance(caught.value, RejectedError)
    assert caught.value.code == "not_found"

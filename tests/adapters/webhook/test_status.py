"""status / check_stock / cancel through respx: parcels, carriers, line refs, and every malformed answer."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from syncd.adapters.webhook.adapter import WebhookSupplier
from syncd.domain import CancelOutcome, StockLine, SupplierLine, SupplierOrderPhase, SupplierParcel
from syncd.errors import ProtocolError, RejectedError, TransientError
from syncd.registry import AdapterContext
from tests.adapters.webhook.conftest import BASE, KEY, error_json, make_config, order_json, sample_request
from tests.fakes import FakeLimiter

REF = "WS20251122000042"


def _status(api: respx.MockRouter, body: Any) -> respx.Route:
    return api.get(f"{BASE}/orders/{KEY}").mock(return_value=httpx.Response(200, json=body))


def test_status_accepted_has_no_parcels(supplier: WebhookSupplier, api: respx.MockRouter,
                                        limiter: FakeLimiter) -> None:
    _status(api, order_json())

    status = supplier.status(KEY, REF)

    assert (status.supplier_ref, status.phase, status.parcels, status.detail) == (
        REF, SupplierOrderPhase.ACCEPTED, [], "已接单")
    assert limiter.acquired == [("webhook:acme:status", 5.0)]


def test_status_partial_keeps_line_refs_normalises_carrier_and_time(
        supplier: WebhookSupplier, api: respx.MockRouter) -> None:
    _status(api, order_json(phase="partial", parcels=[
        {"carrier": "圆通速递", "tracking_no": "yt 7412345678901", "line_refs": ["L1", "L1", "L2"],
         "shipped_at": "2025-11-22T18:02:00+08:00"}]))

    status = supplier.status(KEY, REF)

    assert status.phase is SupplierOrderPhase.PARTIAL
    assert status.parcels == [SupplierParcel(carrier="yuantong", carrier_text="圆通速递",
                                             tracking_no="YT7412345678901", line_refs=["L1", "L2"],
                                             sent_at=datetime(2025, 11, 22, 10, 2, tzinfo=UTC))]


def test_status_shipped_reads_codes_names_unknown_carriers_and_beijing_text_times(
        supplier: WebhookSupplier, api: respx.MockRouter) -> None:
    _status(api, order_json(phase="shipped", parcels=[
        {"carrier": "zhongtong", "tracking_no": "75312345678901", "line_refs": None,
         "shipped_at": "2025-11-22 18:02:00"},
        {"carrier": "ZTO", "tracking_no": "75312345678902", "shipped_at": "2025-11-22T10:03:00Z"},
        {"carrier": "本地同城速运", "tracking_no": "LC-000123"},
    ]))

    parcels = supplier.status(KEY, REF).parcels

    assert [(p.carrier, p.carrier_text) for p in parcels] == [
        ("zhongtong", "zhongtong"), ("zhongtong", "ZTO"), (None, "本地同城速运")]
    assert [p.line_refs for p in parcels] == [None, None, None]
    assert parcels[0].sent_at == datetime(2025, 11, 22, 10, 2, tzinfo=UTC)
    assert parcels[1].sent_at == datetime(2025, 11, 22, 10, 3, tzinfo=UTC)
    assert parcels[2].sent_at is None


@pytest.mark.parametrize("phase", ["cancelled", "rejected"])
def test_status_reads_final_phases(supplier: WebhookSupplier, api: respx.MockRouter, phase: str) -> None:
    _status(api, order_json(phase=phase, message="缺货无法履约"))

    status = supplier.status(KEY, REF)

    assert status.phase.value == phase
    assert status.detail == "缺货无法履约"


def test_status_masks_phone_numbers_in_the_supplier_words(supplier: WebhookSupplier, api: respx.MockRouter) -> None:
    _status(api, order_json(message="联系不上收件人 13912345678"))

    assert supplier.status(KEY, REF).detail == "联系不上收件人 139****5678"


def _parcel(**changes: Any) -> dict[str, Any]:
    p: dict[str, Any] = {"carrier": "中通", "tracking_no": "75312345678901", "line_refs": None}
    p.update(changes)
    return p


@pytest.mark.parametrize(("body", "text"), [
    ("not an object", "expected an object"),
    (order_json(phase="done"), "phase: expected one of accepted, partial, shipped, cancelled, rejected"),
    (order_json(phase=None), "phase: expected one of"),
    (order_json(parcels={"a": 1}), "parcels: expected a list, found dict"),
    (order_json(phase="shipped", parcels=[]), "phase shipped needs at least one parcel"),
    (order_json(phase="partial", parcels=None), "phase partial needs at least one parcel"),
    (order_json(phase="shipped", parcels=["7531"]), r"parcels\[0\]: expected an object, found str"),
    (order_json(phase="shipped", parcels=[_parcel(carrier="")]), r"parcels\[0\]\.carrier: expected a non-empty"),
    (order_json(phase="shipped", parcels=[_parcel(tracking_no=75312345678901)]),
     r"parcels\[0\]\.tracking_no: expected a string, found int"),
    (order_json(phase="shipped", parcels=[_parcel(tracking_no="7.53123E+13")]),
     r"parcels\[0\]\.tracking_no: expected 5–40 letters"),
    (order_json(phase="shipped", parcels=[_parcel(tracking_no="")]), r"tracking_no: expected 5–40"),
    (order_json(phase="shipped", parcels=[_parcel(line_refs=[])]), r"line_refs: expected a non-empty list"),
    (order_json(phase="shipped", parcels=[_parcel(line_refs="L1")]), r"line_refs: expected a non-empty list"),
    (order_json(phase="shipped", parcels=[_parcel(line_refs=["L1", 2])]), r"line_refs\[1\]: expected a non-empty"),
    (order_json(phase="shipped", parcels=[_parcel(shipped_at="yesterday")]), r"shipped_at: expected an RFC 3339"),
    (order_json(phase="shipped", parcels=[_parcel(shipped_at=1763802000)]), r"shipped_at: expected a time as text"),
    (order_json(phase="shipped", parcels=[_parcel(), _parcel(carrier="ZTO")]), "a tracking number appears twice"),
    (order_json(message=["x"]), "message: expected a non-empty string, found list"),
    (order_json(idempotency_key="other"), "idempotency_key: expected 'syncd-7f3a9c2e41b8d605'"),
    (order_json(supplier_order_id="WS9"), "supplier_order_id: expected 'WS20251122000042'"),
    ({"phase": "accepted"}, "idempotency_key: expected a non-empty string, found null"),
])
def test_status_given_a_malformed_answer_raises_protocol_error_naming_the_field(
        supplier: WebhookSupplier, api: respx.MockRouter, body: Any, text: str) -> None:
    _status(api, body)

    with pytest.raises(ProtocolError, match=text) as caught:
        supplier.status(KEY, REF)

    assert str(caught.value).startswith("webhook supplier acme GET /orders/{key}: ")


# ---- stock -------------------------------------------------------------------------------------------


def _two_skus() -> Any:
    return sample_request(lines=[SupplierLine("L1", "TEE-RED-M", 2), SupplierLine("L2", "SOCK-5P", 1),
                                 SupplierLine("L3", "TEE-RED-M", 1), SupplierLine("L4", "CAP-1", 1)])


def test_check_stock_asks_once_per_sku_and_reads_each_line(
        supplier: WebhookSupplier, api: respx.MockRouter, limiter: FakeLimiter) -> None:
    route = api.post(f"{BASE}/stock").mock(return_value=httpx.Response(200, json={"lines": [
        {"sku": "TEE-RED-M", "available": 2}, {"sku": "SOCK-5P", "available": 0, "message": "停产"},
        {"sku": "OTHER", "available": 9}]}))

    answer = supplier.check_stock(_two_skus())

    assert answer is not None
    assert json.loads(route.calls.last.request.content) == {"lines": [
        {"sku": "TEE-RED-M", "quantity": 3}, {"sku": "SOCK-5P", "quantity": 1}, {"sku": "CAP-1", "quantity": 1}]}
    assert "Idempotency-Key" not in route.calls.last.request.headers
    assert answer.lines == [StockLine("TEE-RED-M", 3, 2), StockLine("SOCK-5P", 1, 0), StockLine("CAP-1", 1, None)]
    assert answer.short() == [StockLine("TEE-RED-M", 3, 2), StockLine("SOCK-5P", 1, 0)]
    assert answer.detail == "SOCK-5P: 停产"
    assert limiter.acquired == [("webhook:acme:stock", 5.0)]


def test_check_stock_given_null_available_cannot_say(supplier: WebhookSupplier, api: respx.MockRouter) -> None:
    api.post(f"{BASE}/stock").mock(return_value=httpx.Response(200, json={"lines": [
        {"sku": "TEE-RED-M", "available": None}]}))

    answer = supplier.check_stock(sample_request())

    assert answer is not None
    assert answer.lines == [StockLine("TEE-RED-M", 2, None)]
    assert answer.short() == []


def test_check_stock_when_switched_off_asks_nothing(ctx: AdapterContext, api: respx.MockRouter) -> None:
    assert WebhookSupplier(make_config(stock=False), ctx).check_stock(sample_request()) is None


def test_check_stock_given_422_answers_it_cannot_say_with_the_supplier_words(
        supplier: WebhookSupplier, api: respx.MockRouter) -> None:
    api.post(f"{BASE}/stock").mock(return_value=httpx.Response(422, json=error_json("sku_unknown", "无此商品")))

    answer = supplier.check_stock(sample_request())

    assert answer is not None
    assert answer.lines == [StockLine("TEE-RED-M", 2, None)]
    assert answer.detail == "stock check refused: sku_unknown: 无此商品"


@pytest.mark.parametrize(("body", "text"), [
    ({}, "lines: expected a list, found null"),
    ({"lines": [3]}, r"lines\[0\]: expected an object, found int"),
    ({"lines": [{"available": 3}]}, r"lines\[0\]\.sku: expected a non-empty string"),
    ({"lines": [{"sku": "TEE-RED-M", "available": "3"}]}, r"lines\[0\]\.available: expected a whole number"),
    ({"lines": [{"sku": "TEE-RED-M", "available": -2}]}, r"lines\[0\]\.available: expected a whole number"),
    ({"lines": [{"sku": "TEE-RED-M", "available": True}]}, r"lines\[0\]\.available: expected a whole number"),
])
def test_check_stock_given_a_malformed_answer_raises_protocol_error(
        supplier: WebhookSupplier, api: respx.MockRouter, body: Any, text: str) -> None:
    api.post(f"{BASE}/stock").mock(return_value=httpx.Response(200, json=body))

    with pytest.raises(ProtocolError, match=text):
        supplier.check_stock(sample_request())


def test_check_stock_given_5xx_raises_transient_after_retries(
        supplier: WebhookSupplier, api: respx.MockRouter) -> None:
    route = api.post(f"{BASE}/stock").mock(return_value=httpx.Response(500))

    with pytest.raises(TransientError):
        supplier.check_stock(sample_request())

    assert route.call_count == 3


def test_check_stock_batch_asks_once_for_every_sku_of_the_orders_and_answers_each_order(
        supplier: WebhookSupplier, api: respx.MockRouter, limiter: FakeLimiter) -> None:
    route = api.post(f"{BASE}/stock").mock(return_value=httpx.Response(200, json={"lines": [
        {"sku": "TEE-RED-M", "available": 2}, {"sku": "SOCK-5P", "available": 0, "message": "停产"}]}))
    orders = [[SupplierLine("A1", "TEE-RED-M", 2), SupplierLine("A2", "SOCK-5P", 1)],
              [SupplierLine("B1", "TEE-RED-M", 1), SupplierLine("B2", "CAP-1", 1), SupplierLine("B3", "TEE-RED-M", 1)]]

    answers = supplier.check_stock_batch(orders)

    assert route.call_count == 1 and limiter.acquired == [("webhook:acme:stock", 5.0)]
    assert json.loads(route.calls.last.request.content) == {"lines": [
        {"sku": "TEE-RED-M", "quantity": 4}, {"sku": "SOCK-5P", "quantity": 1}, {"sku": "CAP-1", "quantity": 1}]}
    assert answers is not None
    first, second = answers
    # each order as check_stock would answer it alone: its own SKUs, its own quantities, its own messages
    assert first.lines == [StockLine("TEE-RED-M", 2, 2), StockLine("SOCK-5P", 1, 0)] and first.detail == "SOCK-5P: 停产"
    assert second.lines == [StockLine("TEE-RED-M", 2, 2), StockLine("CAP-1", 1, None)] and second.detail == ""


def test_check_stock_batch_sends_at_most_100_skus_a_call(supplier: WebhookSupplier, api: respx.MockRouter) -> None:
    asked: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        lines = json.loads(request.content)["lines"]
        asked.append(len(lines))
        return httpx.Response(200, json={"lines": [{"sku": ln["sku"], "available": 5} for ln in lines]})

    api.post(f"{BASE}/stock").mock(side_effect=answer)
    orders = [[SupplierLine(f"L{i}", f"SKU-{i}", 1)] for i in range(230)]

    answers = supplier.check_stock_batch(orders)

    assert asked == [100, 100, 30]
    assert answers is not None and [a.lines[0].available for a in answers] == [5] * 230


@pytest.mark.parametrize("reply", [httpx.Response(422, json=error_json("sku_unknown", "无此商品")),
                                   httpx.Response(200, json={"lines": [{"sku": "TEE-RED-M", "available": -1}]}),
                                   httpx.Response(500)])
def test_check_stock_batch_given_a_refusal_a_bad_answer_or_an_outage_leaves_each_order_to_be_asked_alone(
        supplier: WebhookSupplier, api: respx.MockRouter, reply: httpx.Response) -> None:
    api.post(f"{BASE}/stock").mock(return_value=reply)

    assert supplier.check_stock_batch([[SupplierLine("A1", "TEE-RED-M", 2)]]) is None


def test_check_stock_batch_when_switched_off_asks_nothing(ctx: AdapterContext, api: respx.MockRouter) -> None:
    assert WebhookSupplier(make_config(stock=False), ctx).check_stock_batch([[SupplierLine("A", "X", 1)]]) is None


# ---- cancel ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("result", "outcome"), [("cancelled", CancelOutcome.CANCELLED),
                                                  ("too_late", CancelOutcome.TOO_LATE)])
def test_cancel_posts_the_reason_and_reads_the_result(
        supplier: WebhookSupplier, api: respx.MockRouter, result: str, outcome: CancelOutcome) -> None:
    route = api.post(f"{BASE}/orders/{KEY}/cancel").mock(return_value=httpx.Response(200, json={
        "idempotency_key": KEY, "result": result, "message": "已发货 13912345678"}))

    answer = supplier.cancel(KEY, REF, "买家取消" + "。" * 300)

    assert answer.outcome is outcome
    assert answer.detail == "已发货 139****5678"
    assert json.loads(route.calls.last.request.content) == {"reason": "买家取消" + "。" * 196}


@pytest.mark.parametrize(("body", "text"), [
    ({"idempotency_key": KEY, "result": "ok"}, "result: expected cancelled or too_late"),
    ({"idempotency_key": KEY}, "result: expected cancelled or too_late"),
    ({"idempotency_key": "x", "result": "cancelled"}, "idempotency_key: expected"),
])
def test_cancel_given_a_malformed_answer_raises_protocol_error(
        supplier: WebhookSupplier, api: respx.MockRouter, body: Any, text: str) -> None:
    api.post(f"{BASE}/orders/{KEY}/cancel").mock(return_value=httpx.Response(200, json=body))

    with pytest.raises(ProtocolError, match=text):
        supplier.cancel(KEY, REF, "买家取消")


def test_cancel_given_an_unknown_order_raises_rejected(supplier: WebhookSupplier, api: respx.MockRouter) -> None:
    api.post(f"{BASE}/orders/{KEY}/cancel").mock(return_value=httpx.Response(404, json=error_json("not_found")))

    with pytest.raises(RejectedError) as caught:
        supplier.cancel(KEY, REF, "买家取消")

    assert caught.value.code == "not_found"

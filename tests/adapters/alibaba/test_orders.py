"""Preview, place, find and pay (reference §A.4): the unknown outcome is found again, never re-sent."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
import respx

from syncd.adapters.alibaba.adapter import AlibabaAdapter
from syncd.adapters.alibaba.client import CREATE, ORDER_DETAIL, ORDER_LIST, PREVIEW, PROTOCOL_PAY
from syncd.adapters.alibaba.config import AlibabaSupplierConfig
from syncd.domain import PlacedOrder, StockLine, SupplierLine
from syncd.errors import OutOfStockError, ProtocolError, RejectedError, TransientError
from syncd.registry import AdapterContext
from tests.adapters.alibaba.conftest import HOOK, MUG, NOW, ORDER, fixture, form, make_config, request, route


def _json_form(r: respx.Route, name: str) -> object:
    return json.loads(form(r.calls.last.request)[name])


# ---- check_stock ----------------------------------------------------------------------------------------


def test_check_stock_marks_a_refused_cargo_short_with_its_words(adapter: AlibabaAdapter,
                                                                api: respx.MockRouter) -> None:
    r = route(api, PREVIEW).mock(return_value=httpx.Response(200, json=fixture("preview.json")))

    answer = adapter.check_stock(request())

    assert answer is not None
    assert answer.lines == [StockLine(MUG, 2, None), StockLine(HOOK, 1, 0)]
    assert [ln.supplier_sku for ln in answer.short()] == [HOOK]
    assert answer.detail == f"{HOOK}: 500_006 库存不足"
    sent = form(r.calls.last.request)
    assert sent["flow"] == "saleproxy" and "outOrderId" not in sent
    assert _json_form(r, "cargoParamList") == [
        {"offerId": 610000001, "specId": "a1b2c3d4e5f60718293a4b5c6d7e8f90", "quantity": 2},
        {"offerId": 610000004, "quantity": 1}]


def test_check_stock_given_a_stock_refusal_of_the_whole_preview_marks_every_line_short(
        adapter: AlibabaAdapter, api: respx.MockRouter) -> None:
    route(api, PREVIEW).mock(return_value=httpx.Response(200, json={
        "success": False, "errorCode": "500_005", "errorMsg": "起批量不满足"}))

    answer = adapter.check_stock(request())

    assert answer is not None and [ln.available for ln in answer.lines] == [0, 0]
    assert answer.detail == "1688: 500_005 起批量不满足"


def test_check_stock_given_another_refusal_raises_rejected(adapter: AlibabaAdapter, api: respx.MockRouter) -> None:
    route(api, PREVIEW).mock(return_value=httpx.Response(200, json={
        "success": False, "errorCode": "400_address", "errorMsg": "收货地址不支持"}))

    with pytest.raises(RejectedError, match="400_address"):
        adapter.check_stock(request())


def test_check_stock_given_a_malformed_cargo_list_names_the_field(adapter: AlibabaAdapter,
                                                                  api: respx.MockRouter) -> None:
    route(api, PREVIEW).mock(return_value=httpx.Response(200, json={
        "success": True, "orderPreviewResuslt": [{"cargoList": "none"}]}))

    with pytest.raises(ProtocolError, match=f"1688 {PREVIEW}: cargoList"):
        adapter.check_stock(request())


def test_check_stock_given_a_bare_offer_line_matches_any_refused_spec(adapter: AlibabaAdapter,
                                                                       api: respx.MockRouter) -> None:
    body = fixture("preview.json")
    body["orderPreviewResuslt"][0]["cargoList"][0].update(resultCode="500_006", message="库存不足")
    route(api, PREVIEW).mock(return_value=httpx.Response(200, json=body))

    answer = adapter.check_stock(request(lines=[SupplierLine("L1", "610000001", 2)]))

    assert answer is not None and answer.lines == [StockLine("610000001", 2, 0)]


# ---- place ----------------------------------------------------------------------------------------------


def test_place_sends_the_key_flow_channel_address_cargo_and_message(
        ctx: AdapterContext, api: respx.MockRouter, clock_at: object) -> None:
    adapter = AlibabaAdapter(make_config(flow="general", message_template="{platform_order_id} {remark}"), ctx)
    r = route(api, CREATE).mock(return_value=httpx.Response(200, json={
        "success": "true", "result": {"orderId": ORDER, "totalSuccessAmount": 2200, "failedOfferList": []}}))

    placed = adapter.place(request())

    assert placed == PlacedOrder(supplier_ref=ORDER, paid=False, amount_fen=2200)
    sent = form(r.calls.last.request)
    assert (sent["outOrderId"], sent["flow"], sent["fenxiaoChannel"]) == ("so-000042", "general", "douyin")
    assert sent["message"] == "6920000000000000001 请用中通"
    assert _json_form(r, "addressParam") == {
        "fullName": "张小三", "mobile": "13812345678", "provinceText": "浙江省", "cityText": "杭州市",
        "areaText": "西湖区", "townText": "文新街道", "address": "文一西路 100 号 3 幢 501 室"}


@pytest.mark.parametrize(("code", "message", "for_stock"), [("500_006", "库存不足", True),
                                                           ("500_005", "起批量不满足，最少2件", True),
                                                           ("500_003", "收货地址不支持", False)])
def test_place_given_a_refusal_raises_rejected_with_code_and_message_and_says_when_it_is_for_want_of_stock(
        adapter: AlibabaAdapter, api: respx.MockRouter, code: str, message: str, for_stock: bool) -> None:
    r = route(api, CREATE).mock(return_value=httpx.Response(200, json={
        "success": False, "code": code, "message": message}))

    with pytest.raises(RejectedError) as err:
        adapter.place(request())

    assert (err.value.code, err.value.platform_message) == (code, message)
    assert isinstance(err.value, OutOfStockError) is for_stock  # the core then holds it out of stock or falls back
    assert r.call_count == 1


@pytest.mark.parametrize("failure", [httpx.ReadTimeout("slow"), httpx.Response(502), httpx.Response(500)])
def test_place_given_a_lost_answer_raises_transient_and_never_sends_twice(
        adapter: AlibabaAdapter, api: respx.MockRouter, failure: object) -> None:
    kw = {"side_effect": failure} if isinstance(failure, Exception) else {"return_value": failure}
    r = route(api, CREATE).mock(**kw)

    with pytest.raises(TransientError, match="look it up by outOrderId so-000042"):
        adapter.place(request())

    assert r.call_count == 1


def test_place_given_rate_limiting_raises_it_without_retrying(adapter: AlibabaAdapter, api: respx.MockRouter,
                                                              waits: list[float]) -> None:
    r = route(api, CREATE).mock(return_value=httpx.Response(400, json={
        "error_code": "gw.QosAppFrequencyLimit", "error_message": "App call exceeds limited frequency"}))

    with pytest.raises(TransientError) as err:
        adapter.place(request())

    assert r.call_count == 1 and waits == [] and err.value.retry_after == 10


def test_place_given_success_without_an_order_id_is_a_protocol_error(adapter: AlibabaAdapter,
                                                                     api: respx.MockRouter) -> None:
    route(api, CREATE).mock(return_value=httpx.Response(200, json={"success": True, "result": {}}))

    with pytest.raises(ProtocolError, match="without an orderId"):
        adapter.place(request())


def test_place_given_a_bad_sku_or_long_address_refuses_before_calling(adapter: AlibabaAdapter,
                                                                      api: respx.MockRouter) -> None:
    from tests.adapters.alibaba.conftest import receiver

    with pytest.raises(RejectedError, match="offerId"):
        adapter.place(request(lines=[SupplierLine("L1", "YW-M100-WHT", 1)]))
    with pytest.raises(RejectedError, match="200"):
        adapter.place(request(receiver=receiver(detail="号" * 201)))


def test_place_given_failed_offers_keeps_the_created_order(adapter: AlibabaAdapter, api: respx.MockRouter,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    route(api, CREATE).mock(return_value=httpx.Response(200, json={"success": True, "result": {
        "orderId": ORDER, "totalSuccessAmount": 1700,
        "failedOfferList": [{"offerId": 610000004, "errorCode": "500_006", "errorMessage": "库存不足"}]}}))

    assert adapter.place(request()).supplier_ref == ORDER
    assert "610000004 500_006" in caplog.text


# ---- find -----------------------------------------------------------------------------------------------


def test_unknown_outcome_then_find_returns_the_order_created_by_that_key(adapter: AlibabaAdapter,
                                                                         api: respx.MockRouter) -> None:
    route(api, CREATE).mock(side_effect=httpx.ReadTimeout("slow"))
    listing = route(api, ORDER_LIST).mock(return_value=httpx.Response(200, json=fixture("order_list.json")))

    with pytest.raises(TransientError):
        adapter.place(request())
    found = adapter.find("so-000042", NOW - timedelta(minutes=5))

    assert found == PlacedOrder(supplier_ref=ORDER, paid=False, amount_fen=2200)
    sent = form(listing.calls.last.request)
    assert sent["outOrderId"] == "so-000042"
    assert sent["createStartTime"] == "20251122165500000+0800"
    assert (sent["page"], sent["pageSize"]) == ("1", "20")


def test_find_given_no_order_returns_none(adapter: AlibabaAdapter, api: respx.MockRouter) -> None:
    route(api, ORDER_LIST).mock(return_value=httpx.Response(200, json={"result": [], "totalRecord": 0}))

    assert adapter.find("so-000042", NOW) is None


def test_find_ignores_orders_of_another_key_and_pages_through(adapter: AlibabaAdapter,
                                                              api: respx.MockRouter) -> None:
    def entry(ref: int, key: str, status: str = "waitbuyerpay") -> dict[str, object]:
        return {"baseInfo": {"id": ref, "idOfStr": str(ref), "status": status, "outOrderId": key}}

    page1 = [entry(100 + i, "other") for i in range(20)]
    page2 = [entry(300, "so-000042", "waitsellersend"), entry(200, "so-000042")]
    r = route(api, ORDER_LIST).mock(side_effect=[
        httpx.Response(200, json={"result": page1, "totalRecord": 22}),
        httpx.Response(200, json={"result": page2, "totalRecord": 22})])

    found = adapter.find("so-000042", NOW)

    assert r.call_count == 2 and form(r.calls.last.request)["page"] == "2"
    assert found == PlacedOrder(supplier_ref="300", paid=True, amount_fen=None)  # the paid one of the duplicates


def test_find_given_a_malformed_entry_names_the_field(adapter: AlibabaAdapter, api: respx.MockRouter) -> None:
    route(api, ORDER_LIST).mock(return_value=httpx.Response(200, json={"result": [{"baseInfo": {"status": "x"}}]}))

    with pytest.raises(ProtocolError, match="order id"):
        adapter.find("so-000042", NOW)


# ---- pay ------------------------------------------------------------------------------------------------


def test_pay_when_manual_waits_for_a_person_without_calling(adapter: AlibabaAdapter,
                                                            config: AlibabaSupplierConfig) -> None:
    assert config.payment == "manual"
    with pytest.raises(RejectedError, match="awaiting payment by a person"):
        adapter.pay(PlacedOrder(ORDER, paid=False))


def test_pay_with_protocol_pay_reporting_success_pays_without_reading_the_order_back(
        ctx: AdapterContext, api: respx.MockRouter, clock_at: object) -> None:
    adapter = AlibabaAdapter(make_config(payment="protocol_pay"), ctx)
    pay = route(api, PROTOCOL_PAY).mock(return_value=httpx.Response(200, json={
        "success": True, "result": {"payChannel": "alipay", "paySuccess": "true"}}))

    after = adapter.pay(PlacedOrder(ORDER, paid=False, amount_fen=2200))

    assert after == PlacedOrder(ORDER, paid=True, amount_fen=2200)
    assert _json_form(pay, "tradeWithholdPreparePayParam") == {"orderId": int(ORDER)}
    assert len(api.calls) == 1


@pytest.mark.parametrize("result", [{"payChannel": "alipay"}, {"paySuccess": False}, None])
def test_pay_with_protocol_pay_not_saying_it_went_through_reads_the_order_back(
        ctx: AdapterContext, api: respx.MockRouter, clock_at: object, result: object) -> None:
    adapter = AlibabaAdapter(make_config(payment="protocol_pay"), ctx)
    route(api, PROTOCOL_PAY).mock(return_value=httpx.Response(200, json={"success": True, "result": result}))
    view = fixture("buyer_view_partial.json")
    route(api, ORDER_DETAIL).mock(return_value=httpx.Response(200, json=view))

    after = adapter.pay(PlacedOrder(ORDER, paid=False, amount_fen=2200))

    assert after == PlacedOrder(ORDER, paid=True, amount_fen=4250)


def test_pay_refused_by_1688_is_rejected(ctx: AdapterContext, api: respx.MockRouter, clock_at: object) -> None:
    adapter = AlibabaAdapter(make_config(payment="protocol_pay"), ctx)
    route(api, PROTOCOL_PAY).mock(return_value=httpx.Response(200, json={
        "success": False, "code": "PAY_PROTOCOL_NOT_SIGNED", "message": "买家未开通免密支付"}))

    with pytest.raises(RejectedError, match="PAY_PROTOCOL_NOT_SIGNED"):
        adapter.pay(PlacedOrder(ORDER, paid=False))

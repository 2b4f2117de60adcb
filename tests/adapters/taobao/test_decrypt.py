"""taobao.top.oaid.decrypt: batches of at most 20 trades, per-trade results, partial failures."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
import time_machine

from syncd.adapters.taobao.adapter import TaobaoAdapter
from syncd.domain import Receiver, ReceiverRef
from syncd.registry import AdapterContext
from tests.adapters.taobao.conftest import DECRYPT, answer, fail, form, make_config, ok, route

FIRST, SECOND = "2451234567890123456", "2451234567890124000"


def _refs(count: int) -> list[tuple[str, ReceiverRef]]:
    return [(str(2470000000000000000 + i), ReceiverRef(
        name_cipher=f"oaid-{i}", phone_cipher=f"oaid-{i}", address_cipher=f"oaid-{i}", name_masked="王**",
        province="浙江省", city="杭州市", district="西湖区", street="文新街道")) for i in range(count)]


def _fixture_refs() -> list[tuple[str, ReceiverRef]]:
    first = ReceiverRef(name_cipher="1ZxPqL7a3bYt0Kc9WmRv2NdE5sHjU8gF", phone_cipher="1ZxPqL7a3bYt0Kc9WmRv2NdE5sHjU8gF",
                        address_cipher="1ZxPqL7a3bYt0Kc9WmRv2NdE5sHjU8gF", province="浙江省", city="杭州市")
    second = ReceiverRef(name_cipher="1MmR0bX2cV9nQ4wE7tY1uI8oP3aS6dF5", province="广东省", city="深圳市")
    third = ReceiverRef(name_cipher="1Nope00000000000000000000000000", province="北京市", city="北京市")
    return [(FIRST, first), (SECOND, second), ("2451234567890125000", third)]


def _echo(batches: list[list[dict[str, str]]]) -> Callable[[httpx.Request], httpx.Response]:
    """A platform that decrypts every oaid to ``name-<tid>`` and so on."""

    def reply(request: httpx.Request) -> httpx.Response:
        query = json.loads(form(request)["query_list"])
        batches.append(query)
        return ok(DECRYPT, {"receiver_list": {"receiver": [
            {"tid": q["tid"], "oaid": q["oaid"], "name": f"name-{q['tid']}", "mobile": "13812345678",
             "address_detail": f"detail-{q['tid']}", "state": "浙江省", "city": "杭州市", "district": "西湖区",
             "town": "文新街道", "matched": True} for q in query]}})

    return reply


def test_decrypt_given_45_trades_sends_3_calls_of_at_most_20(adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    batches: list[list[dict[str, str]]] = []
    route(api, DECRYPT).mock(side_effect=_echo(batches))
    refs = _refs(45)

    result = adapter.decrypt(refs)

    assert [len(b) for b in batches] == [20, 20, 5]
    assert batches[0][0] == {"oaid": "oaid-0", "tid": "2470000000000000000"}
    assert set(result) == {tid for tid, _ in refs}
    got = result["2470000000000000021"]
    assert isinstance(got, Receiver)
    assert (got.name, got.phone, got.detail) == ("name-2470000000000000021", "13812345678",
                                                 "detail-2470000000000000021")
    assert (got.province, got.city, got.district, got.street) == ("浙江省", "杭州市", "西湖区", "文新街道")
    assert got.virtual_phone is False


def test_decrypt_given_smaller_decrypt_batch_respects_it(
        ctx: AdapterContext, api: respx.MockRouter, clock_at: time_machine.Traveller) -> None:
    batches: list[list[dict[str, str]]] = []
    route(api, DECRYPT).mock(side_effect=_echo(batches))

    TaobaoAdapter(make_config(decrypt_batch=2), ctx).decrypt(_refs(5))

    assert [len(b) for b in batches] == [2, 2, 1]


def test_decrypt_given_partial_answer_gives_each_trade_a_receiver_or_a_reason(
        adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    route(api, DECRYPT).mock(return_value=answer("top_oaid_decrypt_partial.json"))

    result = adapter.decrypt(_fixture_refs())

    first = result[FIRST]
    assert isinstance(first, Receiver)
    assert (first.name, first.phone, first.detail) == ("张三", "13800001234-5678", "文一西路969号3幢")
    assert first.virtual_phone is True
    assert result[SECOND] == "the oaid no longer matches the trade (the address changed): read the trade again"
    assert result["2451234567890125000"] == "receiver not decrypted: no answer for this trade"
    reasons = " ".join(str(v) for v in result.values() if isinstance(v, str))
    assert "李四" not in reasons and "科技园南区9栋" not in reasons and "13912345678" not in reasons


def test_decrypt_given_item_error_gives_that_trade_the_reason(adapter: TaobaoAdapter, api: respx.MockRouter) -> None:
    route(api, DECRYPT).mock(return_value=ok(DECRYPT, {"receiver_list": {"receiver": [
        {"tid": FIRST, "oaid": "1ZxPqL7a3bYt0Kc9WmRv2NdE5sHjU8gF", "error_code": "isv.oaid-decrypt-quota",
         "error_msg": "解密额度不足"}]}}))

    result = adapter.decrypt(_fixture_refs()[:1])

    assert result[FIRST] == "receiver not decrypted: 解密额度不足"


def test_decrypt_given_whole_batch_refused_gives_its_trades_the_platform_reason(
        ctx: AdapterContext, api: respx.MockRouter, clock_at: time_machine.Traveller) -> None:
    batches: list[list[dict[str, str]]] = []
    echo = _echo(batches)

    def reply(request: httpx.Request) -> httpx.Response:
        if not batches:
            batches.append([])
            return fail(15, "Remote service error", "isv.decrypt-scene-not-allowed", "场景不允许解密")
        return echo(request)

    route(api, DECRYPT).mock(side_effect=reply)

    result = TaobaoAdapter(make_config(decrypt_batch=1), ctx).decrypt(_refs(2))

    assert result["2470000000000000000"] == "decrypt refused: 场景不允许解密"
    assert isinstance(result["2470000000000000001"], Receiver)


def test_decrypt_given_trade_without_oaid_gives_a_reason_without_calling(adapter: TaobaoAdapter) -> None:
    result = adapter.decrypt([("2470000000000000000", ReceiverRef(name_masked="王**"))])

    assert result == {"2470000000000000000": "no oaid listed for this trade: its receiver cannot be decrypted"}


@pytest.mark.parametrize("missing", ["mobile", "address_detail"])
def test_decrypt_given_answer_without_a_field_leaves_it_missing(
        adapter: TaobaoAdapter, api: respx.MockRouter, missing: str) -> None:
    item: dict[str, Any] = {"tid": FIRST, "oaid": "1ZxPqL7a3bYt0Kc9WmRv2NdE5sHjU8gF", "name": "张三",
                            "mobile": "13800001234", "address_detail": "文一西路969号", "matched": True}
    del item[missing]
    route(api, DECRYPT).mock(return_value=ok(DECRYPT, {"receiver_list": {"receiver": [item]}}))

    got = adapter.decrypt(_fixture_refs()[:1])[FIRST]

    assert isinstance(got, Receiver)
    assert got.missing() == [{"mobile": "phone", "address_detail": "detail"}[missing]]

"""order.batchDecrypt: batches of at most 50 texts, per-order results, partial failures, virtual phones."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
import time_machine

from syncd.adapters.douyin.adapter import DouyinAdapter
from syncd.adapters.douyin.mapping import map_order
from syncd.domain import Receiver, ReceiverRef
from syncd.registry import AdapterContext
from tests.adapters.douyin.conftest import fail, fixture, make_config, ok

FIRST, SECOND = "6921234567890123456", "6921234567890124000"


def _fixture_refs() -> list[tuple[str, ReceiverRef]]:
    orders = [map_order(o) for o in fixture("order_search_list.json")["data"]["shop_order_list"]]
    return [(o.platform_order_id, o.receiver) for o in orders]


def _refs(count: int) -> list[tuple[str, ReceiverRef]]:
    return [(f"69400000000{i:05d}", ReceiverRef(name_cipher=f"#N{i}#", phone_cipher=f"$P{i}$",
                                                address_cipher=f"#A{i}#", province="浙江省", city="杭州市",
                                                district="西湖区", street="文新街道"))
            for i in range(count)]


def _echo(batches: list[list[dict[str, Any]]]) -> Callable[[httpx.Request], httpx.Response]:
    """A platform that decrypts every text to ``plain:<cipher>``."""

    def answer(request: httpx.Request) -> httpx.Response:
        infos = json.loads(request.content)["cipher_infos"]
        batches.append(infos)
        return ok({"decrypt_infos": [{**i, "decrypt_text": f"plain:{i['cipher_text']}", "err_no": 0,
                                      "err_msg": "", "is_virtual_tel": False} for i in infos],
                   "custom_err": {"err_code": 0, "err_msg": ""}})

    return answer


def test_decrypt_given_40_orders_sends_3_calls_of_at_most_50_texts(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    batches: list[list[dict[str, Any]]] = []
    api.post("/order/batchDecrypt").mock(side_effect=_echo(batches))
    refs = _refs(40)

    result = adapter.decrypt(refs)

    assert [len(b) for b in batches] == [50, 50, 20]
    assert batches[0][0] == {"auth_id": "6940000000000000", "cipher_text": "#N0#"}
    assert set(result) == {order_id for order_id, _ in refs}
    spanning = result["6940000000000016"]  # its texts are items 48, 49 and 50: two calls
    assert isinstance(spanning, Receiver)
    assert (spanning.name, spanning.phone, spanning.detail) == ("plain:#N16#", "plain:$P16$", "plain:#A16#")
    assert (spanning.province, spanning.city, spanning.district, spanning.street) == ("浙江省", "杭州市",
                                                                                     "西湖区", "文新街道")
    assert spanning.virtual_phone is False


def test_decrypt_given_smaller_decrypt_batch_respects_it(
        ctx: AdapterContext, api: respx.MockRouter, clock_at: time_machine.Traveller) -> None:
    batches: list[list[dict[str, Any]]] = []
    api.post("/order/batchDecrypt").mock(side_effect=_echo(batches))

    DouyinAdapter(make_config(decrypt_batch=10), ctx).decrypt(_refs(5))

    assert [len(b) for b in batches] == [10, 5]


def test_decrypt_given_partial_failure_reads_each_item(adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    api.post("/order/batchDecrypt").mock(return_value=httpx.Response(200, json=fixture("batch_decrypt_partial.json")))

    result = adapter.decrypt(_fixture_refs())

    first, second = result[FIRST], result[SECOND]
    assert isinstance(first, Receiver)
    assert (first.name, first.detail, first.province) == ("张三", "文一西路969号3幢", "浙江省")
    assert isinstance(second, str)
    assert "phone" in second and "300008" in second
    assert "李四" not in second and "科技园南区9栋" not in second  # the texts that did decrypt stay out


def test_decrypt_given_50002_300008_partial_failure_reads_each_item(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    body = fixture("batch_decrypt_partial.json")
    body.update(code=50002, sub_code="isv.business-failed:300008", sub_msg="部分解密失败")
    api.post("/order/batchDecrypt").mock(return_value=httpx.Response(200, json=body))

    result = adapter.decrypt(_fixture_refs())

    assert isinstance(result[FIRST], Receiver)
    assert isinstance(result[SECOND], str)


def test_decrypt_given_virtual_phone_passes_main_and_extension_verbatim(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    api.post("/order/batchDecrypt").mock(return_value=httpx.Response(200, json=fixture("batch_decrypt_partial.json")))

    first = adapter.decrypt(_fixture_refs())[FIRST]

    assert isinstance(first, Receiver)
    assert first.phone == "13800001234-5678"
    assert first.virtual_phone is True


def test_decrypt_given_text_without_answer_gives_that_order_a_reason(
        adapter: DouyinAdapter, api: respx.MockRouter) -> None:
    body = fixture("batch_decrypt_partial.json")
    body["data"]["decrypt_infos"] = [i for i in body["data"]["decrypt_infos"] if i["data_type"] != 3]
    api.post("/order/batchDecrypt").mock(return_value=httpx.Response(200, json=body))

    result = adapter.decrypt(_fixture_refs())

    assert result[FIRST] == "address not decrypted: no answer"


def test_decrypt_given_whole_batch_refused_gives_its_orders_the_platform_reason(
        ctx: AdapterContext, api: respx.MockRouter, clock_at: time_machine.Traveller) -> None:
    batches: list[list[dict[str, Any]]] = []
    echo = _echo(batches)

    def answer(request: httpx.Request) -> httpx.Response:
        if not batches:
            batches.append([])
            return fail(50002, "isv.business-failed:300010", "解密额度已用完")
        return echo(request)

    api.post("/order/batchDecrypt").mock(side_effect=answer)

    result = DouyinAdapter(make_config(decrypt_batch=3), ctx).decrypt(_refs(2))

    assert result["6940000000000000"] == "decrypt refused: 解密额度已用完"
    assert isinstance(result["6940000000000001"], Receiver)


@pytest.mark.parametrize("missing", ["name_cipher", "phone_cipher"])
def test_decrypt_given_ref_without_a_cipher_leaves_that_field_empty(
        adapter: DouyinAdapter, api: respx.MockRouter, missing: str) -> None:
    batches: list[list[dict[str, Any]]] = []
    api.post("/order/batchDecrypt").mock(side_effect=_echo(batches))
    (order_id, ref), = _refs(1)
    setattr(ref, missing, "")

    got = adapter.decrypt([(order_id, ref)])[order_id]

    assert len(batches[0]) == 2
    assert isinstance(got, Receiver) and got.missing() == [missing.removesuffix("_cipher")]

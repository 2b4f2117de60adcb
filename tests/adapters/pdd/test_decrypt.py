"""pdd.open.decrypt.batch: batches of at most 100 texts, per-order results, partial failures, virtual numbers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
import time_machine

from syncd.adapters.pdd.adapter import PddAdapter
from syncd.adapters.pdd.mapping import map_order
from syncd.domain import Receiver, ReceiverRef
from syncd.registry import AdapterContext
from tests.adapters.pdd.conftest import fail, fixture, form, make_config, ok, route, sample_order

DECRYPT = "pdd.open.decrypt.batch"
KEY = "open_decrypt_batch_response"
FIRST, SECOND = "251122-512345678901234", "251122-587654321098765"


def _fixture_refs() -> list[tuple[str, ReceiverRef]]:
    orders = [map_order(sample_order(i)) for i in (0, 1)]
    return [(o.platform_order_id, o.receiver) for o in orders]


def _refs(count: int) -> list[tuple[str, ReceiverRef]]:
    return [(f"251122-5{i:014d}", ReceiverRef(name_cipher=f"~N{i}~", phone_cipher=f"~P{i}~",
                                               address_cipher=f"~A{i}~", province="浙江省", city="杭州市",
                                               district="西湖区"))
            for i in range(count)]


def _echo(batches: list[list[dict[str, Any]]]) -> Callable[[httpx.Request], httpx.Response]:
    """A platform that decrypts every text to ``plain:<cipher>``."""

    def answer(request: httpx.Request) -> httpx.Response:
        items = json.loads(form(request)["data_list"])
        batches.append(items)
        return ok(KEY, {"data_decrypt_list": [{**i, "decrypted_data": f"plain:{i['encrypted_data']}",
                                               "error_code": 0, "data_type": 5} for i in items]})

    return answer


def test_decrypt_given_40_orders_sends_2_calls_of_at_most_100_texts(
        adapter: PddAdapter, api: respx.MockRouter) -> None:
    batches: list[list[dict[str, Any]]] = []
    route(api, DECRYPT).mock(side_effect=_echo(batches))
    refs = _refs(40)

    result = adapter.decrypt(refs)

    assert [len(b) for b in batches] == [100, 20]
    assert batches[0][0] == {"data_tag": "251122-500000000000000", "encrypted_data": "~N0~"}
    spanning = result["251122-500000000000033"]  # its texts are items 99, 100 and 101: two calls
    assert isinstance(spanning, Receiver)
    assert (spanning.name, spanning.phone, spanning.detail) == ("plain:~N33~", "plain:~P33~", "plain:~A33~")
    assert (spanning.province, spanning.city, spanning.district) == ("浙江省", "杭州市", "西湖区")
    assert spanning.virtual_phone is False


def test_decrypt_given_a_smaller_decrypt_batch_respects_it(
        ctx: AdapterContext, api: respx.MockRouter, clock_at: time_machine.Traveller) -> None:
    batches: list[list[dict[str, Any]]] = []
    route(api, DECRYPT).mock(side_effect=_echo(batches))

    PddAdapter(make_config(decrypt_batch=10), ctx).decrypt(_refs(5))

    assert [len(b) for b in batches] == [10, 5]


def test_decrypt_given_partial_failure_gives_each_order_its_own_result(
        adapter: PddAdapter, api: respx.MockRouter) -> None:
    route(api, DECRYPT).mock(return_value=httpx.Response(200, json=fixture("decrypt_batch_partial.json")))

    result = adapter.decrypt(_fixture_refs())

    first, second = result[FIRST], result[SECOND]
    assert isinstance(first, Receiver)
    assert (first.name, first.detail) == ("张三", "文一西路969号3幢")
    assert (first.province, first.district) == ("浙江省", "西湖区")
    assert isinstance(second, str)
    assert second == "phone not decrypted: 解密额度不足 (error_code 30001)"
    assert "李四" not in second and "科技园南区9栋" not in second  # the texts that did decrypt stay out


def test_decrypt_given_a_virtual_number_with_its_extension_apart_joins_them(
        adapter: PddAdapter, api: respx.MockRouter) -> None:
    route(api, DECRYPT).mock(return_value=httpx.Response(200, json=fixture("decrypt_batch_partial.json")))

    first = adapter.decrypt(_fixture_refs())[FIRST]

    assert isinstance(first, Receiver)
    assert first.phone == "13800001234-5678" and first.virtual_phone is True


def test_decrypt_given_a_virtual_number_with_its_extension_inside_passes_it_verbatim(
        adapter: PddAdapter, api: respx.MockRouter) -> None:
    body = fixture("decrypt_batch_partial.json")
    phone = body[KEY]["data_decrypt_list"][1]
    phone.update(decrypted_data="17012345678-0921", virtual_identify_number="0921")
    route(api, DECRYPT).mock(return_value=httpx.Response(200, json=body))

    first = adapter.decrypt(_fixture_refs())[FIRST]

    assert isinstance(first, Receiver) and first.phone == "17012345678-0921" and first.virtual_phone


def test_decrypt_given_a_text_without_answer_gives_that_order_a_reason(
        adapter: PddAdapter, api: respx.MockRouter) -> None:
    body = fixture("decrypt_batch_partial.json")
    body[KEY]["data_decrypt_list"] = [i for i in body[KEY]["data_decrypt_list"] if i["data_type"] != 8]
    route(api, DECRYPT).mock(return_value=httpx.Response(200, json=body))

    assert adapter.decrypt(_fixture_refs())[FIRST] == "address not decrypted: no answer"


def test_decrypt_given_a_whole_batch_refused_gives_its_orders_the_platform_reason(
        ctx: AdapterContext, api: respx.MockRouter, clock_at: time_machine.Traveller) -> None:
    batches: list[list[dict[str, Any]]] = []
    echo = _echo(batches)

    def answer(request: httpx.Request) -> httpx.Response:
        if not batches:
            batches.append([])
            return fail(52101, "业务处理失败", "解密额度已用完")
        return echo(request)

    route(api, DECRYPT).mock(side_effect=answer)

    result = PddAdapter(make_config(decrypt_batch=3), ctx).decrypt(_refs(2))

    assert result["251122-500000000000000"] == "decrypt refused: 业务处理失败: 解密额度已用完"
    assert isinstance(result["251122-500000000000001"], Receiver)


@pytest.mark.parametrize("missing", ["name_cipher", "phone_cipher"])
def test_decrypt_given_a_ref_without_a_cipher_leaves_that_field_empty(
        adapter: PddAdapter, api: respx.MockRouter, missing: str) -> None:
    batches: list[list[dict[str, Any]]] = []
    route(api, DECRYPT).mock(side_effect=_echo(batches))
    (order_sn, ref), = _refs(1)
    setattr(ref, missing, "")

    got = adapter.decrypt([(order_sn, ref)])[order_sn]

    assert len(batches[0]) == 2
    assert isinstance(got, Receiver) and got.missing() == [missing.removesuffix("_cipher")]


def test_decrypt_given_plaintext_results_never_puts_them_in_a_reason(
        adapter: PddAdapter, api: respx.MockRouter) -> None:
    body = fixture("decrypt_batch_partial.json")
    route(api, DECRYPT).mock(return_value=httpx.Response(200, json=body))

    result = adapter.decrypt(_fixture_refs())

    reasons = " ".join(v for v in result.values() if isinstance(v, str))
    assert "13800001234" not in reasons and "张三" not in reasons
    assert "张三" not in repr(result[FIRST]) and "13800001234" not in repr(result[FIRST])

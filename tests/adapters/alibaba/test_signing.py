"""``_aop_signature`` (reference §A.2): the vector, byte-order sorting, and JSON params signed as sent."""

from __future__ import annotations

import json

import httpx
import respx

from syncd.adapters.alibaba.client import CREATE, AlibabaClient
from syncd.adapters.alibaba.signing import flatten, sign, url_path, wire_value
from tests.adapters.alibaba.conftest import ACCESS, APP_KEY, SECRET, form, route

VECTOR_PATH = "param2/1/com.alibaba.trade/alibaba.trade.get.buyerView/1234567"


def test_sign_given_the_reference_vector_gives_its_signature() -> None:
    params = {"access_token": "tok-abc", "orderId": "123456789012345678", "webSite": "1688"}

    assert sign(VECTOR_PATH, params, "testSecret") == "EFCEACAD67A5485327F9FAC2EE99922DD6B2AE20"


def test_url_path_has_no_leading_slash_and_no_openapi_prefix() -> None:
    assert url_path("param2", 1, "com.alibaba.trade", "alibaba.trade.get.buyerView", "1234567") == VECTOR_PATH


def test_sign_ignores_an_existing_signature_parameter() -> None:
    params = {"access_token": "tok-abc", "orderId": "123456789012345678", "webSite": "1688"}

    assert sign(VECTOR_PATH, {**params, "_aop_signature": "OLD"}, "testSecret") == sign(VECTOR_PATH, params,
                                                                                        "testSecret")


def test_sign_sorts_the_key_value_strings_not_the_keys() -> None:
    # "a"+"z" = "az" sorts after "ab"+"c" = "abc"; sorting by key would put "a" first.
    by_strings = sign("p", {"a": "z", "ab": "c"}, "s")
    import hashlib
    import hmac

    expected = hmac.new(b"s", b"pabcaz", hashlib.sha1).hexdigest().upper()
    assert by_strings == expected


def test_wire_value_gives_compact_json_with_cjk_kept_and_lowercase_booleans() -> None:
    assert wire_value({"fullName": "张三", "n": [1, 2]}) == '{"fullName":"张三","n":[1,2]}'
    assert wire_value(True) == "true"
    assert flatten({"a": None, "b": 3}) == {"b": "3"}


def test_a_posted_structured_parameter_is_the_exact_string_that_was_signed(
        client: AlibabaClient, api: respx.MockRouter) -> None:
    r = route(api, CREATE).mock(return_value=httpx.Response(200, json={"success": True, "result": {}}))
    address = {"fullName": "张三", "address": "文一西路 100 号 & 1 室"}

    client.call(CREATE, {"addressParam": address, "cargoParamList": [{"offerId": 1, "quantity": 2}]},
                retried=False)

    sent = form(r.calls.last.request)
    assert json.loads(sent["addressParam"]) == address
    assert sent["access_token"] == ACCESS
    path = f"param2/1/com.alibaba.trade/{CREATE}/{APP_KEY}"
    assert sent["_aop_signature"] == sign(path, {k: v for k, v in sent.items() if k != "_aop_signature"}, SECRET)

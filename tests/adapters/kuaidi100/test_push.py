"""Push callbacks (§C.3): signature, status/message/comNew, and the exact reply Kuaidi100 needs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from syncd.adapters.kuaidi100.adapter import Kuaidi100Provider
from syncd.adapters.kuaidi100.signing import param_json, push_sign
from syncd.domain import LogisticsState
from syncd.errors import RejectedError
from syncd.registry import AdapterContext
from tests.adapters.kuaidi100.conftest import SALT, fixture, make_config

VECTOR_PARAM = '{"com":"yuantong","num":"YT0000000000000"}'


def signed(body: dict[str, Any], salt: str = SALT) -> dict[str, str]:
    param = param_json(body)
    return {"param": param, "sign": push_sign(param, salt)}


def test_a_signed_polling_push_is_read(provider: Kuaidi100Provider) -> None:
    push = provider.parse_push(signed(fixture("push_polling.json")))
    assert (push.carrier, push.tracking_no) == ("zhongtong", "73100000000001")
    assert push.result.state is LogisticsState.IN_TRANSIT and not push.result.final
    assert [e.state for e in push.result.events] == [LogisticsState.PICKED_UP, LogisticsState.IN_TRANSIT]


def test_the_reference_push_vector_verifies_and_then_fails_only_on_its_missing_last_result(
        ctx: AdapterContext) -> None:
    provider = Kuaidi100Provider(make_config(salt="s"), ctx)
    form = {"param": VECTOR_PARAM, "sign": "BBA3692F0241E1D6087763FAE6F56FAB"}
    with pytest.raises(RejectedError, match="lastResult is NoneType, expected an object"):
        provider.parse_push(form)
    with pytest.raises(RejectedError, match="signature does not match"):
        provider.parse_push({**form, "sign": "BBA3692F0241E1D6087763FAE6F56FAC"})


def test_a_lower_case_signature_is_accepted(provider: Kuaidi100Provider) -> None:
    form = signed(fixture("push_polling.json"))
    assert provider.parse_push({**form, "sign": form["sign"].lower()}).tracking_no == "73100000000001"


@pytest.mark.parametrize(("form", "why"), [
    ({}, "no param field"),
    ({"sign": "AB"}, "no param field"),
    ({"param": VECTOR_PARAM}, "unsigned"),
    ({"param": VECTOR_PARAM, "sign": ""}, "unsigned"),
    ({"param": VECTOR_PARAM, "sign": "BBA3692F0241E1D6087763FAE6F56FAB"}, "signature does not match"),
])
def test_unsigned_or_badly_signed_pushes_are_refused(
        provider: Kuaidi100Provider, form: dict[str, str], why: str) -> None:
    with pytest.raises(RejectedError, match=why) as info:
        provider.parse_push(form)
    assert SALT not in str(info.value) and "BBA3692F" not in str(info.value)


def test_a_push_changed_after_signing_is_refused(provider: Kuaidi100Provider) -> None:
    form = signed(fixture("push_polling.json"))
    with pytest.raises(RejectedError, match="signature does not match"):
        provider.parse_push({**form, "param": form["param"].replace("73100000000001", "73100000000002")})


def test_without_a_salt_no_push_is_trusted(ctx: AdapterContext) -> None:
    with pytest.raises(RejectedError, match=r"no salt in tracking\.yaml"):
        Kuaidi100Provider(make_config(salt=None), ctx).parse_push(signed(fixture("push_polling.json")))


@pytest.mark.parametrize(("param", "why"), [
    ("not json", "param is not JSON"), ("[1, 2]", "param is JSON list, expected an object"),
])
def test_a_signed_push_that_is_not_a_json_object_is_refused(
        provider: Kuaidi100Provider, param: str, why: str) -> None:
    with pytest.raises(RejectedError, match=why):
        provider.parse_push({"param": param, "sign": push_sign(param, SALT)})


@pytest.mark.parametrize(("change", "why"), [
    ({"nu": ""}, "lastResult.nu \\(the tracking number\\) is missing"),
    ({"com": ""}, "lastResult.com \\(the carrier\\) is missing"),
    ({"data": [{"ftime": "bad", "context": "x"}]}, "kuaidi100 push 73100000000001: data\\[0\\].ftime 'bad'"),
    ({"state": None}, "state is missing"),
])
def test_a_signed_push_with_a_malformed_last_result_is_refused_naming_the_field(
        provider: Kuaidi100Provider, change: dict[str, Any], why: str) -> None:
    body = fixture("push_polling.json")
    body["lastResult"].update(change)
    with pytest.raises(RejectedError, match=why):
        provider.parse_push(signed(body))


@pytest.mark.parametrize("message", ["3天查询无记录", "60天无变化"])
def test_abort_carries_kuaidi100s_reason_as_the_verdict(provider: Kuaidi100Provider, message: str) -> None:
    body = fixture("push_polling.json")
    body.update(status="abort", message=message)
    body["lastResult"].update(data=[], state="0")
    push = provider.parse_push(signed(body))
    assert push.result.verdict == f"abort: {message}"
    assert push.result.final and push.result.state is LogisticsState.NONE and push.result.events == []


def test_abort_without_a_state_or_data_is_still_read(provider: Kuaidi100Provider) -> None:
    body = fixture("push_polling.json")
    body.update(status="abort", message="3天查询无记录")
    del body["lastResult"]["state"], body["lastResult"]["data"]
    assert provider.parse_push(signed(body)).result.verdict == "abort: 3天查询无记录"


def test_shutdown_is_final(provider: Kuaidi100Provider) -> None:
    body = fixture("push_polling.json")
    body["status"] = "shutdown"
    body["lastResult"].update(state="3", ischeck="1")
    push = provider.parse_push(signed(body))
    assert push.result.final and push.result.state is LogisticsState.DELIVERED


def test_updateall_reads_like_polling(provider: Kuaidi100Provider) -> None:
    body = fixture("push_polling.json")
    body["status"] = "updateall"
    push = provider.parse_push(signed(body))
    assert not push.result.final and push.result.state is LogisticsState.IN_TRANSIT


def test_a_corrected_carrier_uses_com_new_as_the_internal_code(provider: Kuaidi100Provider) -> None:
    body = fixture("push_polling.json")
    body.update(autoCheck="1", comOld="yuantong", comNew="ZTO")
    body["lastResult"]["com"] = "yuantong"
    assert provider.parse_push(signed(body)).carrier == "zhongtong"


def test_the_stalled_code_in_a_push_is_the_stalled_verdict(provider: Kuaidi100Provider) -> None:
    body = fixture("push_polling.json")
    body["lastResult"]["state"] = "2"
    body["lastResult"]["data"][0].update(status="超时未更新", statusCode="202")
    assert provider.parse_push(signed(body)).result.verdict == "stalled"


def test_push_reply_on_success_is_exactly_the_documented_body(provider: Kuaidi100Provider) -> None:
    status, content_type, body = provider.push_reply(True, "whatever")
    assert (status, content_type) == (200, "application/json;charset=utf-8")
    assert body == '{"result":true,"returnCode":"200","message":"成功"}'.encode()


def test_push_reply_on_failure_is_result_false_500_with_the_reason(provider: Kuaidi100Provider) -> None:
    status, content_type, body = provider.push_reply(False, "signature does not match; 13812345678")
    assert (status, content_type) == (200, "application/json;charset=utf-8")
    assert json.loads(body) == {"result": False, "returnCode": "500",
                                "message": "signature does not match; 138****5678"}
    assert json.loads(provider.push_reply(False, "")[2])["message"] == "失败"

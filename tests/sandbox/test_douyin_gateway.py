"""The simulator refuses what the Douyin gateway refuses (reference/storefronts.md §1.1–1.3, §1.7)."""

from __future__ import annotations

from syncd.adapters.douyin.signing import canonical_param_json, sign
from syncd.adapters.sandbox.seed import SANDBOX_APP_SECRET

LIST = {"update_time_start": 1_799_900_000, "page": 0, "size": 5}


def test_envelope_of_success_has_every_field_and_code_10000(douyin):
    _, client = douyin
    answer = client.call("order.logisticsCompanyList", {})
    assert set(answer) == {"code", "msg", "sub_code", "sub_msg", "log_id", "data"}
    assert answer["code"] == 10000 and answer["msg"] == "success" and answer["sub_code"] == ""
    assert answer["log_id"]


def test_wrong_signature_is_refused_with_40003_signature_invalid(douyin):
    _, client = douyin
    pj = canonical_param_json(LIST)
    q = client.query("order.searchList", pj)
    q["sign"] = sign(client.app_key, "not-the-secret", "order.searchList", pj, q["timestamp"])
    answer = client.raw("order.searchList", pj, q)
    assert (answer["code"], answer["sub_code"]) == (40003, "isv.signature-invalid")
    assert answer["data"] is None


def test_body_other_than_the_signed_param_json_is_refused(douyin):
    _, client = douyin
    pj = canonical_param_json(LIST)
    answer = client.raw("order.searchList", pj.replace(",", ", "), client.query("order.searchList", pj))
    assert answer["sub_code"] == "isv.signature-invalid"


def test_sign_method_absent_means_md5(douyin):
    _, client = douyin
    assert client.call("order.searchList", LIST, sign_method=None)["code"] == 10000  # md5-signed, no sign_method
    pj = canonical_param_json(LIST)
    q = client.query("order.searchList", pj, sign_method=None)
    q["sign"] = sign(client.app_key, SANDBOX_APP_SECRET, "order.searchList", pj, q["timestamp"], "hmac-sha256")
    assert client.raw("order.searchList", pj, q)["sub_code"] == "isv.signature-invalid"


def test_md5_and_hmac_sha256_are_both_accepted_when_declared(douyin):
    _, client = douyin
    assert client.call("order.searchList", LIST, sign_method="md5")["code"] == 10000
    assert client.call("order.searchList", LIST, sign_method="hmac-sha256")["code"] == 10000
    pj = canonical_param_json(LIST)
    q = client.query("order.searchList", pj, sign_method="md5")
    q["sign_method"] = "sha1"
    assert client.raw("order.searchList", pj, q)["code"] == 40003


def test_timestamp_more_than_300s_off_is_refused(douyin, clock):
    _, client = douyin
    stale = str(int(clock()) - 301)
    answer = client.call("order.searchList", LIST, timestamp=stale)
    assert (answer["code"], answer["sub_code"]) == (40003, "isv.timestamp-invalid")
    ahead = str(int(clock()) + 301)
    assert client.call("order.searchList", LIST, timestamp=ahead)["sub_code"] == "isv.timestamp-invalid"
    assert client.call("order.searchList", LIST, timestamp=str(int(clock()) - 299))["code"] == 10000


def test_timestamp_in_milliseconds_or_beijing_datetime_is_understood(douyin, clock):
    _, client = douyin
    assert client.call("order.searchList", LIST, timestamp=str(int(clock() * 1000)))["code"] == 10000
    assert client.call("order.searchList", LIST, timestamp="2020-01-01 00:00:00")["sub_code"] == (
        "isv.timestamp-invalid")
    assert client.call("order.searchList", LIST, timestamp="yesterday")["sub_code"] == "isv.timestamp-format-error"


def test_method_must_match_the_path_and_v_must_be_2(douyin):
    _, client = douyin
    pj = canonical_param_json(LIST)
    q = client.query("order.orderDetail", pj)
    assert client.raw("x", pj, q, path="/order/searchList")["code"] == 40003
    assert client.call("order.searchList", LIST, v="1")["code"] == 40003


def test_unknown_app_key_and_missing_sign_are_refused(douyin):
    _, client = douyin
    assert client.call("order.searchList", LIST, app_key="7000000000000000999")["code"] == 40003
    pj = canonical_param_json(LIST)
    q = client.query("order.searchList", pj)
    del q["sign"]
    assert client.raw("order.searchList", pj, q)["sub_code"] == "isv.signature-missing"


def test_body_must_be_a_json_object(douyin):
    _, client = douyin
    for body in ("not json", "[1,2]", ""):
        answer = client.raw("order.searchList", body, client.query("order.searchList", body))
        assert (answer["code"], answer["sub_code"]) == (40003, "isv.parameter-format-invalid")


def test_access_token_is_required_except_for_token_calls(make_sim):
    _, client = make_sim()
    answer = client.call("order.searchList", LIST)
    assert (answer["code"], answer["sub_code"]) == (40001, "isv.access-token-missing")
    assert client.call("order.searchList", LIST, token="at-made-up")["sub_code"] == "isv.access-token-no-existed"
    assert client.login()["code"] == 10000
    assert client.call("order.searchList", LIST)["code"] == 10000


def test_expired_token_is_refused_with_access_token_expired(make_sim, clock):
    _, client = make_sim(token_ttl=3600)
    client.login()
    clock.advance(3599)
    assert client.call("order.searchList", LIST)["code"] == 10000
    clock.advance(1)
    answer = client.call("order.searchList", LIST)
    assert (answer["code"], answer["sub_code"]) == (40003, "isv.access-token-expired")


def test_admin_expire_token_makes_the_next_call_fail(douyin):
    _, client = douyin
    assert client.admin("expire_token", {}).json() == {"expired": 1}
    assert client.call("order.searchList", LIST)["sub_code"] == "isv.access-token-expired"


def test_token_create_checks_grant_and_shop(make_sim):
    _, client = make_sim()
    wrong_shop = client.call("token.create", {"code": "", "grant_type": "authorization_self", "shop_id": "1"})
    assert (wrong_shop["code"], wrong_shop["sub_code"]) == (30001, "dop.authorization-no-existed")
    assert client.call("token.create", {"code": ""})["code"] == 40002
    data = client.login()["data"]
    assert data["expires_in"] == 7 * 86400
    assert {"access_token", "refresh_token", "scope", "shop_id", "shop_name"} <= set(data)
    assert data["shop_id"] == 880001


def test_calls_and_errors_are_counted_in_admin_state(douyin):
    _, client = douyin
    client.call("order.searchList", LIST)
    client.call("order.searchList", LIST, timestamp="1")
    state = client.admin_state()
    assert state["calls"]["order.searchList"] == 2
    assert state["calls"]["token.create"] == 1
    assert state["errors"] == {"40003": 1}

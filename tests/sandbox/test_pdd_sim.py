"""The Pinduoduo simulator refuses what the router refuses (reference/storefronts.md §2.1–2.3, §2.7)."""

from __future__ import annotations

import json

import httpx

from syncd.adapters.sandbox.control import StorefrontSim
from syncd.adapters.sandbox.pdd_seed import SANDBOX_PDD_CLIENT_SECRET, SANDBOX_PDD_REFRESH_TOKEN
from syncd.adapters.sandbox.pdd_sim import PddSimulator
from tests.adapters.pdd import simclient
from tests.adapters.pdd.simclient import MakePdd, PddSignedClient, md5_sign
from tests.sandbox.helpers import FakeClock

Pdd = tuple[PddSimulator, PddSignedClient]
make_pdd = simclient.make_pdd
pdd = simclient.pdd  # the shared fixtures

COMPANIES = "pdd.logistics.companies.get"
LIST = "pdd.order.number.list.increment.get"
REFRESH = "pdd.pop.auth.token.refresh"


def _window(clock: FakeClock, span: int = 1800, **extra: str) -> dict[str, str]:
    end = int(clock()) - 60
    return {"start_updated_at": str(end - span), "end_updated_at": str(end), "order_status": "5",
            "refund_status": "5", "is_lucky_flag": "0", **extra}


def test_simulator_implements_the_storefront_sim_protocol(pdd: Pdd) -> None:
    sim, _ = pdd
    assert isinstance(sim, StorefrontSim)
    assert (sim.platform, sim.prefix) == ("pdd", "/pdd")


def test_success_answer_is_the_api_response_object_with_a_request_id(pdd: Pdd) -> None:
    _, client = pdd
    body = client.call(COMPANIES)
    assert list(body) == ["logistics_companies_get_response"]
    inner = body["logistics_companies_get_response"]
    assert inner["request_id"] and {"id", "logistics_company", "code", "available"} <= set(
        inner["logistics_companies"][0])


def test_wrong_signature_is_refused(pdd: Pdd) -> None:
    _, client = pdd
    form = client.form(COMPANIES)
    form["sign"] = md5_sign({k: v for k, v in form.items() if k != "sign"}, "not-the-secret")
    err = client.post(form)["error_response"]
    assert err["error_code"] == 10004 and "签名" in err["error_msg"]
    assert set(err) == {"error_code", "error_msg", "sub_code", "sub_msg", "request_id"}


def test_lower_case_or_missing_signature_and_a_changed_parameter_are_refused(
        pdd: Pdd) -> None:
    _, client = pdd
    form = client.form(COMPANIES)
    assert client.post({**form, "sign": form["sign"].lower()})["error_response"]["error_code"] == 10004
    assert client.post({k: v for k, v in form.items() if k != "sign"})["error_response"]["error_code"] == 10004
    assert client.post({**form, "data_type": "json"})["error_response"]["error_code"] == 10004  # not signed so


def test_access_token_is_signed_like_any_parameter(pdd: Pdd) -> None:
    _, client = pdd
    form = client.form(COMPANIES)
    signed_without = md5_sign({k: v for k, v in form.items() if k not in ("sign", "access_token")},
                              SANDBOX_PDD_CLIENT_SECRET)
    assert client.post({**form, "sign": signed_without})["error_response"]["error_code"] == 10004


def test_timestamp_more_than_10_minutes_off_is_refused(pdd: Pdd, clock: FakeClock) -> None:
    _, client = pdd
    assert client.error(COMPANIES, timestamp=str(int(clock()) - 601))["error_code"] == 10003
    assert client.error(COMPANIES, timestamp=str(int(clock()) + 601))["error_code"] == 10003
    assert client.error(COMPANIES, timestamp="2025-11-22 17:00:00")["error_code"] == 10003
    assert client.ok(COMPANIES, timestamp=str(int(clock()) - 599))


def test_unknown_type_and_client_id_are_refused(pdd: Pdd) -> None:
    _, client = pdd
    assert client.error("pdd.order.nothing.get")["error_code"] == 10002
    stranger = PddSignedClient(client.http, client.clock, client_id="someone-else")
    assert stranger.error(COMPANIES)["error_code"] == 10001


def test_a_json_body_of_the_same_pairs_is_accepted(pdd: Pdd) -> None:
    _, client = pdd
    response = client.http.post("", json=client.form(COMPANIES))
    assert "logistics_companies_get_response" in response.json()


def test_only_post_to_the_router_is_answered(pdd: Pdd) -> None:
    _, client = pdd
    assert client.http.get("").status_code == 405
    assert client.http.post("/api/other", data={}).status_code == 404


def test_access_token_missing_unknown_or_expired_is_refused_with_10019(
        make_pdd: MakePdd, clock: FakeClock) -> None:
    _, client = make_pdd(token_ttl=3600)
    client.token = None
    assert client.error(COMPANIES)["error_code"] == 10019
    assert client.error(COMPANIES, token="made-up")["error_code"] == 10019
    client.token = client.ok(REFRESH, {"refresh_token": SANDBOX_PDD_REFRESH_TOKEN})["access_token"]
    clock.advance(3599)
    assert client.ok(COMPANIES)
    clock.advance(1)
    err = client.error(COMPANIES)
    assert (err["error_code"], err["error_msg"]) == (10019, "access_token已过期")


def test_expire_access_token_expires_every_token_and_a_refresh_still_works(
        pdd: Pdd) -> None:
    sim, client = pdd
    sim.expire_access_token()
    assert client.error(COMPANIES)["error_code"] == 10019
    answer = client.ok(REFRESH, {"refresh_token": SANDBOX_PDD_REFRESH_TOKEN})
    client.token = answer["access_token"]
    assert client.ok(COMPANIES)


def test_refresh_answers_the_documented_fields_and_a_used_refresh_token_gives_the_newest_pair(
        pdd: Pdd, clock: FakeClock) -> None:
    _, client = pdd
    first = client.ok(REFRESH, {"refresh_token": SANDBOX_PDD_REFRESH_TOKEN})
    assert {"access_token", "expires_in", "expires_at", "refresh_token", "refresh_token_expires_in",
            "refresh_token_expires_at", "owner_id", "owner_name", "scope"} <= set(first)
    assert first["expires_at"] == int(clock()) + 86400 and first["owner_id"] == "660001"
    second = client.ok(REFRESH, {"refresh_token": first["refresh_token"]})
    again = client.ok(REFRESH, {"refresh_token": SANDBOX_PDD_REFRESH_TOKEN})
    assert again["access_token"] == second["access_token"] != first["access_token"]


def test_refresh_with_an_unknown_or_lapsed_refresh_token_is_refused(
        make_pdd: MakePdd, clock: FakeClock) -> None:
    _, client = make_pdd(refresh_ttl=100)
    err = client.error(REFRESH, {"refresh_token": "nope"})
    assert err["error_code"] == 10036 and "refresh_token" in err["error_msg"]
    clock.advance(100)
    assert client.error(REFRESH, {"refresh_token": SANDBOX_PDD_REFRESH_TOKEN})["sub_msg"] == "refresh_token已过期"


def test_a_window_over_30_minutes_is_refused(pdd: Pdd, clock: FakeClock) -> None:
    _, client = pdd
    assert client.ok(LIST, _window(clock, 1800))["total_count"] >= 0
    err = client.error(LIST, _window(clock, 1801))
    assert err["error_code"] == 10000 and "30分钟" in err["sub_msg"]
    assert client.error("pdd.refund.list.increment.get", _window(clock, 1801, after_sales_status="1",
                                                                 after_sales_type="1"))["error_code"] == 10000


def test_page_size_over_100_and_missing_required_filters_are_refused(
        pdd: Pdd, clock: FakeClock) -> None:
    _, client = pdd
    assert client.error(LIST, _window(clock, page_size="101"))["sub_msg"] == "page_size最大为100"
    window = _window(clock)
    del window["order_status"]
    assert client.error(LIST, window)["error_code"] == 10000
    refunds = _window(clock, after_sales_type="1")
    assert client.error("pdd.refund.list.increment.get", refunds)["sub_msg"] == "after_sales_status不能为空"


def test_decrypt_of_more_than_100_texts_is_refused(pdd: Pdd) -> None:
    _, client = pdd
    items = [{"data_tag": "x", "encrypted_data": f"~{i}~"} for i in range(101)]
    err = client.error("pdd.open.decrypt.batch", {"data_list": json.dumps(items)})
    assert (err["error_code"], err["sub_msg"]) == (10000, "data_list最多100个")


def test_published_rate_limit_answers_flow_control_until_the_bucket_refills(
        make_pdd: MakePdd, clock: FakeClock) -> None:
    _, client = make_pdd(qps=True)
    refunds = _window(clock, after_sales_status="1", after_sales_type="1")
    codes = [("error_response" in client.call("pdd.refund.list.increment.get", refunds)) for _ in range(101)]
    assert codes == [False] * 100 + [True]  # 100 calls per 10 s per shop
    err = client.error("pdd.refund.list.increment.get", refunds)
    assert err["error_code"] == 70031 and "频繁" in err["error_msg"]
    assert client.ok(COMPANIES)  # another API has its own budget
    clock.advance(0.2)  # 10 calls a second refill it
    assert client.ok("pdd.refund.list.increment.get", refunds)


def test_qps_overrides_per_api_or_for_every_api(make_pdd: MakePdd, clock: FakeClock) -> None:
    _, client = make_pdd(qps={COMPANIES: 2})
    assert [("error_response" in client.call(COMPANIES)) for _ in range(3)] == [False, False, True]
    _, flat = make_pdd(qps=1)
    assert "error_response" not in flat.call(COMPANIES)
    assert flat.error("pdd.order.information.get", {"order_sn": "x"})["error_code"] == 52101  # own bucket
    assert flat.error(COMPANIES)["error_code"] == 70031
    clock.advance(1)
    assert flat.ok(COMPANIES)


def test_no_flow_control_without_qps(pdd: Pdd) -> None:
    _, client = pdd
    assert all("error_response" not in client.call(COMPANIES) for _ in range(150))


def _faulty_codes(make_pdd: MakePdd, seed: int, n: int = 80) -> list[int]:
    _, client = make_pdd(seed=seed, fault_rate=0.3)
    return [client.call(COMPANIES).get("error_response", {}).get("error_code", 0) for _ in range(n)]


def test_fault_injection_is_deterministic_by_seed_and_transient(make_pdd: MakePdd) -> None:
    a, b, c = _faulty_codes(make_pdd, 11), _faulty_codes(make_pdd, 11), _faulty_codes(make_pdd, 12)
    assert a == b != c
    assert set(a) == {0, 50000, 70031}
    assert 0.5 < a.count(0) / len(a) < 0.9


def test_fail_next_answers_the_platform_code_for_each_kind_then_recovers(
        pdd: Pdd) -> None:
    sim, client = pdd
    sim.fail_next("transient", 2)
    sim.fail_next("rate_limited")
    sim.fail_next("auth_revoked")
    got = [client.error(COMPANIES) for _ in range(4)]
    assert [e["error_code"] for e in got] == [50000, 50000, 70031, 10035]
    assert "重新授权" in got[3]["error_msg"]
    assert client.ok(COMPANIES)


def test_fail_next_strikes_only_calls_that_pass_the_signature_check(pdd: Pdd) -> None:
    sim, client = pdd
    sim.fail_next("transient")
    assert client.post({**client.form(COMPANIES), "sign": "0" * 32})["error_response"]["error_code"] == 10004
    assert client.error(COMPANIES)["error_code"] == 50000


def test_state_counts_calls_and_errors(pdd: Pdd, clock: FakeClock) -> None:
    sim, client = pdd
    client.call(COMPANIES)
    client.call(COMPANIES, timestamp="1")
    state = client.http.get("/_sandbox/state").json()
    assert state == sim.state()
    assert state["calls"] == {COMPANIES: 2} and state["errors"] == {"10003": 1}
    assert state["orders_total"] == 60 and sum(state["orders"].values()) == 60
    assert {"shipments", "ship_calls", "tokens", "now"} <= set(state)


def test_admin_endpoints_change_faults_expire_tokens_and_open_refunds(
        pdd: Pdd) -> None:
    sim, client = pdd
    http: httpx.Client = client.http
    assert http.post("/_sandbox/faults", json={"qps": {COMPANIES: 1}}).json()["qps"] == {COMPANIES: 1}
    assert http.post("/_sandbox/expire_token", json={}).json()["expired"] == 1
    assert client.error(COMPANIES)["error_code"] == 10019
    sn = next(iter(sim.book.orders))
    refund = http.post("/_sandbox/refund", json={"order_sn": sn, "kind": "requested"}).json()["refund"]
    assert refund["after_sales_status"] == 2
    assert http.get(f"/_sandbox/order/{sn}").json()["order"]["refund_status"] == 2
    assert http.post("/_sandbox/refund", json={"order_sn": "nope", "kind": "x"}).status_code == 400
    assert http.get("/_sandbox/nothing").status_code == 404

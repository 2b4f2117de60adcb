"""The Taobao simulator over real HTTP: it refuses what the TOP gateway refuses (reference/storefronts.md §3),
keeps the platform's limits, and implements the StorefrontSim controls."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from syncd.adapters.sandbox.control import StorefrontSim
from syncd.adapters.sandbox.httpserver import SandboxServer
from syncd.adapters.sandbox.taobao_seed import (
    SANDBOX_TAOBAO_APP_KEY,
    SANDBOX_TAOBAO_APP_SECRET,
    SANDBOX_TAOBAO_REFRESH,
    SANDBOX_TAOBAO_SESSION,
    generate_taobao_orders,
    text,
)
from syncd.adapters.sandbox.taobao_sim import API_QPS, TaobaoSimulator, response_key
from syncd.adapters.taobao.config import TRADE_FIELDS, TaobaoShopConfig
from syncd.adapters.taobao.signing import sign
from tests.sandbox.helpers import FakeClock

LIST = "taobao.trades.sold.increment.get"
FULLINFO = "taobao.trade.fullinfo.get"
SHIP = "taobao.logistics.offline.send"
DECRYPT = "taobao.top.oaid.decrypt"
REFUNDS = "taobao.refunds.receive.get"
REFRESH = "taobao.top.auth.token.refresh"


class TopClient:
    """Signs and posts TOP calls the way the platform documents (reference §3.1–3.2); independent of the adapter."""

    def __init__(self, http: httpx.Client, clock: FakeClock) -> None:
        self.http, self.clock = http, clock
        self.session: str | None = SANDBOX_TAOBAO_SESSION

    def params(self, method: str, business: dict[str, Any] | None = None, *, sign_method: str | None = "hmac-sha256",
               secret: str = SANDBOX_TAOBAO_APP_SECRET, **override: Any) -> dict[str, str]:
        p = {"method": method, "app_key": SANDBOX_TAOBAO_APP_KEY, "timestamp": text(self.clock()), "v": "2.0",
             "format": "json", **{k: str(v) for k, v in (business or {}).items()}}
        if sign_method is not None:
            p["sign_method"] = sign_method
        if self.session is not None and method != REFRESH:
            p["session"] = self.session
        p.update({k: str(v) for k, v in override.items() if v is not None})
        for k in [k for k, v in override.items() if v is None]:
            p.pop(k, None)
        p["sign"] = sign(p, secret, sign_method or "md5")
        return p

    def post(self, params: dict[str, str]) -> dict[str, Any]:
        r = self.http.post("", content=urlencode(params).encode(),
                           headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"})
        assert r.status_code == 200
        out: dict[str, Any] = r.json()
        return out

    def call(self, method: str, business: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        return self.post(self.params(method, business, **kw))

    def ok(self, method: str, business: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        answer = self.call(method, business, **kw)
        assert response_key(method) in answer, answer
        data: dict[str, Any] = answer[response_key(method)]
        return data


def error(answer: dict[str, Any]) -> tuple[int, str]:
    """(code, sub_code) of an error answer."""
    assert "error_response" in answer, answer
    body = answer["error_response"]
    return body["code"], body.get("sub_code", "")


Make = Callable[..., tuple[TaobaoSimulator, TopClient]]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_sim(clock: FakeClock) -> Iterator[Make]:
    """Factory: a simulator on a real 127.0.0.1 server (kwargs go to TaobaoSimulator) and a client to it."""
    servers: list[SandboxServer] = []
    clients: list[httpx.Client] = []

    def make(n: int = 40, order_seed: int = 7, **kw: Any) -> tuple[TaobaoSimulator, TopClient]:
        orders = kw.pop("orders", None)
        if orders is None:
            orders = generate_taobao_orders(n, order_seed, clock(), span_hours=6)
        kw.setdefault("clock", clock)
        sim = TaobaoSimulator(SANDBOX_TAOBAO_APP_KEY, SANDBOX_TAOBAO_APP_SECRET,
                              {SANDBOX_TAOBAO_SESSION: SANDBOX_TAOBAO_REFRESH}, orders, **kw)
        server = SandboxServer()
        server.mount(sim.prefix, sim)
        server.start()
        servers.append(server)
        http = httpx.Client(base_url=server.url + "/taobao", timeout=10)
        clients.append(http)
        return sim, TopClient(http, clock)

    yield make
    for http in clients:
        http.close()
    for server in servers:
        server.stop()


@pytest.fixture
def taobao(make_sim: Make) -> tuple[TaobaoSimulator, TopClient]:
    return make_sim()


def _window(clock: FakeClock, hours: float = 6) -> dict[str, Any]:
    return {"start_modified": text(clock() - hours * 3600), "end_modified": text(clock()), "fields": TRADE_FIELDS,
            "page_size": 100, "use_has_next": "true"}


def _ready(sim: TaobaoSimulator) -> str:
    return next(t for t, trade in sim.book.trades.items() if trade["status"] == "WAIT_SELLER_SEND_GOODS"
                and all(line["refund_status"] == "NO_REFUND" for line in trade["orders"]["order"]))


# ---- gateway: signatures, timestamp, system parameters ------------------------------------------------


@pytest.mark.parametrize("method", ["md5", "hmac", "hmac-sha256"])
def test_signature_of_each_method_is_accepted_when_right_and_refused_when_wrong(
        taobao: tuple[TaobaoSimulator, TopClient], method: str) -> None:
    _, client = taobao
    assert "logistics_companies" in client.ok("taobao.logistics.companies.get", {"fields": "code,name"},
                                              sign_method=method)

    answer = client.call("taobao.logistics.companies.get", {"fields": "code,name"}, sign_method=method,
                         secret="not-the-secret")

    assert error(answer) == (25, "")
    assert answer["error_response"]["msg"] == "Invalid signature"


def test_sign_method_absent_means_md5(taobao: tuple[TaobaoSimulator, TopClient]) -> None:
    _, client = taobao
    assert "logistics_companies" in client.ok("taobao.logistics.companies.get", {"fields": "code"}, sign_method=None)
    params = client.params("taobao.logistics.companies.get", {"fields": "code"}, sign_method=None)
    params["sign"] = sign({k: v for k, v in params.items() if k != "sign"}, SANDBOX_TAOBAO_APP_SECRET, "hmac")
    assert error(client.post(params)) == (25, "")


def test_a_parameter_changed_after_signing_is_refused(taobao: tuple[TaobaoSimulator, TopClient]) -> None:
    _, client = taobao
    params = client.params(LIST, {"page_size": 10, "fields": "tid"})
    params["page_size"] = "100"

    assert error(client.post(params)) == (25, "")


def test_lower_case_signature_is_refused(taobao: tuple[TaobaoSimulator, TopClient]) -> None:
    _, client = taobao
    params = client.params("taobao.logistics.companies.get", {"fields": "code"})
    params["sign"] = params["sign"].lower()

    assert error(client.post(params)) == (25, "")


def test_parameters_in_the_query_string_are_signed_with_those_in_the_body(
        taobao: tuple[TaobaoSimulator, TopClient]) -> None:
    _, client = taobao
    params = client.params("taobao.logistics.companies.get", {"fields": "code"})
    system = {k: params.pop(k) for k in ("method", "app_key", "timestamp", "v", "sign_method", "sign", "session")}

    r = client.http.post("", params=system, content=urlencode(params).encode(),
                         headers={"Content-Type": "application/x-www-form-urlencoded"})

    assert "logistics_companies_get_response" in r.json()


@pytest.mark.parametrize(("offset", "code"), [(601, 31), (-601, 31)])
def test_timestamp_more_than_10_minutes_off_is_refused(
        taobao: tuple[TaobaoSimulator, TopClient], clock: FakeClock, offset: int, code: int) -> None:
    _, client = taobao
    assert "logistics_companies" in client.ok("taobao.logistics.companies.get", {"fields": "code"},
                                              timestamp=text(clock() + 590))

    answer = client.call("taobao.logistics.companies.get", {"fields": "code"}, timestamp=text(clock() + offset))

    assert error(answer) == (code, "")


@pytest.mark.parametrize(("override", "code"), [
    ({"timestamp": "1800000000"}, 31), ({"timestamp": None}, 30), ({"method": "taobao.no.such.api"}, 22),
    ({"method": None}, 21), ({"app_key": "99999999"}, 29), ({"app_key": None}, 28), ({"v": "1.0"}, 34),
    ({"v": None}, 32), ({"sign_method": "sha1"}, 25),
])
def test_bad_system_parameter_is_refused_with_its_code(
        taobao: tuple[TaobaoSimulator, TopClient], override: dict[str, Any], code: int) -> None:
    _, client = taobao
    params = client.params("taobao.logistics.companies.get", {"fields": "code"})
    for k, v in override.items():
        if v is None:
            params.pop(k)
        else:
            params[k] = v
    method = params.get("sign_method", "")
    params["sign"] = sign({k: v for k, v in params.items() if k != "sign"}, SANDBOX_TAOBAO_APP_SECRET,
                          method if method in ("md5", "hmac") else "hmac-sha256")

    assert error(client.post(params))[0] == code


def test_missing_signature_is_refused_with_24(taobao: tuple[TaobaoSimulator, TopClient]) -> None:
    _, client = taobao
    params = client.params("taobao.logistics.companies.get", {"fields": "code"})
    del params["sign"]

    assert error(client.post(params)) == (24, "")


def test_xml_format_is_refused_by_the_json_only_sandbox(taobao: tuple[TaobaoSimulator, TopClient]) -> None:
    _, client = taobao

    assert error(client.call("taobao.logistics.companies.get", {"fields": "code"}, format=None)) == (
        41, "isv.invalid-parameter:format")


# ---- sessions ----------------------------------------------------------------------------------------


def test_unknown_or_missing_session_is_refused(taobao: tuple[TaobaoSimulator, TopClient]) -> None:
    _, client = taobao
    assert error(client.call(LIST, _window(client.clock), session="6100-not-issued")) == (27, "invalid-sessionkey")
    client.session = None
    assert error(client.call(LIST, _window(client.clock))) == (26, "")


def test_expired_session_is_refused_and_a_refresh_issues_a_working_one(
        taobao: tuple[TaobaoSimulator, TopClient]) -> None:
    sim, client = taobao
    sim.expire_access_token()
    assert error(client.call(LIST, _window(client.clock))) == (27, "session-expired")

    data = client.ok(REFRESH, {"refresh_token": SANDBOX_TAOBAO_REFRESH})

    result = json.loads(data["token_result"])
    assert result["expires_in"] == 30 * 86400 and result["refresh_token"] != SANDBOX_TAOBAO_REFRESH
    client.session = result["access_token"]
    assert "has_next" in client.ok(LIST, _window(client.clock))
    again = json.loads(client.ok(REFRESH, {"refresh_token": SANDBOX_TAOBAO_REFRESH})["token_result"])
    assert again["access_token"] == result["access_token"]  # a retried refresh hands back the same pair


def test_unknown_refresh_token_is_refused(taobao: tuple[TaobaoSimulator, TopClient]) -> None:
    _, client = taobao
    assert error(client.call(REFRESH, {"refresh_token": "6102-unknown"})) == (15, "isv.refresh-token-invalid")
    assert error(client.call(REFRESH)) == (40, "isv.missing-parameter:refresh_token")


# ---- listing -----------------------------------------------------------------------------------------


def test_increment_get_pages_by_modified_descending_with_has_next_or_total(
        make_sim: Make, clock: FakeClock) -> None:
    _, client = make_sim(n=120)
    window = _window(clock)

    first = client.ok(LIST, {**window, "page_size": 50})
    third = client.ok(LIST, {**window, "page_size": 50, "page_no": 3})
    counted = client.ok(LIST, {**window, "page_size": 1, "use_has_next": "false"})

    stamps = [t["modified"] for t in first["trades"]["trade"]]
    assert stamps == sorted(stamps, reverse=True)
    assert first["has_next"] is True and "total_results" not in first
    assert third["has_next"] is False and len(third["trades"]["trade"]) == 20
    assert counted["total_results"] == 120 and len(counted["trades"]["trade"]) == 1


def test_increment_get_returns_the_asked_fields_and_no_oaid_by_default(
        taobao: tuple[TaobaoSimulator, TopClient], clock: FakeClock) -> None:
    _, client = taobao
    trade = client.ok(LIST, {**_window(clock), "fields": "tid,status,modified"})["trades"]["trade"][0]
    assert set(trade) == {"tid", "tid_str", "status", "modified"}
    full = client.ok(LIST, _window(clock))["trades"]["trade"][0]
    assert "orders" in full and "oaid" not in full


def test_fullinfo_gives_the_oaid_only_with_every_receiver_field(
        taobao: tuple[TaobaoSimulator, TopClient]) -> None:
    sim, client = taobao
    tid = _ready(sim)
    full = client.ok(FULLINFO, {"tid": tid, "fields": TRADE_FIELDS, "include_oaid": "true"})["trade"]
    assert full["oaid"] == sim.book.trades[tid]["oaid"]
    partial = client.ok(FULLINFO, {"tid": tid, "fields": "tid,status,oaid,orders"})["trade"]
    assert "oaid" not in partial
    assert error(client.call(FULLINFO, {"tid": "1234", "fields": "tid"})) == (15, "isv.trade-not-exist")


@pytest.mark.parametrize(("change", "sub_code"), [
    ({"page_size": 101}, "isv.invalid-parameter:page_size"),
    ({"page_no": 0}, "isv.invalid-parameter:page_no"),
    ({"start_modified": None}, "isv.missing-parameter:start_modified"),
    ({"fields": None}, "isv.missing-parameter:fields"),
    ({"start_modified": "yesterday"}, "isv.invalid-parameter:start_modified"),
])
def test_increment_get_refuses_what_the_platform_refuses(
        taobao: tuple[TaobaoSimulator, TopClient], clock: FakeClock, change: dict[str, Any], sub_code: str) -> None:
    _, client = taobao
    params = {k: v for k, v in {**_window(clock), **change}.items() if v is not None}

    assert error(client.call(LIST, params)) == (41 if "invalid" in sub_code else 40, sub_code)


def test_increment_get_refuses_a_window_over_one_day(
        taobao: tuple[TaobaoSimulator, TopClient], clock: FakeClock) -> None:
    _, client = taobao
    assert "has_next" in client.ok(LIST, _window(clock, hours=24))

    answer = client.call(LIST, {**_window(clock, hours=24), "start_modified": text(clock() - 86401)})

    assert error(answer) == (41, "isv.invalid-parameter:start_modified")
    assert "一天" in answer["error_response"]["sub_msg"]


# ---- decryption --------------------------------------------------------------------------------------


def test_oaid_decrypt_gives_the_receiver_of_known_pairs_and_refuses_more_than_20(
        taobao: tuple[TaobaoSimulator, TopClient]) -> None:
    sim, client = taobao
    tid = _ready(sim)
    oaid = sim.book.trades[tid]["oaid"]
    query = [{"oaid": oaid, "tid": tid}, {"oaid": "1NOPE", "tid": tid}]

    receivers = client.ok(DECRYPT, {"query_list": json.dumps(query)})["receiver_list"]["receiver"]

    assert len(receivers) == 1
    got = receivers[0]
    assert got["tid"] == tid and got["matched"] is True and got["name"] and got["address_detail"]
    assert got["name"] != sim.book.trades[tid]["receiver_name"]  # plaintext, not the masked text
    assert error(client.call(DECRYPT, {"query_list": json.dumps([query[0]] * 21)})) == (
        41, "isv.invalid-parameter:query_list")


# ---- shipping ----------------------------------------------------------------------------------------


def test_offline_send_ships_a_waiting_trade_once_and_answers_b04_after(
        taobao: tuple[TaobaoSimulator, TopClient]) -> None:
    sim, client = taobao
    tid = _ready(sim)

    shipped = client.ok(SHIP, {"tid": tid, "out_sid": "78812345678901", "company_code": "ZTO"})

    assert shipped["shipping"] == {"is_success": True} and shipped["request_id"]
    again = client.call(SHIP, {"tid": tid, "out_sid": "78812345678902", "company_code": "ZTO"})

    assert error(again) == (15, "isv.logistics-offline-service-error:B04")
    assert sim.book.trades[tid]["status"] == "WAIT_BUYER_CONFIRM_GOODS"
    assert sim.tracking_numbers(tid) == ["78812345678901"]
    assert sim.state()["ship_calls"] == {tid: 1}


@pytest.mark.parametrize(("change", "sub"), [
    ({"company_code": "NOPE"}, "B56"), ({"out_sid": "12-34"}, "B60"), ({"is_split": "1"}, "CD25"),
    ({"sub_tid": "1"}, "CD25"), ({"tid": "1234"}, "B01"),
])
def test_offline_send_refuses_bad_requests(
        taobao: tuple[TaobaoSimulator, TopClient], change: dict[str, str], sub: str) -> None:
    sim, client = taobao
    params = {"tid": _ready(sim), "out_sid": "78812345678901", "company_code": "ZTO", **change}

    assert error(client.call(SHIP, params)) == (15, f"isv.logistics-offline-service-error:{sub}")


def test_offline_send_refuses_trades_not_awaiting_shipment(taobao: tuple[TaobaoSimulator, TopClient]) -> None:
    sim, client = taobao
    for status in ("WAIT_BUYER_PAY", "TRADE_CLOSED", "PAID_FORBID_CONSIGN"):
        tid = next(t for t, trade in sim.book.trades.items() if trade["status"] == status)
        answer = client.call(SHIP, {"tid": tid, "out_sid": "78812345678901", "company_code": "ZTO"})
        assert error(answer) == (15, "isv.logistics-offline-service-error:B04"), status


def test_offline_send_split_ships_sub_orders_then_the_rest(make_sim: Make, clock: FakeClock) -> None:
    sim, client = make_sim(n=0)
    (tid,) = sim.seed_ready(1, now=clock(), spread_seconds=600, skus=("SB-MUG-WHT", "SB-TEE-RED-M"))
    first, second = sim.line_ids(tid)

    client.ok(SHIP, {"tid": tid, "out_sid": "YT1000000001", "company_code": "YTO", "is_split": 1, "sub_tid": first})
    assert sim.book.trades[tid]["status"] == "SELLER_CONSIGNED_PART"
    again = client.call(SHIP, {"tid": tid, "out_sid": "YT1000000002", "company_code": "YTO", "is_split": 1,
                               "sub_tid": first})
    assert error(again) == (15, "isv.logistics-offline-service-error:B04")
    client.ok(SHIP, {"tid": tid, "out_sid": "SF1000000003", "company_code": "SF", "is_split": 1, "sub_tid": second})

    assert sim.book.trades[tid]["status"] == "WAIT_BUYER_CONFIRM_GOODS"
    assert sim.tracking_numbers(tid) == ["YT1000000001", "SF1000000003"]
    lines = sim.book.trades[tid]["orders"]["order"]
    assert [line["invoice_no"] for line in lines] == ["YT1000000001", "SF1000000003"]


def test_offline_send_refuses_a_tracking_number_of_another_trade(make_sim: Make, clock: FakeClock) -> None:
    sim, client = make_sim(n=0)
    a, b = sim.seed_ready(2, now=clock(), spread_seconds=600)
    client.ok(SHIP, {"tid": a, "out_sid": "78812345678901", "company_code": "ZTO"})

    assert error(client.call(SHIP, {"tid": b, "out_sid": "78812345678901", "company_code": "ZTO"})) == (
        15, "isv.logistics-offline-service-error:F02")


# ---- flow control and faults ------------------------------------------------------------------------


def test_qps_limit_answers_code_7_with_the_ban_seconds_until_the_ban_ends(
        make_sim: Make, clock: FakeClock) -> None:
    _, client = make_sim(qps=2, ban_seconds=3)
    assert all("logistics_companies" in client.ok("taobao.logistics.companies.get", {"fields": "code"})
               for _ in range(2))

    answer = client.call("taobao.logistics.companies.get", {"fields": "code"})

    assert error(answer) == (7, "accesscontrol.limited-by-api-access-count")
    assert answer["error_response"]["msg"] == "App Call Limited"
    assert answer["error_response"]["sub_msg"] == "This ban will last for 3 more seconds"
    clock.advance(1.2)
    assert client.call("taobao.logistics.companies.get", {"fields": "code"})["error_response"]["sub_msg"] == (
        "This ban will last for 2 more seconds")
    clock.advance(2)
    assert "logistics_companies" in client.ok("taobao.logistics.companies.get", {"fields": "code"})


def test_qps_per_method_limits_only_that_method(make_sim: Make, clock: FakeClock) -> None:
    _, client = make_sim(qps={FULLINFO: 1})
    for _ in range(3):
        client.ok("taobao.logistics.companies.get", {"fields": "code"})
    tid = "1234"
    assert error(client.call(FULLINFO, {"tid": tid, "fields": "tid"}))[0] == 15
    assert error(client.call(FULLINFO, {"tid": tid, "fields": "tid"}))[0] == 7


def test_qps_true_enforces_the_assumed_per_api_limits(make_sim: Make) -> None:
    sim, client = make_sim(qps=True)
    assert sim.qps == API_QPS and API_QPS["taobao.logistics.companies.get"] == 1.0

    client.ok("taobao.logistics.companies.get", {"fields": "code"})
    assert error(client.call("taobao.logistics.companies.get", {"fields": "code"}))[0] == 7
    for _ in range(5):
        assert "has_next" in client.ok(LIST, _window(client.clock))


def test_admin_faults_switch_flow_control_on_and_off(taobao: tuple[TaobaoSimulator, TopClient]) -> None:
    sim, client = taobao
    assert client.http.post("/_sandbox/faults", json={"qps": True}).status_code == 200
    assert sim.qps == API_QPS
    client.http.post("/_sandbox/faults", json={"qps": None})
    for _ in range(3):
        client.ok("taobao.logistics.companies.get", {"fields": "code"})


def test_faults_are_isp_errors_reproducible_by_seed(make_sim: Make) -> None:
    def codes(seed: int) -> list[str]:
        _, client = make_sim(seed=seed, fault_rate=0.3)
        out = []
        for _ in range(60):
            answer = client.call("taobao.logistics.companies.get", {"fields": "code"})
            out.append(answer.get("error_response", {}).get("sub_code", "ok"))
        return out

    a, b, c = codes(11), codes(11), codes(12)
    assert a == b != c
    assert {x for x in a if x != "ok"} <= {"isp.top-remote-connection-timeout", "isp.remote-service-error",
                                            "isp.system-busy"}
    assert 0.5 < a.count("ok") / len(a) < 0.9


def test_faults_strike_before_any_effect(make_sim: Make) -> None:
    sim, client = make_sim(fault_rate=1.0)
    tid = _ready(sim)

    assert error(client.call(SHIP, {"tid": tid, "out_sid": "78812345678901", "company_code": "ZTO"}))[1].startswith(
        "isp.")
    assert sim.book.trades[tid]["status"] == "WAIT_SELLER_SEND_GOODS"


# ---- StorefrontSim controls ---------------------------------------------------------------------------


def test_simulator_is_a_storefront_sim_whose_shop_config_validates(taobao: tuple[TaobaoSimulator, TopClient]) -> None:
    sim, _ = taobao
    assert isinstance(sim, StorefrontSim)
    assert (sim.platform, sim.prefix) == ("taobao", "/taobao")

    config = TaobaoShopConfig.model_validate(sim.shop_config("http://127.0.0.1:9/taobao"))

    assert config.base_url == "http://127.0.0.1:9/taobao" and config.can_refresh
    assert config.session.get_secret_value() == SANDBOX_TAOBAO_SESSION


def test_seed_ready_spreads_modified_times_and_returns_tids_in_that_order(make_sim: Make, clock: FakeClock) -> None:
    sim, client = make_sim(n=0)

    tids = sim.seed_ready(5, now=clock(), spread_seconds=3600, skus=("SB-TEE-RED-M", "SB-MUG-WHT"))

    stamps = [sim.book.trades[t]["modified"] for t in tids]
    assert stamps[0] == text(clock() - 3600) and stamps[-1] == text(clock() - 60) and stamps == sorted(stamps)
    trade = client.ok(FULLINFO, {"tid": tids[0], "fields": TRADE_FIELDS})["trade"]
    assert trade["status"] == "WAIT_SELLER_SEND_GOODS"
    assert [(line["outer_sku_id"], line["num"]) for line in trade["orders"]["order"]] == [
        ("SB-TEE-RED-M", 1), ("SB-MUG-WHT", 1)]
    assert all(trade[k] for k in ("receiver_name", "receiver_mobile", "receiver_address", "receiver_city"))
    assert len(sim.line_ids(tids[0])) == 2


def test_set_updated_and_touch_when_paging_move_a_trade(make_sim: Make, clock: FakeClock) -> None:
    sim, client = make_sim(n=0)
    a, b = sim.seed_ready(2, now=clock(), spread_seconds=600)
    sim.set_updated(a, clock() - 7200)
    assert sim.book.trades[a]["modified"] == text(clock() - 7200)

    sim.touch_when_paging(b, 1)
    window = _window(clock, hours=1)
    client.ok(LIST, window)
    assert sim.book.trades[b]["modified"] == text(clock() - 60)
    clock.advance(5)
    client.ok(LIST, window)
    assert sim.book.trades[b]["modified"] == text(clock())
    clock.advance(5)
    client.ok(LIST, window)
    assert sim.book.trades[b]["modified"] == text(clock() - 5)  # once only


def test_fail_next_answers_each_kind_with_the_platform_code(taobao: tuple[TaobaoSimulator, TopClient]) -> None:
    sim, client = taobao
    window = _window(client.clock)
    sim.fail_next("transient")
    sim.fail_next("rate_limited", 2)
    assert error(client.call(LIST, window)) == (15, "isp.top-remote-connection-timeout")
    assert error(client.call(LIST, window))[0] == 7
    assert error(client.call(LIST, window))[0] == 7
    assert "has_next" in client.ok(LIST, window)


def test_fail_next_auth_revoked_refuses_the_session_and_every_refresh(
        taobao: tuple[TaobaoSimulator, TopClient]) -> None:
    sim, client = taobao
    sim.fail_next("auth_revoked")

    assert error(client.call(REFRESH, {"refresh_token": SANDBOX_TAOBAO_REFRESH})) == (15, "isv.refresh-token-invalid")
    assert error(client.call(LIST, _window(client.clock))) == (27, "invalid-sessionkey")
    assert "has_next" in client.ok(LIST, _window(client.clock))


def test_set_refund_changes_the_sub_order_the_refund_list_and_the_modified_time(
        make_sim: Make, clock: FakeClock) -> None:
    sim, client = make_sim(n=0)
    (tid,) = sim.seed_ready(1, now=clock(), spread_seconds=600, skus=("SB-MUG-WHT", "SB-TEE-RED-M"))
    first, second = sim.line_ids(tid)
    clock.advance(30)

    sim.set_refund(tid, first, "requested")
    assert sim.book.trades[tid]["modified"] == text(clock())
    clock.advance(30)
    sim.set_refund(tid, second, "refunded")
    sim.set_refund(tid, first, "closed")

    lines = sim.book.trades[tid]["orders"]["order"]
    assert [line["refund_status"] for line in lines] == ["CLOSED", "SUCCESS"]
    assert sim.book.trades[tid]["status"] == "WAIT_SELLER_SEND_GOODS"
    refunds = client.ok(REFUNDS, {"fields": "refund_id,tid,oid,status,modified", "use_has_next": "true"})
    assert sorted((str(r["oid"]), r["status"]) for r in refunds["refunds"]["refund"]) == sorted(
        [(first, "CLOSED"), (second, "SUCCESS")])
    sim.set_refund(tid, None, "refunded")
    assert sim.book.trades[tid]["status"] == "TRADE_CLOSED"


def test_state_has_the_douyin_admin_shape(taobao: tuple[TaobaoSimulator, TopClient]) -> None:
    _, client = taobao
    client.call("taobao.logistics.companies.get", {"fields": "code"}, secret="wrong")
    state = client.http.get("/_sandbox/state").json()

    assert {"now", "orders", "orders_total", "shipments", "ship_calls", "calls", "errors", "tokens"} <= set(state)
    assert state["orders_total"] == 40 and sum(state["orders"].values()) == 40
    assert state["errors"] == {"25": 1} and state["calls"] == {"taobao.logistics.companies.get": 1}
    assert state["tokens"] == {"issued": 1, "valid": 1}


def test_admin_actions_change_trades_and_bump_modified(taobao: tuple[TaobaoSimulator, TopClient],
                                                       clock: FakeClock) -> None:
    sim, client = taobao
    unpaid = next(t for t, trade in sim.book.trades.items() if trade["status"] == "WAIT_BUYER_PAY")
    clock.advance(10)

    r = client.http.post(f"/_sandbox/order/{unpaid}", json={"action": "pay"})

    assert r.status_code == 200 and r.json()["trade"]["status"] == "WAIT_SELLER_SEND_GOODS"
    assert sim.book.trades[unpaid]["modified"] == text(clock())
    assert client.http.post(f"/_sandbox/order/{unpaid}", json={"action": "complete"}).status_code == 409
    assert client.http.post("/_sandbox/order/1", json={"action": "touch"}).status_code == 404
    added = client.http.post("/_sandbox/orders", json={"generate": 3, "seed": 99}).json()
    assert len(added["added"]) == 3 and sim.state()["orders_total"] == 43

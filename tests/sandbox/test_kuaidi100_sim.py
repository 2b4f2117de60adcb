"""The Kuaidi100 simulator over a real 127.0.0.1 server, driven by the Kuaidi100 provider itself."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest

from syncd.adapters.kuaidi100.adapter import Kuaidi100Provider
from syncd.adapters.kuaidi100.config import Kuaidi100Config
from syncd.adapters.kuaidi100.signing import query_sign
from syncd.adapters.sandbox.httpserver import Response, SandboxServer
from syncd.adapters.sandbox.kuaidi100_history import SCENARIOS, pick_scenario, script
from syncd.adapters.sandbox.kuaidi100_sim import (
    SANDBOX_KUAIDI100_CUSTOMER,
    SANDBOX_KUAIDI100_KEY,
    SANDBOX_KUAIDI100_SALT,
    Kuaidi100Simulator,
)
from syncd.domain import LogisticsState as S
from syncd.domain import TrackPush
from syncd.errors import FatalError, RateLimitedError, RejectedError
from syncd.registry import AdapterContext
from syncd.retry import RetryPolicy
from tests.adapters.kuaidi100.conftest import NoTokens
from tests.sandbox.helpers import FakeClock

HOUR = 3600.0
NO_RECORD = "YT0000000000000"  # never_picked_up without any node (seed 0)
LABEL_ONLY = "YT0000000000002"  # never_picked_up with one 102 待揽收 node (seed 0)


@dataclass
class Receiver:
    """The daemon's push endpoint: verifies with the provider and answers with its push_reply."""

    provider: Kuaidi100Provider
    accept: bool = True
    pushes: list[TrackPush] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    queries: list[dict[str, str]] = field(default_factory=list)

    def handle(self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str],
               body: bytes) -> Response:
        self.queries.append(query)
        try:
            push = self.provider.parse_push(dict(parse_qsl(body.decode(), keep_blank_values=True)))
        except RejectedError as err:
            self.refused.append(str(err))
            status, content_type, out = self.provider.push_reply(False, str(err))
        else:
            self.pushes.append(push)
            status, content_type, out = self.provider.push_reply(self.accept, "not now")
        return status, {"Content-Type": content_type}, out


@dataclass
class Env:
    sim: Kuaidi100Simulator
    provider: Kuaidi100Provider
    receiver: Receiver
    clock: FakeClock
    http: httpx.Client
    url: str
    provider_ctx: AdapterContext

    @property
    def callback(self) -> str:
        return f"{self.url}/callback?shipment=7"

    def raw(self, path: str, data: dict[str, str]) -> dict[str, Any]:
        resp = self.http.post(f"{self.url}/kuaidi100{path}", data=data)
        assert resp.status_code == 200
        out: dict[str, Any] = resp.json()
        return out

    def provider_with(self, **changes: Any) -> Kuaidi100Provider:
        raw = {**self.sim.tracking_config(f"{self.url}/kuaidi100"), **changes}
        return Kuaidi100Provider(Kuaidi100Config.model_validate(raw), self.provider_ctx)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def env(clock: FakeClock, tmp_path: Path) -> Iterator[Env]:
    sim = Kuaidi100Simulator(SANDBOX_KUAIDI100_CUSTOMER, SANDBOX_KUAIDI100_KEY, SANDBOX_KUAIDI100_SALT,
                             clock=clock, seed=0)
    server = SandboxServer()
    server.mount(sim.prefix, sim)
    server.start()
    http = httpx.Client(timeout=10)
    policy = RetryPolicy(attempts=3, max_seconds=60, initial_wait=0, max_wait=0, sleep=lambda s: None)
    ctx = AdapterContext(http=http, tokens=NoTokens(), data_dir=tmp_path, retry=policy)
    provider = Kuaidi100Provider(Kuaidi100Config.model_validate(sim.tracking_config(server.url + "/kuaidi100")), ctx)
    receiver = Receiver(provider)
    server.mount("/callback", receiver)
    try:
        yield Env(sim, provider, receiver, clock, http, server.url, ctx)
    finally:
        http.close()
        server.stop()


# ---- scenarios --------------------------------------------------------------------------------------


def test_scenarios_are_a_stable_hash_of_the_number_with_mostly_normal_and_delivered() -> None:
    numbers = [f"ZT{i:012d}" for i in range(4000)]
    picks = Counter(pick_scenario(0, n, {"normal": 0.55, "delivered": 0.25, "never_picked_up": 0.05,
                                         "stalled": 0.05, "refused": 0.05, "problem": 0.05}) for n in numbers)
    assert set(picks) == set(SCENARIOS)
    assert picks["normal"] + picks["delivered"] > 0.75 * len(numbers)
    assert all(picks[s] > 0.03 * len(numbers) for s in ("never_picked_up", "stalled", "refused", "problem"))
    assert [pick_scenario(0, n, {"normal": 1, "stalled": 1}) for n in numbers[:50]] == [
        pick_scenario(0, n, {"normal": 1, "stalled": 1}) for n in numbers[:50]]
    assert {pick_scenario(0, n, {"stalled": 1}) for n in numbers[:50]} == {"stalled"}


def test_weights_naming_an_unknown_scenario_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown scenarios"):
        Kuaidi100Simulator("C", "K", weights={"lost": 1.0})


def test_normal_is_picked_up_recently_and_moves_on_to_delivered(env: Env) -> None:
    env.sim.set_scenario("YT5000000000001", "normal")
    first = env.provider.query("yuantong", "YT5000000000001", None)
    assert first.state in (S.PICKED_UP, S.IN_TRANSIT) and not first.final and first.verdict is None
    assert first.events[0].state is S.PICKED_UP
    newest_age = env.clock() - first.events[-1].at.timestamp()
    assert 0 <= newest_age <= 10 * HOUR

    env.clock.advance(40 * HOUR)
    later = env.provider.query("yuantong", "YT5000000000001", None)
    assert later.state is S.DELIVERED and later.final and len(later.events) == 6
    assert "****" in later.events[-2].text  # the courier's mobile arrives masked


def test_delivered_is_signed_final_and_entirely_in_the_past(env: Env) -> None:
    env.sim.set_scenario("YT5000000000002", "delivered")
    result = env.provider.query("yuantong", "YT5000000000002", None)
    assert (result.state, result.final) == (S.DELIVERED, True)
    assert [e.at for e in result.events] == sorted(e.at for e in result.events)
    assert result.events[-1].at.timestamp() < env.clock()


def test_never_picked_up_without_a_record_is_no_records(env: Env) -> None:
    env.sim.set_scenario(NO_RECORD, "never_picked_up")
    assert not script(0, NO_RECORD, "never_picked_up").nodes
    result = env.provider.query("yuantong", NO_RECORD, None)
    assert (result.state, result.events, result.verdict) == (S.NONE, [], "no_records")
    assert env.sim.snapshot()["answers"]["query:500"] == 1


def test_never_picked_up_with_a_printed_label_is_state_none_noting_102(env: Env) -> None:
    env.sim.set_scenario(LABEL_ONLY, "never_picked_up")
    result = env.provider.query("yuantong", LABEL_ONLY, None)
    assert result.state is S.NONE and len(result.events) == 1 and "102 待揽收" in result.provider_state


def test_stalled_shows_202_at_once_with_the_last_scan_60_hours_before_first_seen(env: Env) -> None:
    env.sim.set_scenario("YT5000000000003", "stalled")
    result = env.provider.query("yuantong", "YT5000000000003", None)
    assert result.verdict == "stalled" and result.state is S.IN_TRANSIT  # where its last scan left it
    assert env.sim.first_seen("YT5000000000003") == env.clock()
    assert env.clock() - result.events[-1].at.timestamp() == 60 * HOUR


@pytest.mark.parametrize(("scenario", "state", "code"), [("refused", S.REFUSED, "14"), ("problem", S.PROBLEM, "204")])
def test_refused_and_problem_parcels_end_in_their_state(env: Env, scenario: str, state: S, code: str) -> None:
    env.sim.set_scenario("YT5000000000004", scenario)
    result = env.provider.query("yuantong", "YT5000000000004", None)
    assert result.state is state and code in result.provider_state and not result.final


def test_histories_are_deterministic_across_simulators(clock: FakeClock) -> None:
    a = Kuaidi100Simulator("C", "K", clock=clock, seed=3)
    b = Kuaidi100Simulator("C", "K", clock=clock, seed=3)
    form = {"customer": "C", "param": '{"com":"zhongtong","num":"73100000000009","resultv2":"4"}'}
    form["sign"] = query_sign(form["param"], "K", "C")
    body = urlencode(form).encode()
    assert (a.handle("POST", "/kuaidi100/poll/query.do", {}, {}, body)
            == b.handle("POST", "/kuaidi100/poll/query.do", {}, {}, body))


# ---- checks -----------------------------------------------------------------------------------------


def test_a_wrong_key_is_answered_503_and_the_provider_says_check_the_key(env: Env) -> None:
    with pytest.raises(FatalError, match="returnCode 503 \\(验证签名失败\\)"):
        env.provider_with(key="wrong-key").query("yuantong", "YT1", None)


def test_a_wrong_customer_is_answered_600(env: Env) -> None:
    with pytest.raises(FatalError, match="returnCode 600"):
        env.provider_with(customer="SOMEONEELSE").query("yuantong", "YT1", None)


def test_sf_needs_a_phone(env: Env) -> None:
    param = '{"com":"shunfeng","num":"SF1400000000001"}'
    answer = env.raw("/poll/query.do", {"customer": SANDBOX_KUAIDI100_CUSTOMER, "param": param,
                                        "sign": query_sign(param, SANDBOX_KUAIDI100_KEY, SANDBOX_KUAIDI100_CUSTOMER)})
    assert answer["result"] is False and answer["returnCode"] == "400" and "手机号" in answer["message"]
    assert env.provider.query("shunfeng", "SF1400000000001", "13812345678").provider_state


def test_an_unknown_carrier_has_no_record(env: Env) -> None:
    assert env.provider.query("nosuchcarrier", "X1", None).verdict == "no_records"


def test_injected_faults_are_retried_and_quota_runs_out_with_601(env: Env) -> None:
    env.sim.fail_next("502", 2)
    assert env.provider.query("yuantong", "YT5000000000005", None).events
    env.sim.quota = 1
    env.provider.query("yuantong", "YT5000000000005", None)
    with pytest.raises(RateLimitedError) as info:
        env.provider.query("yuantong", "YT5000000000005", None)
    assert info.value.retry_after == 3600
    answers = env.sim.snapshot()["answers"]
    assert (answers["query:502"], answers["query:601"]) == (2, 1)


def test_paths_and_methods_outside_the_api_are_refused(env: Env) -> None:
    assert env.http.get(f"{env.url}/kuaidi100/poll/query.do").status_code == 405
    assert env.http.post(f"{env.url}/kuaidi100/elsewhere").status_code == 404


# ---- subscriptions and pushes -----------------------------------------------------------------------


def test_subscription_stores_the_callback_and_a_duplicate_is_501_which_the_provider_accepts(env: Env) -> None:
    env.provider.subscribe("yuantong", "YT6000000000001", None, env.callback)
    assert env.sim.subscription("YT6000000000001") == {
        "com": "yuantong", "callbackurl": env.callback, "status": "polling", "salted": True, "attempts": 0}
    env.provider.subscribe("yuantong", "YT6000000000001", None, env.callback)  # 501: no error
    assert env.sim.snapshot()["answers"]["subscribe:501"] == 1


def test_subscription_with_a_wrong_key_or_bad_data_is_refused(env: Env) -> None:
    with pytest.raises(FatalError, match="returnCode 600"):
        env.provider_with(key="wrong-key").subscribe("yuantong", "YT6000000000002", None, env.callback)
    param = json.dumps({"company": "nosuch", "number": "1", "key": SANDBOX_KUAIDI100_KEY,
                        "parameters": {"callbackurl": env.callback}})
    assert env.raw("/poll", {"schema": "json", "param": param})["returnCode"] == "700"
    param = json.dumps({"company": "yuantong", "number": "1", "key": SANDBOX_KUAIDI100_KEY,
                        "parameters": {"callbackurl": "nowhere"}})
    assert env.raw("/poll", {"schema": "json", "param": param})["message"] == "错误的回调地址"


def test_a_delivered_parcel_is_pushed_once_signed_and_the_subscription_shuts_down(env: Env) -> None:
    env.sim.set_scenario("YT6000000000003", "delivered")
    env.provider.subscribe("yuantong", "YT6000000000003", None, env.callback)

    assert len(env.sim.pending_pushes()) == 1
    assert env.sim.deliver_pushes(env.http) == {"delivered": 1, "failed": 0}

    (push,) = env.receiver.pushes
    assert (push.carrier, push.tracking_no) == ("yuantong", "YT6000000000003")
    assert push.result.state is S.DELIVERED and push.result.final and len(push.result.events) == 6
    assert env.receiver.queries == [{"shipment": "7"}]  # the callback's own query string is kept
    assert env.sim.subscription("YT6000000000003")["status"] == "shutdown"  # type: ignore[index]
    env.clock.advance(10 * HOUR)
    assert env.sim.deliver_pushes(env.http) == {"delivered": 0, "failed": 0}


def test_a_normal_parcel_is_pushed_on_each_change_until_delivered(env: Env) -> None:
    env.sim.set_scenario("YT6000000000004", "normal")
    env.provider.subscribe("yuantong", "YT6000000000004", None, env.callback)
    for _ in range(12):
        env.sim.deliver_pushes(env.http)
        assert env.sim.deliver_pushes(env.http)["delivered"] == 0  # nothing new: nothing pushed
        env.clock.advance(4 * HOUR)
    states = [p.result.state for p in env.receiver.pushes]
    assert states[-1] is S.DELIVERED and env.receiver.pushes[-1].result.final
    assert len(states) >= 4 and S.DELIVERING in states
    assert env.sim.snapshot()["subscriptions"] == {"total": 1, "shutdown": 1}


def test_never_picked_up_is_aborted_after_three_days_with_no_record(env: Env) -> None:
    env.sim.set_scenario(NO_RECORD, "never_picked_up")
    env.provider.subscribe("yuantong", NO_RECORD, None, env.callback)
    env.clock.advance(71 * HOUR)
    assert env.sim.deliver_pushes(env.http)["delivered"] == 0
    env.clock.advance(1 * HOUR)
    assert env.sim.deliver_pushes(env.http)["delivered"] == 1
    (push,) = env.receiver.pushes
    assert push.result.verdict == "abort: 3天查询无记录" and push.result.state is S.NONE
    assert env.sim.subscription(NO_RECORD)["status"] == "abort"  # type: ignore[index]


def test_a_stalled_parcel_is_pushed_with_the_stalled_verdict(env: Env) -> None:
    env.sim.set_scenario("YT6000000000005", "stalled")
    env.provider.subscribe("yuantong", "YT6000000000005", None, env.callback)
    env.sim.deliver_pushes(env.http)
    assert [p.result.verdict for p in env.receiver.pushes] == ["stalled"]
    env.sim.set_scenario("YT6000000000005", "stalled")  # looked at again: nothing changed, nothing pushed
    assert env.sim.deliver_pushes(env.http) == {"delivered": 0, "failed": 0}


def test_a_refused_reply_is_retried_later_and_dropped_after_three_retries(env: Env) -> None:
    env.receiver.accept = False
    env.sim.set_scenario("YT6000000000006", "refused")
    env.provider.subscribe("yuantong", "YT6000000000006", None, env.callback)
    assert env.sim.deliver_pushes(env.http) == {"delivered": 0, "failed": 1}
    assert env.sim.deliver_pushes(env.http) == {"delivered": 0, "failed": 0}  # not before 35 minutes
    for _ in range(3):
        env.clock.advance(35 * 60)
        assert env.sim.deliver_pushes(env.http) == {"delivered": 0, "failed": 1}
    env.clock.advance(35 * 60)
    assert env.sim.deliver_pushes(env.http) == {"delivered": 0, "failed": 0}
    assert env.sim.snapshot()["pushes"] == {"delivered": 0, "failed": 4, "dropped": 1, "pending": 0}
    assert len(env.receiver.pushes) == 4


def test_a_receiver_with_another_salt_refuses_the_push_and_it_is_retried(env: Env) -> None:
    env.receiver.provider = env.provider_with(salt="another-salt")
    env.sim.set_scenario("YT6000000000007", "delivered")
    env.provider.subscribe("yuantong", "YT6000000000007", None, env.callback)
    assert env.sim.deliver_pushes(env.http) == {"delivered": 0, "failed": 1}
    assert env.receiver.refused == ["kuaidi100 push: signature does not match (check salt in tracking.yaml)"]
    env.receiver.provider = env.provider
    env.clock.advance(35 * 60)
    assert env.sim.deliver_pushes(env.http) == {"delivered": 1, "failed": 0}


def test_an_unreachable_callback_counts_as_a_failed_push(env: Env) -> None:
    env.sim.set_scenario("YT6000000000008", "delivered")
    env.provider.subscribe("yuantong", "YT6000000000008", None, "http://127.0.0.1:9/unreachable")
    assert env.sim.deliver_pushes(env.http) == {"delivered": 0, "failed": 1}


# ---- admin ------------------------------------------------------------------------------------------


def test_snapshot_and_admin_endpoints(env: Env) -> None:
    env.provider.query("yuantong", "YT7000000000001", None)
    resp = env.http.post(f"{env.url}/kuaidi100/_sandbox/scenario",
                         json={"number": "YT7000000000001", "scenario": "refused"})
    assert resp.json() == {"ok": True}
    assert env.provider.query("yuantong", "YT7000000000001", None).state is S.REFUSED
    assert env.http.post(f"{env.url}/kuaidi100/_sandbox/scenario",
                         json={"number": "1", "scenario": "lost"}).status_code == 400
    assert env.http.post(f"{env.url}/kuaidi100/_sandbox/fail", json={"code": "502"}).json() == {"ok": True}
    env.provider.query("yuantong", "YT7000000000001", None)
    state = env.http.get(f"{env.url}/kuaidi100/_sandbox/state").json()
    assert state["numbers"] == 1 and state["scenarios"] == {"refused": 1}
    assert state["calls"] == {"query": 4} and state["answers"]["query:502"] == 1
    assert state["subscriptions"] == {"total": 0} and state["pushes"]["pending"] == 0

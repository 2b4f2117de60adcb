"""Rate budgets: callers wait for their token instead of being refused; waits are bounded."""

from __future__ import annotations

import pytest

from syncd.errors import RateLimitedError
from syncd.ratelimit import RateLimiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def test_acquire_given_a_budget_lets_a_burst_through_then_spaces_calls():
    t = FakeTime()
    rl = RateLimiter(clock=t.clock, sleep=t.sleep)
    for _ in range(5):
        rl.acquire("pdd:s1:pdd.order.number.list.increment.get", 5, burst=5)
    assert t.slept == []
    for _ in range(10):
        rl.acquire("pdd:s1:pdd.order.number.list.increment.get", 5, burst=5)
    assert t.now == pytest.approx(2.0)  # 10 more calls at 5/s
    assert rl.waited == pytest.approx(2.0)


def test_acquire_keeps_separate_budgets_per_key():
    t = FakeTime()
    rl = RateLimiter(clock=t.clock, sleep=t.sleep)
    rl.acquire("a", 1)
    rl.acquire("b", 1)
    assert t.slept == []
    rl.acquire("a", 1)
    assert t.slept == [pytest.approx(1.0)]


def test_acquire_given_a_wait_longer_than_allowed_refuses_without_spending_the_token():
    t = FakeTime()
    rl = RateLimiter(clock=t.clock, sleep=t.sleep, max_wait=5)
    rl.acquire("slow", 0.1)  # one call every 10 s
    with pytest.raises(RateLimitedError) as exc:
        rl.acquire("slow", 0.1)
    assert exc.value.retry_after == pytest.approx(10.0)
    t.now += 10
    rl.acquire("slow", 0.1)
    assert t.slept == []


def test_acquire_without_a_burst_spaces_every_call_evenly():
    t = FakeTime()
    rl = RateLimiter(clock=t.clock, sleep=t.sleep)
    for _ in range(5):
        rl.acquire("douyin:s:order.logisticsAdd", 20)
    assert t.now == pytest.approx(4 / 20)  # the first goes at once, then one every 50 ms


def test_pause_refuses_calls_under_its_scope_at_once_until_it_ends():
    t = FakeTime()
    limiter = RateLimiter(clock=t.clock, sleep=t.sleep)
    limiter.pause("1688:acme:", 10)

    with pytest.raises(RateLimitedError) as err:
        limiter.acquire("1688:acme:alibaba.trade.get.buyerView", 100)
    limiter.acquire("1688:other:alibaba.trade.get.buyerView", 100)  # another account goes on
    t.now += 10.5
    limiter.acquire("1688:acme:alibaba.trade.get.buyerView", 100)

    assert err.value.retry_after == pytest.approx(10)
    assert t.slept == []  # refused, never slept through


def test_pause_given_a_shorter_second_ban_keeps_the_longer_one():
    t = FakeTime()
    limiter = RateLimiter(clock=t.clock, sleep=t.sleep)
    limiter.pause("webhook:hz:", 20)
    limiter.pause("webhook:hz:", 5)
    t.now += 6

    assert limiter.paused_for("webhook:hz:create") == pytest.approx(14)


def test_use_given_callers_waiting_reports_calls_budget_and_the_peak_reached_per_key():
    t = FakeTime()
    rl = RateLimiter(clock=t.clock, sleep=t.sleep)
    for _ in range(100):  # always work waiting: the budget is used in full
        rl.acquire("douyin:shop-a:order.logisticsAdd", 5)
    t.now += 30
    for _ in range(10):  # a trickle: one call every 2 s
        rl.acquire("douyin:shop-b:order.logisticsAdd", 5)
        t.now += 2
    use = rl.use(window=10)
    calls, rate, peak = use["douyin:shop-a:order.logisticsAdd"]
    assert (calls, rate) == (100, 5) and peak == pytest.approx(5.1)  # 51 calls let through in any 10 s
    assert use["douyin:shop-b:order.logisticsAdd"][2] == pytest.approx(0.6)

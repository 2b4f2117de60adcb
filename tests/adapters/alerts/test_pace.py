"""Every robot paces itself inside the limits the service publishes (reference §E), with room for network delay.

Issue 15: Feishu's 5-a-second limit was hit by syncd's own pace, 6 sends within one second, because a send was
allowed exactly one window after the fifth-last: the service, counting arrivals, saw six. The robot here stamps
each request with the (fake) clock; a send refused locally for longer than the retry budget is sent again when
the refusal says, as the notifier's next run would.
"""

from __future__ import annotations

import httpx
import pytest
import respx
import time_machine

from syncd.adapters.alerts.base import MIN_HEADROOM
from syncd.errors import RateLimitedError
from syncd.registry import AdapterContext
from tests.adapters.alerts.conftest import FakeMonotonic, message
from tests.adapters.alerts.test_robot_answers import KINDS, Kind

# reference §E.6: (messages, seconds) per robot; the generic webhook's published limit is its per_minute default
PUBLISHED = {
    "dingtalk": [(20, 60.0)],
    "wecom": [(20, 60.0)],
    "feishu": [(5, 1.0), (100, 60.0)],
    "slack": [(1, 1.0)],
    "webhook": [(60, 60.0)],
}


@pytest.fixture(autouse=True)
def _frozen(clock_at: time_machine.Traveller) -> None:
    """Signatures are made at the frozen NOW."""


def _burst(kind: Kind, ctx: AdapterContext, mono: FakeMonotonic, api: respx.MockRouter, count: int) -> list[float]:
    """Send ``count`` messages as fast as the sink lets them go; the clock readings at which each reached the robot."""
    arrivals: list[float] = []

    def robot(request: httpx.Request) -> httpx.Response:
        arrivals.append(mono())
        return kind.ok()

    api.post(url__startswith=kind.url.split("?")[0]).mock(side_effect=robot)
    sink = kind.make(ctx, mono)
    for _ in range(count):
        for _ in range(10):
            try:
                sink.send(message())
                break
            except RateLimitedError as err:
                assert err.code == "local"  # never the robot's own refusal
                assert err.retry_after is not None
                mono.advance(err.retry_after)  # the notifier sends it on a later run
    return arrivals


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_a_burst_stays_inside_every_published_window_with_room_for_network_delay(
        kind: Kind, ctx: AdapterContext, mono: FakeMonotonic, api: respx.MockRouter) -> None:
    limits = PUBLISHED[kind.name]
    count = max(n for n, _ in limits) * 2 + 1
    arrivals = _burst(kind, ctx, mono, api, count)

    assert len(arrivals) == count  # every message went, none was lost to the pace
    for allowed, seconds in limits:
        # any allowed+1 sends in a row span more than the window plus the spread of delays we leave room for
        spans = [arrivals[i + allowed] - arrivals[i] for i in range(len(arrivals) - allowed)]
        assert min(spans) >= seconds + MIN_HEADROOM, (kind.name, allowed, seconds, min(spans))


def test_feishu_waits_for_its_one_second_window_in_place_without_spending_a_retry_attempt(
        ctx: AdapterContext, mono: FakeMonotonic, api: respx.MockRouter, waits: list[float]) -> None:
    feishu = next(k for k in KINDS if k.name == "feishu")
    route = api.post(feishu.url).mock(side_effect=[feishu.ok()] * 5 + [httpx.Response(502), feishu.ok()])
    sink = feishu.make(ctx, mono)
    for _ in range(6):
        sink.send(message())  # the 6th: a pace wait, a 502, a retry; the policy allows 3 attempts

    assert route.call_count == 7
    assert waits[0] == pytest.approx(1.25)

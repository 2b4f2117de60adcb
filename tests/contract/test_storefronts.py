"""One contract for every storefront: each simulator driven over real HTTP through its real adapter.

Windows are kept within the adapter's ``max_window`` (30 minutes at most) because that is all the core
ever asks for. Times are the simulators' real clock; nothing sleeps: retries and rate budgets wait on
fake clocks.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest

from syncd import clock
from syncd.domain import OrderIn, OrderStatus, Parcel, ParcelLine, Receiver, RefundState
from syncd.errors import RateLimitedError, ReauthorizationRequired, TransientError
from syncd.metrics import call_samples, render
from tests.contract.conftest import Storefront
from tests.core.test_metrics import parse

SKU_A, SKU_B = "SB-TEE-RED-M", "SB-MUG-WHT"
_TRACKING = itertools.count(1)


def span(sf: Storefront) -> int:
    """The window length the tests use: the adapter's max_window, at most 30 minutes."""
    return int(min(sf.adapter.max_window, timedelta(minutes=30)).total_seconds())


def at(ts: float) -> datetime:
    return clock.from_epoch(ts)


def ids_of(orders: Sequence[OrderIn]) -> list[str]:
    return [o.platform_order_id for o in orders]


def tracking_no() -> str:
    """A fresh ZTO-shaped tracking number (14 digits) per call."""
    return f"78{int(time.time()) % 10**6:06d}{next(_TRACKING):06d}"


def parcel(order_id: str, lines: list[str], number: str, n: int = 1) -> Parcel:
    return Parcel(carrier="zhongtong", tracking_no=number, request_id=f"{order_id}-p{n}",
                  lines=[ParcelLine(platform_line_id=line, quantity=1) for line in lines])


# ---- listing ------------------------------------------------------------------------------------------


def test_pull_given_250_orders_returns_each_once_across_pages(storefront: Storefront) -> None:
    sf, now = storefront, time.time()
    ids = sf.sim.seed_ready(250, now=now, spread_seconds=span(storefront) - 60)

    result = sf.adapter.list_orders(at(now - span(sf)), at(now))

    got = ids_of(result.orders)
    assert len(got) == len(set(got)) == 250
    assert set(got) == set(ids)
    assert result.rejects == []
    assert all(o.status is OrderStatus.PAID and o.ready_to_ship for o in result.orders)
    assert result.total in (None, 250)


def test_pull_given_empty_window_returns_nothing(storefront: Storefront) -> None:
    sf, now = storefront, time.time()
    sf.sim.seed_ready(5, now=now, spread_seconds=span(sf) - 60)
    start = now - 3 * span(sf)

    result = sf.adapter.list_orders(at(start), at(start + span(sf)))

    assert (result.orders, result.rejects) == ([], [])
    assert result.total in (None, 0)
    assert sf.adapter.count_orders(at(start), at(start + span(sf))) in (None, 0)


def test_pull_returns_orders_exactly_on_the_window_boundaries(storefront: Storefront) -> None:
    sf, now = storefront, time.time()
    end = int(now) - span(sf) - 60
    start = end - span(sf)
    first, last, next_first = sf.sim.seed_ready(3, now=now, spread_seconds=span(sf) - 60)
    sf.sim.set_updated(first, start)
    sf.sim.set_updated(last, end - 1)
    sf.sim.set_updated(next_first, end)

    window = ids_of(sf.adapter.list_orders(at(start), at(end)).orders)
    following = ids_of(sf.adapter.list_orders(at(end), at(end + span(sf))).orders)

    assert first in window and last in window
    assert next_first in following  # the next window owns its start; this one may show it too
    assert first not in following and last not in following
    assert len(window) == len(set(window)) and len(following) == len(set(following))


def test_pull_given_order_moving_out_while_paging_returns_it_in_the_window_that_now_holds_it(
        storefront: Storefront) -> None:
    sf, now = storefront, time.time()
    ids = sf.sim.seed_ready(250, now=now, spread_seconds=span(sf) - 60)
    window_end = int(now) - 1  # the order is bumped to the simulator's "now": always after this
    sf.sim.touch_when_paging(ids[0], 1)

    first = ids_of(sf.adapter.list_orders(at(window_end - span(sf)), at(window_end)).orders)
    second = sf.adapter.list_orders(at(window_end), at(time.time() + 2)).orders

    assert len(first) == len(set(first))
    assert set(ids[1:]) <= set(first)  # the others, shifted by the move, are all still there
    assert ids_of(second) == [ids[0]]
    assert second[0].updated_at >= at(window_end)


def test_pull_given_order_moving_within_the_window_while_paging_returns_it_once_in_its_new_version(
        storefront: Storefront) -> None:
    sf, now = storefront, time.time()
    ids = sf.sim.seed_ready(250, now=now, spread_seconds=span(sf) - 60)
    sf.sim.touch_when_paging(ids[0], 1)

    result = sf.adapter.list_orders(at(now - span(sf) + 30), at(now + 30))

    got = ids_of(result.orders)
    assert Counter(got) == Counter(ids)  # every order exactly once
    moved = next(o for o in result.orders if o.platform_order_id == ids[0])
    assert moved.updated_at >= at(int(now))


def test_count_orders_equals_what_list_orders_returns(storefront: Storefront) -> None:
    sf, now = storefront, time.time()
    sf.sim.seed_ready(130, now=now, spread_seconds=span(sf) - 60)
    start, end = at(now - span(sf)), at(now)

    listed = sf.adapter.list_orders(start, end).orders
    counted = sf.adapter.count_orders(start, end)

    assert len(listed) == 130
    assert counted is None or counted == len(listed)


# ---- tokens and errors --------------------------------------------------------------------------------


def test_token_expiring_mid_run_is_refreshed_once_and_the_call_succeeds(storefront: Storefront) -> None:
    sf, now = storefront, time.time()
    ids = sf.sim.seed_ready(3, now=now, spread_seconds=span(sf) - 60)
    window = (at(now - span(sf)), at(now))
    assert set(ids_of(sf.adapter.list_orders(*window).orders)) == set(ids)
    saved = len(sf.tokens.saved)
    old = sf.tokens.saved[-1].access_token if sf.tokens.saved else None

    sf.sim.expire_access_token()
    result = sf.adapter.list_orders(*window)

    assert set(ids_of(result.orders)) == set(ids)
    assert len(sf.tokens.saved) == saved + 1
    assert sf.tokens.saved[-1].access_token != old
    sf.adapter.list_orders(*window)
    assert len(sf.tokens.saved) == saved + 1  # the new token is used, not refreshed again


@pytest.mark.parametrize(("kind", "error"), [("transient", TransientError), ("rate_limited", RateLimitedError)])
def test_retryable_failures_are_retried_then_succeed_and_stop_after_the_policy_attempts(
        storefront: Storefront, kind: str, error: type[Exception]) -> None:
    sf, now = storefront, time.time()
    ids = sf.sim.seed_ready(3, now=now, spread_seconds=span(sf) - 60)
    window = (at(now - span(sf)), at(now))

    sf.sim.fail_next(kind, sf.retry.attempts - 1)  # type: ignore[arg-type]
    assert set(ids_of(sf.adapter.list_orders(*window).orders)) == set(ids)
    assert len(sf.retry_sleeps) == sf.retry.attempts - 1

    sf.sim.fail_next(kind, sf.retry.attempts)  # type: ignore[arg-type]
    with pytest.raises(error) as caught:
        sf.adapter.list_orders(*window)
    if error is TransientError:
        assert not isinstance(caught.value, RateLimitedError)
    assert set(ids_of(sf.adapter.list_orders(*window).orders)) == set(ids)  # every failure was used up


def test_platform_error_codes_are_counted_per_platform_and_a_flow_control_code_as_rate_limited(
        storefront: Storefront) -> None:
    sf, now = storefront, time.time()
    window = (at(now - span(sf)), at(now))
    sf.sim.fail_next("rate_limited", 2)
    sf.sim.fail_next("transient", 1)
    sf.adapter.list_orders(*window)  # retried past the three failures

    page = parse(render(call_samples(sf.stats)))
    limited = page.series("syncd_outside_rate_limited_total")
    assert sum(limited.values()) == 2, limited  # answered inside HTTP 200: no transport error saw them
    codes = page.series("syncd_platform_errors_total")
    kinds = Counter(dict(labels)["kind"] for labels, n in codes.items() for _ in range(int(n)))
    assert kinds == {"rate_limited": 2, "transient": 1}, codes


def test_revoked_authorisation_raises_reauthorization_required_without_retrying(storefront: Storefront) -> None:
    sf, now = storefront, time.time()
    ids = sf.sim.seed_ready(2, now=now, spread_seconds=span(sf) - 60)
    window = (at(now - span(sf)), at(now))

    sf.sim.fail_next("auth_revoked")
    with pytest.raises(ReauthorizationRequired):
        sf.adapter.list_orders(*window)

    assert sf.retry_sleeps == []
    assert set(ids_of(sf.adapter.list_orders(*window).orders)) == set(ids)


# ---- receivers ----------------------------------------------------------------------------------------


def test_decrypt_returns_a_complete_receiver_for_each_seeded_order(storefront: Storefront) -> None:
    sf, now = storefront, time.time()
    ids = sf.sim.seed_ready(7, now=now, spread_seconds=span(sf) - 60)
    orders = sf.adapter.list_orders(at(now - span(sf)), at(now)).orders

    out = sf.adapter.decrypt([(o.platform_order_id, o.receiver) for o in orders])

    assert set(out) == set(ids)
    for order_id, receiver in out.items():
        assert isinstance(receiver, Receiver), f"order {order_id}: {receiver}"
        assert receiver.missing() == []


# ---- shipping -----------------------------------------------------------------------------------------


def _seed_one(sf: Storefront, *skus: str) -> tuple[str, list[str]]:
    (order_id,) = sf.sim.seed_ready(1, now=time.time(), spread_seconds=span(sf) - 60, skus=skus or (SKU_A,))
    lines = sf.sim.line_ids(order_id)
    assert [line.platform_line_id for line in sf.adapter.get_order(order_id).lines] == lines
    return order_id, lines


def test_whole_order_shipment_records_the_tracking_number(storefront: Storefront) -> None:
    sf = storefront
    order_id, lines = _seed_one(sf)
    number = tracking_no()

    result = sf.adapter.ship(order_id, [parcel(order_id, lines, number)], whole_order=True)

    assert result.already_shipped is False
    assert sf.sim.tracking_numbers(order_id) == [number]
    shipped = sf.adapter.get_order(order_id)
    assert shipped.status is OrderStatus.SHIPPED
    assert number in shipped.shipped_tracking


def test_split_shipment_of_a_two_line_order_records_both_parcels(storefront: Storefront) -> None:
    sf = storefront
    order_id, lines = _seed_one(sf, SKU_A, SKU_B)
    numbers = [tracking_no(), tracking_no()]
    parcels = [parcel(order_id, [line], number, n) for n, (line, number) in
               enumerate(zip(lines, numbers, strict=True), start=1)]

    sf.adapter.ship(order_id, parcels, whole_order=False)

    assert sf.sim.tracking_numbers(order_id) == numbers
    read_back = sf.adapter.get_order(order_id)
    assert read_back.status is OrderStatus.SHIPPED
    # the write-back reads an order back after an unreadable answer: every parcel must show there
    assert set(numbers) <= set(read_back.shipped_tracking)


@pytest.mark.parametrize("split", [False, True], ids=["whole", "split"])
def test_shipping_the_same_parcels_again_is_accepted_without_a_second_shipment(
        storefront: Storefront, split: bool) -> None:
    sf = storefront
    order_id, lines = _seed_one(sf, SKU_A, SKU_B)
    if split:
        parcels = [parcel(order_id, [line], tracking_no(), n) for n, line in enumerate(lines, start=1)]
    else:
        parcels = [parcel(order_id, lines, tracking_no())]
    sf.adapter.ship(order_id, parcels, whole_order=not split)
    recorded = sf.sim.tracking_numbers(order_id)

    sf.adapter.ship(order_id, parcels, whole_order=not split)  # a retry after a lost answer, say
    assert sf.sim.tracking_numbers(order_id) == recorded

    for p in parcels:
        p.attempted = True
    again = sf.adapter.ship(order_id, parcels, whole_order=not split)
    assert sf.sim.tracking_numbers(order_id) == recorded == [p.tracking_no for p in parcels]
    if not split:
        assert again.already_shipped is True  # read back, found, not sent


def test_attempted_parcel_never_shipped_is_shipped_once(storefront: Storefront) -> None:
    sf = storefront
    order_id, lines = _seed_one(sf)
    first = parcel(order_id, lines, tracking_no())
    first.attempted = True

    result = sf.adapter.ship(order_id, [first], whole_order=True)

    assert result.already_shipped is False
    assert sf.sim.tracking_numbers(order_id) == [first.tracking_no]


# ---- refunds ------------------------------------------------------------------------------------------

_EXPECTED = {"requested": RefundState.REQUESTED, "refunded": RefundState.REFUNDED, "closed": RefundState.NONE}


@pytest.mark.parametrize("whole_order", [False, True], ids=["one-line", "whole-order"])
@pytest.mark.parametrize("kind", ["requested", "refunded", "closed"])
def test_refund_set_on_the_platform_appears_in_list_refunds_with_its_state(
        storefront: Storefront, kind: str, whole_order: bool) -> None:
    sf = storefront
    order_id, lines = _seed_one(sf, SKU_A, SKU_B)
    other_id, _ = _seed_one(sf)
    target = None if whole_order else lines[1]
    since = time.time() - 2

    sf.sim.set_refund(order_id, target, kind)  # type: ignore[arg-type]
    window = sf.adapter.list_refunds(at(since), at(time.time() + 2))

    mine = [e for e in window.events if e.platform_order_id == order_id]
    assert mine, f"no refund event for order {order_id}"
    assert {e.state for e in mine} == {_EXPECTED[kind]}
    assert all(e.platform_line_id in (None, *lines) for e in mine)
    if target is not None:
        assert {e.platform_line_id for e in mine} <= {None, target}
    assert all(e.platform_order_id != other_id for e in window.events)
    assert window.rejects == []
    order = sf.adapter.get_order(order_id)  # the order itself shows it as well
    refunded_lines = [ln for ln in order.lines if target in (None, ln.platform_line_id)]
    assert {ln.refund_state for ln in refunded_lines} == {_EXPECTED[kind]}

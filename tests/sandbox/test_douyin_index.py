"""The Douyin simulator's update-time index: listings answer exactly what a scan of every order answers."""

from __future__ import annotations

import random
from typing import Any

import pytest

from syncd.adapters.sandbox.douyin_admin import AdminError
from syncd.adapters.sandbox.douyin_aftersale import aftersale_list
from syncd.adapters.sandbox.douyin_errors import ApiError
from syncd.adapters.sandbox.douyin_index import TimeIndex
from syncd.adapters.sandbox.douyin_sim import DouyinSimulator
from syncd.adapters.sandbox.seed import SANDBOX_APP_KEY, SANDBOX_APP_SECRET, SANDBOX_SHOP_ID, generate_orders

DAY = 86400


def _scan(sim: DouyinSimulator, windows: list[tuple[str, int, int]], statuses: set[str] | None, order_by: str,
          asc: bool, page: int, size: int) -> tuple[int, list[str]]:
    """order.searchList as a scan of every order (what the simulator did before it had an index)."""
    hits = [o for o in sim.book.orders.values()
            if all(s <= o[f] <= e for f, s, e in windows)
            and (statuses is None or str(o["order_status"]) in statuses)]
    hits.sort(key=lambda o: (o[order_by], o["order_id"]), reverse=not asc)
    return len(hits), [o["order_id"] for o in hits[page * size:(page + 1) * size]]


def _scan_aftersales(sim: DouyinSimulator, start: int | None, end: int | None, desc: bool) -> list[str]:
    """afterSale.List by update time as a scan of every order's lines."""
    items = [i["aftersale_info"] for i in sim.book.aftersales.items(sim.book.orders.values())
             if (start is None or i["aftersale_info"]["update_time"] >= start)
             and (end is None or i["aftersale_info"]["update_time"] <= end)]
    items.sort(key=lambda i: str(i["aftersale_id"]))
    items.sort(key=lambda i: int(i["update_time"]), reverse=desc)
    return [i["aftersale_id"] for i in items]


def _mutate(sim: DouyinSimulator, rng: random.Random, clock: list[float]) -> None:
    """One random change through the simulator's own paths (shipping, refunds, admin, control, time)."""
    ids = sorted(sim.book.orders)
    oid = rng.choice(ids)
    now = int(clock[0])
    kind = rng.randrange(8)
    try:
        if kind == 0:
            code = f"ZT{rng.randrange(10**10):010d}"
            sim.book.ship({"order_id": oid, "company_code": "zhongtong", "logistics_code": code,
                           "is_reject_refund": rng.random() < 0.5}, now)
        elif kind == 1:
            sim.set_updated(oid, now - rng.randrange(2 * DAY))
        elif kind == 2:
            sim.set_refund(oid, None, rng.choice(("requested", "refunded", "closed")))
        elif kind == 3:
            sim.change_order(oid, {"action": rng.choice(("touch", "cancel", "pay", "release", "refund",
                                                          "refund_success", "refund_reject", "complete"))})
        elif kind == 4:
            sim.change_order(oid, {"action": "set", "fields": {"update_time": now - rng.randrange(DAY)}})
        elif kind == 5:
            sim.book.add(generate_orders(2, rng.randrange(10**6), clock[0], 1), now)
        else:
            clock[0] += rng.randrange(1, 120)
            sim.book.advance(clock[0])
    except (ApiError, AdminError):  # refusals (already shipped, wrong status...) are part of the game
        pass


def _search(sim: DouyinSimulator, p: dict[str, Any], now: float) -> tuple[int, list[str]]:
    data = sim.book.search(p, now)
    return data["total"], [o["order_id"] for o in data["shop_order_list"]]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_listings_after_random_changes_equal_a_scan_of_every_order(seed):
    clock = [1_800_000_000.0]
    orders = generate_orders(300, seed, clock[0], span_hours=48)
    sim = DouyinSimulator(SANDBOX_APP_KEY, SANDBOX_APP_SECRET, SANDBOX_SHOP_ID, orders, clock=lambda: clock[0],
                          release_after=30, release_fraction=0.5, refund_after=90, refund_fraction=0.2)
    rng = random.Random(seed)
    compared = 0
    for _ in range(40):
        for _ in range(15):
            _mutate(sim, rng, clock)
        sim.book.by_update.check()
        assert {k for _, k in sim.book.by_update._entries} == set(sim.book.orders)
        now = int(clock[0])
        for _ in range(6):
            start = now - rng.randrange(3 * DAY)
            end = start + rng.choice((0, 1, 60, 3600, 3 * DAY))
            size = rng.choice((1, 7, 100))
            asc = rng.random() < 0.5
            order_by = rng.choice(("update_time", "update_time", "create_time"))
            statuses = rng.choice((None, None, {"2"}, {"2", "3", "101"}))
            p: dict[str, Any] = {"update_time_start": start, "update_time_end": end, "size": size,
                                 "order_by": order_by, "order_asc": asc}
            windows = [("update_time", start, end)]
            if rng.random() < 0.2:
                p.update(create_time_start=start - DAY, create_time_end=end)
                windows.append(("create_time", start - DAY, end))
            if statuses is not None:
                p["combine_status"] = [{"order_status": ",".join(sorted(statuses))}]
            total = _scan(sim, windows, statuses, order_by, asc, 0, size)[0]
            for page in range(min(total // size + 2, 6)):
                p["page"] = page
                assert _search(sim, p, now) == _scan(sim, windows, statuses, order_by, asc, page, size)
                compared += 1
            desc = rng.random() < 0.5
            a_start, a_end = rng.choice(((start, end), (None, end), (start, None), (None, None)))
            q: dict[str, Any] = {"size": 100, "order_by": [f"update_time {'desc' if desc else 'asc'}"]}
            q.update({k: v for k, v in (("update_start_time", a_start), ("update_end_time", a_end)) if v is not None})
            want = _scan_aftersales(sim, a_start, a_end, desc)
            got = aftersale_list(sim.book.aftersales, sim.book.orders, q)
            got_ids = [i["aftersale_info"]["aftersale_id"] for i in got["items"]]
            assert (got["total"], got_ids) == (len(want), want[:100])
    assert compared > 200
    assert sim.book.aftersales.ids  # the run did make after-sales


def test_an_order_whose_id_field_was_changed_falls_back_to_a_scan(douyin, clock):
    sim, _ = douyin
    oid = sorted(sim.book.orders)[0]
    sim.change_order(oid, {"action": "set", "fields": {"order_id": "9" + oid}})
    assert sim.book.by_update.odd == {oid}
    p = {"update_time_start": int(clock()) - 2 * DAY, "update_time_end": int(clock()), "size": 100,
         "order_by": "update_time", "order_asc": True}
    window = [("update_time", p["update_time_start"], p["update_time_end"])]
    assert _search(sim, p, clock()) == _scan(sim, window, None, "update_time", True, 0, 100)
    assert "9" + oid in _search(sim, p, clock())[1]


def test_an_order_touched_while_paging_is_listed_in_the_new_window(douyin, clock):
    sim, client = douyin
    oid = sorted(sim.book.orders, key=lambda o: sim.book.orders[o]["update_time"])[0]
    sim.touch_when_paging(oid, 0)
    clock.advance(30)
    now = int(clock())
    client.call("order.searchList", {"update_time_start": now - 2 * DAY, "update_time_end": now, "size": 1})
    data = client.call("order.searchList", {"update_time_start": now, "update_time_end": now, "size": 10,
                                            "order_by": "update_time", "order_asc": True})["data"]
    assert [o["order_id"] for o in data["shop_order_list"]] == [oid] and data["total"] == 1


def test_time_index_moves_keys_and_sets_aside_times_it_cannot_order():
    index = TimeIndex()
    for key, t in (("b", 5), ("a", 5), ("c", 3), ("d", 9)):
        index.put(key, t)
    index.put("c", 7)
    assert index.keys(index.span(5, 7)) == ["a", "b", "c"]
    assert index.keys(index.span(None, 4)) == [] and index.keys(index.span(8, None)) == ["d"]
    assert index.keys(index.span(6, 5)) == []
    index.put("a", "yesterday")
    index.put("b", float("nan"))
    assert index.odd == {"a", "b"} and index.keys(index.span(None, None)) == ["c", "d"]
    index.put("a", 1)
    assert index.odd == {"b"} and index.keys(index.span(None, None)) == ["a", "c", "d"]
    index.check()

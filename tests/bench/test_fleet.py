"""The fleet bench: shops spread over the platforms, lags read from pull starts, and the sandbox's fleet."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import func, select

from syncd import clock
from syncd.adapters.sandbox.bundle import Sandbox
from syncd.bench_fleet import budget_use, fleet_layout, worst_lags
from syncd.bench_seed import seed_orders
from syncd.store.models import Order, Shipment, SupplierOrder


def test_fleet_layout_spreads_the_shops_over_the_platforms_one_simulator_each() -> None:
    layout = fleet_layout(50)
    assert len(layout) == 50 and len({sid for sid, _p, _k in layout}) == 50
    by_platform = {p: sum(1 for _s, q, _k in layout if q == p) for p in ("douyin", "pdd", "taobao")}
    assert by_platform == {"douyin": 17, "pdd": 17, "taobao": 16}
    assert layout[:4] == [("douyin-demo", "douyin", "douyin"), ("pdd-demo", "pdd", "pdd"),
                          ("taobao-demo", "taobao", "taobao"), ("douyin-02", "douyin", "douyin-2")]
    assert len({key for _s, _p, key in layout}) == 50


def test_worst_lag_is_the_longest_gap_between_pull_starts_beyond_the_interval() -> None:
    lags = worst_lags({"a": [0, 20, 40, 60], "b": [0, 20, 65, 80], "c": [0]}, 20.0, end=85)
    assert lags == {"a": 5.0, "b": 25.0, "c": 65.0}  # a: 25 s since its last start; c never ran again
    # from the daemon's start: a shop whose first pull came 30 s late (queued behind others) is 30 s behind
    assert worst_lags({"d": [30, 50]}, 20.0, end=60, begin=0) == {"d": 30.0}


def test_sandbox_fleet_serves_a_simulator_per_shop_one_slow_one_failing() -> None:
    with Sandbox(orders=5, seed=4, shops_per_platform=2, bot_interval=None, partners=False,
                 slow_shop="douyin-2", failing_shop="pdd-2", slow_seconds=0.0, fault_rate=0) as box:
        assert set(box.storefronts) == {"douyin", "pdd", "taobao", "douyin-2", "pdd-2", "taobao-2"}
        states = {key: httpx.get(f"{box.url}/{key}/_sandbox/state", timeout=10) for key in box.storefronts}
        assert all(r.status_code == 200 for r in states.values())
        first, second = (set(box.storefronts[k].book.orders) for k in ("douyin", "douyin-2"))
        assert len(first) == len(second) == 5 and not first & second  # orders of their own
        failing = httpx.post(f"{box.url}/pdd-2/api/router", timeout=10)
        assert failing.status_code == 503
        working = httpx.post(f"{box.url}/pdd/api/router", timeout=10)
        assert working.status_code != 503


def test_budget_use_counts_only_budgets_with_work_to_fill_them_and_gives_the_share_reached() -> None:
    use = budget_use({"douyin:a:order.logisticsAdd": (400, 20.0, 19.6), "douyin:b:order.logisticsAdd": (30, 20.0, 3.0),
                      "1688:ali-factory:alibaba.trade.fastCreateOrder": (120, 5.0, 4.0)})
    assert use == {"1688:ali-factory:alibaba.trade.fastCreateOrder": {"calls": 120, "budget_per_s": 5.0,
                                                                       "peak_per_s": 4.0, "share": 0.8},
                   "douyin:a:order.logisticsAdd": {"calls": 400, "budget_per_s": 20.0, "peak_per_s": 19.6,
                                                   "share": 0.98}}


def test_replica_bench_config_has_a_shop_file_per_fleet_shop_at_its_own_simulator(tmp_path) -> None:
    from syncd.bench_replicas import write_fleet_config
    from syncd.sandboxrun import load_sandbox_config

    layout = write_fleet_config(tmp_path / "config", 7)
    config = load_sandbox_config(tmp_path / "config", "http://127.0.0.1:9")
    assert sorted(config.shops) == sorted(sid for sid, _p, _k in layout) and len(config.shops) == 7
    assert config.shops["pdd-02"].base_url == "http://127.0.0.1:9/pdd-2"
    assert config.shops["douyin-demo"].platform == "douyin" and config.tracking is None
    assert (config.global_.intervals.pull, config.global_.intervals.writeback) == (5, 2)
    assert not any(shop.stock.enabled for shop in config.shops.values())


def test_use_while_waiting_counts_only_the_seconds_when_work_enough_waited_on_the_budget() -> None:
    from syncd.bench_fleet import waiting_use

    # parcels of shop a waited for 12 s (100, then 60 …), none after; the ship budget is 10/s
    samples = [(float(t), {("ship", "a"): 100.0 - 5 * t if t < 12 else 0.0, ("create", "ali"): 50.0})
               for t in range(0, 21)]
    ship = [i / 10 for i in range(60)] + [6 + i / 5 for i in range(30)] + [15 + i / 10 for i in range(20)]
    calls = {"taobao:a:taobao.logistics.offline.send": (10.0, ship),
             "taobao:b:taobao.logistics.offline.send": (10.0, ship),  # b had nothing waiting
             "taobao:a:taobao.trades.sold.increment.get": (10.0, ship),  # a listing: not driven by stored work
             "taobao:a:taobao.top.oaid.decrypt": (5.0, ship),  # nor decryption (the create is what orders wait for)
             "1688:ali:alibaba.trade.fastCreateOrder": (5.0, [i / 5 for i in range(100)]),
             "1688:ali:alibaba.createOrder.preview": (5.0, [i / 10 for i in range(100)])}
    use = waiting_use(calls, samples)
    # 60 calls in the first 6 s and 30 in the next 6: 90 of the 120 the budget allowed; the 20 calls after
    # 15 s, with nothing waiting, do not count
    assert use["taobao:a:ship"] == {"waiting_seconds": 12.0, "calls": 90, "budget_per_s": 10.0, "share": 0.75}
    # each of 1688's create APIs against its own budget: 20 s of waiting, 100 calls at 5/s; 100 calls in 10 s
    assert use["1688:ali:alibaba.trade.fastCreateOrder"]["share"] == 1.0
    assert use["1688:ali:alibaba.createOrder.preview"]["share"] == 1.0
    assert set(use) == {"taobao:a:ship", "1688:ali:alibaba.trade.fastCreateOrder",
                        "1688:ali:alibaba.createOrder.preview"}
    # at a 50/s budget a second counts only while 50 or more waited (100 - 5 t >= 50: t = 0 … 10, 11 s); the
    # 85 calls made in them are a share of 550
    fast = waiting_use({"taobao:a:taobao.logistics.offline.send": (50.0, ship)}, samples)
    assert fast["taobao:a:ship"] == {"waiting_seconds": 11.0, "calls": 85, "budget_per_s": 50.0, "share": 0.155}
    # work waiting in all for less than MIN_WAITING_SECONDS tells nothing
    assert waiting_use({"taobao:a:taobao.logistics.offline.send": (100.0, ship)}, samples) == {}


def test_use_while_waiting_counts_a_platforms_ship_apis_together_against_the_most_used_ones_budget() -> None:
    from syncd.bench_fleet import waiting_use

    samples = [(float(t), {("ship", "d"): 500.0}) for t in range(0, 11)]
    first = [i / 15 for i in range(150)]  # 15 a second with logisticsAdd
    extra = [i / 5 for i in range(50)]  # 5 a second of extra parcels
    use = waiting_use({"douyin:d:order.logisticsAdd": (20.0, first),
                       "douyin:d:order.logisticsAddMultiPack": (20.0, extra)}, samples)
    assert use == {"douyin:d:ship": {"waiting_seconds": 10.0, "calls": 200, "budget_per_s": 20.0, "share": 1.0}}


def test_use_while_waiting_tells_the_daemons_cpu_over_the_seconds_the_work_waited() -> None:
    from syncd.bench_fleet import waiting_use

    # parcels waited from 0 to 12 s; the daemon computed 0.9 s a second then, 0.1 after
    samples = [(float(t), {("ship", "a"): 200.0 if t < 12 else 0.0}, 0.9 * min(t, 12) + 0.1 * max(t - 12, 0))
               for t in range(0, 21)]
    use = waiting_use({"taobao:a:taobao.logistics.offline.send": (10.0, [i / 10 for i in range(120)])}, samples)
    assert use["taobao:a:ship"]["daemon_cpu"] == 0.9 and use["taobao:a:ship"]["share"] == 1.0
    # samples without the CPU: nothing told of it
    assert "daemon_cpu" not in waiting_use({"taobao:a:taobao.logistics.offline.send": (10.0, [])},
                                           [(t, w) for t, w, _ in samples])["taobao:a:ship"]


def test_backlog_reads_parcels_due_and_supplier_orders_unsent(db) -> None:
    from sqlalchemy import update

    now = clock.now()
    seed_orders(db, 60, days=10, now=now, chunk=60)
    assert read_backlog_in(db, now) == {}  # everything finished: nothing waits
    with db.begin() as s:
        ids = s.scalars(select(Order.id).where(Order.state == "shipped").order_by(Order.id).limit(7)).all()
        shop = s.scalar(select(Order.shop_id).where(Order.id == ids[0]))
        s.execute(update(Order).where(Order.id.in_(ids)).values(shop_id=shop, state="placed"))
        s.execute(update(Order).where(Order.id == ids[6]).values(state="held"))
        s.execute(update(Shipment).where(Shipment.order_id.in_(ids[:3])).values(writeback_state="pending",
                                                                                next_attempt_at=None))
        # one parcel in backoff is not due yet
        s.execute(update(Shipment).where(Shipment.order_id == ids[3]).values(
            writeback_state="pending", next_attempt_at=now + timedelta(minutes=5)))
        s.execute(update(SupplierOrder).where(SupplierOrder.order_id.in_(ids[4:])).values(state="pending"))
        sups = s.scalars(select(SupplierOrder.supplier_id).where(SupplierOrder.order_id.in_(ids[4:6]))).all()
        parcels = s.scalar(select(func.count()).select_from(Shipment).where(Shipment.order_id.in_(ids[:3])))
    got = read_backlog_in(db, now)
    # the held order's supplier order waits for a person, not for a call
    assert got == {("ship", shop): parcels, **{("create", sup): float(sups.count(sup)) for sup in set(sups)}}


def read_backlog_in(db, now):
    from syncd.bench_fleet import read_backlog

    with db.read() as s:
        return read_backlog(s, now)

"""The fleet bench: shops spread over the platforms, lags read from pull starts, and the sandbox's fleet."""

from __future__ import annotations

import httpx

from syncd.adapters.sandbox.bundle import Sandbox
from syncd.bench_fleet import budget_use, fleet_layout, worst_lags


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

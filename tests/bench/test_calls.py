"""Calls against the floor: the fewest calls a workload needs, per API, and the ratio the bench prints."""

from __future__ import annotations

from syncd.bench_calls import ShopWork, SupplierWork, Workload, floor_table, format_table, poll_floor


def _work() -> Workload:
    return Workload(wall_seconds=100, pull_seconds=20,
                    shops={"douyin": ShopWork(orders=1000, decrypted=900, parcels=950)},
                    suppliers={"1688": SupplierWork(sent=200, shipped=150, poll_floor=400)},
                    shops_per_platform={"douyin": 1})


def _by_api(rows: list[dict]) -> dict[str, dict]:
    return {r["api"]: r for r in rows}


def test_floor_given_a_workload_counts_pages_batches_parcels_and_sent_orders() -> None:
    calls = {("douyin", "order.searchList"): 12, ("douyin", "order.batchDecrypt"): 40,
             ("douyin", "order.logisticsAdd"): 900, ("douyin", "order.logisticsAddMultiPack"): 50,
             ("douyin", "afterSale.List"): 5, ("1688", "alibaba.trade.fastCreateOrder"): 200,
             ("1688", "alibaba.trade.get.buyerView"): 600}
    rows = _by_api(floor_table(calls, _work()))
    assert rows["order.searchList"]["floor"] == 10 + 4  # 1,000 orders in pages of 100, then 4 more pulls
    assert rows["order.searchList"]["above"] is False
    # 900 addresses, three cipher texts each, 50 texts a call; strictly (the floor before): 50 orders a call
    assert rows["order.batchDecrypt"]["floor"] == 54 and rows["order.batchDecrypt"]["above"] is False
    assert (rows["order.batchDecrypt"]["strict_floor"], rows["order.batchDecrypt"]["strict_ratio"]) == (18, 2.22)
    assert "strict floor 18: 2.22x" in format_table([rows["order.batchDecrypt"]])
    ship = rows["order.logisticsAdd + order.logisticsAddMultiPack"]
    assert (ship["calls"], ship["floor"], ship["ratio"]) == (950, 950, 1.0)
    assert rows["afterSale.List"]["floor"] == 5  # the look-back in one window, then 4 more pulls: 100 s / 20 s
    assert rows["alibaba.trade.fastCreateOrder"]["floor"] == 200
    assert rows["alibaba.trade.fastCreateOrder"]["per_order"] == 1.0  # per supplier order at an API supplier
    assert rows["alibaba.trade.get.buyerView"]["ratio"] == 1.5


def test_decrypt_floor_fills_each_call_as_far_as_its_platform_allows() -> None:
    work = Workload(wall_seconds=60, pull_seconds=20, shops={p: ShopWork(orders=1000, decrypted=900)
                                                             for p in ("douyin", "pdd", "taobao")})
    calls = {("douyin", "order.batchDecrypt"): 60, ("pdd", "pdd.open.decrypt.batch"): 30,
             ("taobao", "taobao.top.oaid.decrypt"): 50}
    rows = _by_api(floor_table(calls, work))
    assert rows["order.batchDecrypt"]["floor"] == 54  # 2,700 texts, 50 a call
    assert rows["pdd.open.decrypt.batch"]["floor"] == 27  # 2,700 texts, 100 a call
    assert rows["taobao.top.oaid.decrypt"]["floor"] == 45  # 900 trades, 20 a call
    assert all(r["strict_floor"] == 18 for r in rows.values())


def test_refund_floor_pages_through_the_look_backs_refunded_orders_then_one_call_a_pull() -> None:
    work = _work()
    work.shops["douyin"].lookback_refunds = 180  # two pages of 100 at least
    rows = _by_api(floor_table({("douyin", "afterSale.List"): 6}, work))
    row = rows["afterSale.List"]
    assert (row["floor"], row["strict_floor"], row["ratio"]) == (2 + 4, 1 + 4, 1.0)
    assert "strict floor 5: 1.20x" in format_table([row])


def test_list_floor_pages_through_the_orders_the_run_shipped_after_the_first_pull() -> None:
    work = _work()
    work.shops["douyin"].shipped_orders = 850  # each comes back in the listing, stamped by its ship call
    rows = _by_api(floor_table({("douyin", "order.searchList"): 20}, work))
    assert rows["order.searchList"]["floor"] == 10 + 9  # more pages of shipped orders than later pulls


def test_floors_add_the_first_look_backs_windows_to_the_later_pulls() -> None:
    work = Workload(wall_seconds=60, pull_seconds=20, shops={"pdd": ShopWork(orders=100)}, lookback_hours=26)
    rows = _by_api(floor_table({("pdd", "pdd.order.number.list.increment.get"): 54,
                                ("pdd", "pdd.refund.list.increment.get"): 54}, work))
    assert rows["pdd.order.number.list.increment.get"]["floor"] == 52 + 2  # 30-minute windows, then 2 pulls
    assert rows["pdd.refund.list.increment.get"]["floor"] == 52 + 2


def test_floor_given_few_orders_is_one_list_call_per_scheduled_pull() -> None:
    work = _work()
    work.shops["douyin"].orders = 50
    rows = _by_api(floor_table({("douyin", "order.searchList"): 5}, work))
    assert rows["order.searchList"]["floor"] == 5 and not rows["order.searchList"]["above"]


def test_detail_calls_have_a_floor_of_zero_and_are_always_marked() -> None:
    work = Workload(wall_seconds=60, pull_seconds=20, shops={"taobao": ShopWork(orders=100)})
    rows = _by_api(floor_table({("taobao", "taobao.trade.fullinfo.get"): 3}, work))
    row = rows["taobao.trade.fullinfo.get"]
    assert row["floor"] == 0 and row["above"] is True and row["ratio"] is None
    assert "floor 0" in format_table([row]) and "above 1.2x" in format_table([row])


def test_an_api_without_a_floor_is_listed_unmarked() -> None:
    rows = _by_api(floor_table({("1688", "alibaba.trade.getLogisticsTraceInfo.buyerView"): 7}, _work()))
    row = rows["alibaba.trade.getLogisticsTraceInfo.buyerView"]
    assert row["floor"] is None and row["above"] is False


def test_poll_floor_is_one_per_interval_waited_and_one_at_least_once_shipped() -> None:
    assert poll_floor([100.0, 10.0, 10.0, 44.0], 15.0, [True, True, False, False]) == 6 + 1 + 0 + 2


def test_workload_given_a_database_counts_each_shops_orders_addresses_and_parcels(db, tmp_path) -> None:
    from syncd.bench import workload
    from syncd.bench_seed import seed_orders
    from syncd.sandboxrun import copy_sandbox_config, load_sandbox_config

    config = load_sandbox_config(copy_sandbox_config(tmp_path / "config"), "http://127.0.0.1:9")
    seed_orders(db, 100, chunk=40)
    last = seed_orders(db, 200, seed=9, chunk=80)
    work = workload(db, config, 60.0, since=100)  # only the orders after the first 100
    assert sum(w.orders for w in work.shops.values()) == 200
    assert set(work.shops) == {"douyin", "pdd", "taobao"}
    shipped_parcels = last.rows["shipments"]
    assert sum(w.parcels for w in work.shops.values()) == shipped_parcels
    assert all(w.decrypted <= w.orders for w in work.shops.values())
    assert set(work.suppliers) == {"1688", "webhook"}
    sup = work.suppliers["1688"]
    assert 0 < sup.shipped == sup.sent  # seeded history: every supplier order sent was shipped
    assert sup.poll_floor > sup.shipped  # hours at the supplier at a 10-minute poll


def test_list_floor_given_a_platform_window_limit_counts_one_call_per_window_of_the_look_back() -> None:
    work = Workload(wall_seconds=40, pull_seconds=20, lookback_hours=26,
                    shops={"pdd": ShopWork(orders=1000), "taobao": ShopWork(orders=1000)})
    rows = _by_api(floor_table({("pdd", "pdd.order.number.list.increment.get"): 60,
                                ("taobao", "taobao.trades.sold.increment.get"): 60,
                                ("webhook", "hz-warehouse/create"): 3}, work))
    assert rows["pdd.order.number.list.increment.get"]["floor"] == 52 + 1  # 26 h in 30-minute windows, a pull
    assert rows["taobao.trades.sold.increment.get"]["floor"] == 10 + 1  # a day per call: the 10 pages count
    assert rows["create"]["system"] == "webhook"

"""``syncd bench --fleet N``: an agency's fleet — N shops across the three platforms, the platforms' rate limits on.

The sandbox serves a simulator per shop (``--shops-per-platform``), each with its own orders; the daemon pulls
every shop every 20 s on its default rate budgets and runs the stages after the pull every 5 s. ``--slow-shop``
makes one shop's API answer every call after 5 s, ``--failing-shop`` makes another fail every call. The bench
watches each shop's pull runs start (the ``stage_runs`` row of the pull, read every second: a run is recorded
when it ends, so its start is that moment less its duration) and reports each shop's worst lag behind its
schedule — the longest gap between two starts beyond the pull interval — for the healthy shops and for the slow
or failing one apart; where that lag comes from (the wait for a shop's first pull, that pull's length, the lag
after it); the peak RSS; the flow-control refusals the simulators answered; and each rate budget's use (the
peak calls per second over 10 s as a share of the budget, for every budget with work enough to fill it). It
ends when every healthy shop's orders have gone the whole way (the slow shop's keep going: 5 s a call), or at
``--time-limit``.
"""

from __future__ import annotations

import bisect
import itertools
import math
import resource
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from syncd import clock
from syncd.bench import _cpu
from syncd.bench_calls import FLOORS
from syncd.daemon import run_daemon
from syncd.lifecycle import OrderState, SupplierOrderState, WritebackState
from syncd.process import tune_for_daemon
from syncd.runtime import build_runtime
from syncd.sandboxrun import copy_sandbox_config, load_sandbox_config
from syncd.settings import Settings
from syncd.store.db import open_database
from syncd.store.migrate import upgrade
from syncd.store.models import Order, Shipment, StageRun, SupplierOrder

PLATFORMS = ("douyin", "pdd", "taobao")
FLOW_CONTROL_CODES = {"douyin": "60000", "pdd": "70031", "taobao": "7"}
PULL_SECONDS = 20.0
STAGE_SECONDS = 5.0  # the stages after the pull
LAST: dict[str, Any] = {}  # the figures of the last run (for --json)


def fleet_layout(shops: int) -> list[tuple[str, str, str]]:
    """(shop id, platform, simulator key) for ``shops`` shops spread over the platforms in turn."""
    out = []
    for i in range(shops):
        platform = PLATFORMS[i % len(PLATFORMS)]
        k = i // len(PLATFORMS) + 1
        key = platform if k == 1 else f"{platform}-{k}"
        out.append((f"{platform}-demo" if k == 1 else f"{platform}-{k:02d}", platform, key))
    return out


def worst_lags(starts: dict[str, list[float]], interval: float, end: float,
               begin: float | None = None) -> dict[str, float]:
    """Per shop, the longest wait beyond ``interval`` between two pull starts (from ``begin``, when the daemon
    started and every shop's first pull was due, and until ``end``): 0 when every run came on time."""
    out = {}
    for shop, times in starts.items():
        points = [*([begin - interval] if begin is not None else []), *sorted(times), end]
        gaps = [b - a for a, b in itertools.pairwise(points)]
        out[shop] = round(max([0.0, *(g - interval for g in gaps)]), 1)
    return out


def _start(per_shop: int, per_platform: int, data_dir: Path, slow: str | None,
           failing: str | None) -> tuple[subprocess.Popen[str], str]:
    from syncd.bench import _start_sandbox

    extra = ("--shops-per-platform", str(per_platform), *(("--slow-shop", slow) if slow else ()),
             *(("--failing-shop", failing) if failing else ()))
    return _start_sandbox(per_shop, data_dir, True, PLATFORMS, extra)


def run_fleet(shops: int = 50, orders: int = 10_000, *, slow: bool = False, failing: bool = False,
              db_url: str | None = None, time_limit: float = 1800) -> dict[str, Any]:
    import httpx

    layout = fleet_layout(shops)
    per_platform = math.ceil(shops / len(PLATFORMS))
    per_shop = math.ceil(orders / shops)
    # the second shop of Douyin answers slowly, the second of Pinduoduo fails: neither is the first shop
    slow_key = "douyin-2" if slow and shops > 3 else None
    failing_key = "pdd-2" if failing and shops > 4 else None
    odd = {sid for sid, _p, key in layout if key in (slow_key, failing_key)}
    healthy = [sid for sid, _p, _k in layout if sid not in odd]
    with tempfile.TemporaryDirectory(prefix="syncd-fleet-") as tmp:
        root = Path(tmp)
        data_dir = root / "data"
        sandbox, url = _start(per_shop, per_platform, data_dir, slow_key, failing_key)
        try:
            config_dir = copy_sandbox_config(root / "config")
            config = load_sandbox_config(config_dir, url)
            g = config.global_
            # An agency's cadence: the sandbox's demo runs every stage each second, which for 50 shops is 50
            # idle scope runs (each recorded in stage_runs) a second per shop stage — CPU the pulls then lack
            config.global_ = g.model_copy(update={
                "intervals": g.intervals.model_copy(update={"pull": PULL_SECONDS, "watch": 60.0, **{
                    stage: STAGE_SECONDS for stage in ("route", "forward", "collect", "writeback", "stock_due")}}),
                "supplier_poll_minutes": 0.25})
            config.tracking = None
            base = {p: config.shops[f"{p}-demo"] for p in PLATFORMS}
            config.shops = {sid: base[p].model_copy(update={
                "id": sid, "base_url": f"{url}/{key}", "rate_limits": {},
                "pull": base[p].pull.model_copy(update={"overlap_minutes": 2})}) for sid, p, key in layout}
            # the API suppliers on their adapters' default budgets too (1688 and the webhook supplier: 5 calls a
            # second per API), not the sandbox's generous ones: an agency's one 1688 account serves every shop
            config.suppliers = {sid: sup.model_copy(update={"rate_limits": {}})
                                if "rate_limits" in type(sup).model_fields else sup
                                for sid, sup in config.suppliers.items()}
            settings = Settings(config_dir=config_dir, data_dir=data_dir, database_url=db_url)
            db = open_database(settings.db_url())
            upgrade(db)
            rt = build_runtime(settings, config, db)
            tune_for_daemon()
            t0 = time.monotonic()
            began = time.time()  # every shop's first pull is due now
            starts: dict[str, set[float]] = {sid: set() for sid, _p, _k in layout}
            # (monotonic time, work waiting, the daemon's CPU seconds so far)
            waiting: list[tuple[float, dict[tuple[str, str], float], float]] = []
            first_runs: dict[str, tuple[float, float]] = {}  # shop → (start, seconds) of its first pull
            cpu0 = _cpu()
            last = [0.0]
            expected = per_shop * len(healthy)

            def sample() -> None:
                if time.monotonic() - last[0] < 1.0:
                    return
                last[0] = time.monotonic()
                with db.read() as s:
                    # a run is recorded when it ends: its start is that moment less its duration
                    for scope, at, ms in s.execute(select(StageRun.scope, StageRun.last_started_at,
                                                          StageRun.last_duration_ms)
                                                   .where(StageRun.stage == "pull")).all():
                        if scope in starts and at is not None:
                            start = round(at.timestamp() - (ms or 0) / 1000, 1)
                            starts[scope].add(start)
                            first_runs.setdefault(scope, (start, (ms or 0) / 1000))
                sample_backlog()

            def sample_backlog() -> None:
                at, spent = time.monotonic(), _cpu()
                with db.read() as s:
                    waiting.append((at, read_backlog(s, clock.now()), spent))

            def done() -> bool:
                if time.monotonic() - t0 > time_limit:
                    return True
                if int(time.monotonic() - t0) % 3:
                    return False
                with db.read() as s:
                    got = s.scalar(select(func.count()).select_from(Order).where(Order.shop_id.in_(healthy))) or 0
                    open_ = s.scalar(select(func.count()).select_from(Order).where(
                        Order.shop_id.in_(healthy), Order.state.in_(["new", "routed", "placed"]))) or 0
                return got >= expected and open_ == 0

            run_daemon(rt, install_signals=False, until=done, on_tick=sample)
            wall = time.monotonic() - t0
            cpu = _cpu() - cpu0
            end = time.time()
            peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            with db.read() as s:
                by_state = dict(s.execute(select(Order.state, func.count()).where(Order.shop_id.in_(healthy))
                                          .group_by(Order.state)).all())
            use = budget_use(rt.limiter.use())
            while_waiting = waiting_use(rt.limiter.call_times(), waiting)
            refusals = 0
            for _sid, platform, key in layout:
                r = httpx.get(f"{url}/{key}/_sandbox/state", timeout=30)
                if r.status_code == 200:
                    refusals += int(r.json().get("errors", {}).get(FLOW_CONTROL_CODES[platform], 0))
            rt.close()
            db.dispose()
        finally:
            sandbox.terminate()
            sandbox.wait(timeout=30)
    lags = worst_lags({k: list(v) for k, v in starts.items()}, PULL_SECONDS, end, began)
    healthy_lags = {sid: lags[sid] for sid in healthy}
    # where the lag comes from: the wait for a shop's first pull (queued behind the others), that first pull's
    # length (26 hours of look-back under the rate budgets), and the lag after it (the steady state)
    first_wait = {sid: round(first_runs[sid][0] - began, 1) for sid in healthy if sid in first_runs}
    first_length = {sid: round(first_runs[sid][1], 1) for sid in healthy if sid in first_runs}
    after_first = worst_lags({sid: [t for t in starts[sid] if t > first_runs[sid][0]] for sid in healthy
                              if sid in first_runs}, PULL_SECONDS, end, begin=None)
    return {
        "shops": shops, "orders": per_shop * shops, "healthy_shops": len(healthy), "wall_seconds": round(wall, 1),
        "healthy_orders_by_state": by_state,
        "left_unsettled": sum(by_state.get(s, 0) for s in ("new", "routed", "placed")),
        "worst_lag_seconds_healthy": max(healthy_lags.values(), default=0.0),
        "pull_interval_seconds": PULL_SECONDS,
        "worst_lag_seconds_by_shop": lags,
        "first_pull_wait_seconds": _spread(first_wait), "first_pull_seconds": _spread(first_length),
        "worst_lag_after_first_pull_seconds": _spread(after_first),
        "cpu_seconds": round(cpu, 1), "cpu_share_of_wall": round(cpu / wall, 2) if wall else 0.0,
        "slow_shop": next((sid for sid, _p, k in layout if k == slow_key), None),
        "failing_shop": next((sid for sid, _p, k in layout if k == failing_key), None),
        "peak_rss_mb": round(peak_rss_mb, 1), "flow_control_refusals": refusals,
        "budget_use_by_scope": use,
        "budget_use_while_waiting": while_waiting,
        "lowest_budget_use_while_waiting": min((u["share"] for key, u in while_waiting.items()
                                                if key.split(":")[1] in healthy or key.split(":")[0] not in PLATFORMS),
                                               default=None),
        "lowest_budget_use_healthy": min((u["share"] for key, u in use.items()
                                          if key.split(":")[1] in healthy or key.split(":")[0] not in PLATFORMS),
                                         default=None),
    }


def _spread(by_shop: dict[str, float]) -> dict[str, Any]:
    """The median and the worst of a per-shop figure, and which shop is worst."""
    if not by_shop:
        return {}
    values = sorted(by_shop.values())
    worst = max(by_shop, key=lambda k: by_shop[k])
    return {"median": values[len(values) // 2], "max": values[-1], "worst_shop": worst}


def budget_use(use: dict[str, tuple[int, float, float]], window: float = 10.0) -> dict[str, dict[str, Any]]:
    """Per rate budget (``platform:shop:api``, or a supplier's) that had work enough to fill it for ``window``
    seconds: its calls, budget per second, the peak calls per second over any ``window`` and that as a share of
    the budget — how much of its budget a scope used while its orders were waiting."""
    out = {}
    for key, (calls, rate, peak) in sorted(use.items()):
        if calls >= rate * window and calls >= 50:
            out[key] = {"calls": calls, "budget_per_s": rate, "peak_per_s": round(peak, 2),
                        "share": round(peak / rate, 3)}
    return out


# The APIs whose calls a queue of stored work drives (bench_calls' floor kinds): a parcel waiting for its ship call,
# a supplier order waiting to be sent. Not the listings: what a listing has to read is not known until it is read
# (its calls are weighed against their floor instead, and its timeliness by the lag behind the pull schedule). Not
# decryption: one call serves 16 to 33 orders on their way to a supplier, whose send (the create) is what they
# wait for; its calls are weighed against their floor.
KIND_OF = {(system, api): kind for system, apis, kind in FLOORS for api in apis}
WAITING_KINDS = ("ship", "create")
# A parcel needs one call of one of its platform's ship APIs (the first parcel of an order one, an extra parcel
# another): they are counted together, against the budget of the one most used. Each create API (1688's preview,
# create and pay) is needed once per supplier order and has a budget of its own.
GROUPED_KINDS = ("ship",)
MIN_WAITING_SECONDS = 10.0  # a budget's use is told once work waited on it this long in all


def read_backlog(s: Any, now: Any) -> dict[tuple[str, str], float]:
    """The calls the stored work waiting now needs, per (kind, shop or supplier): parcels due for their ship call
    (or in one), one each; supplier orders not yet sent, one create each."""
    out: dict[tuple[str, str], float] = {}
    due = (Shipment.writeback_state == WritebackState.UPLOADING) | (
        (Shipment.writeback_state == WritebackState.PENDING)
        & (Shipment.next_attempt_at.is_(None) | (Shipment.next_attempt_at <= now)))
    for shop, n in s.execute(select(Order.shop_id, func.count()).select_from(Shipment)
                             .join(Order, Order.id == Shipment.order_id)
                             .where(due, Order.state != OrderState.HELD).group_by(Order.shop_id)).all():
        out[("ship", shop)] = float(n)
    unsent = SupplierOrder.state.in_([SupplierOrderState.PENDING, SupplierOrderState.PLACING])
    for sup, n in s.execute(select(SupplierOrder.supplier_id, func.count()).select_from(SupplierOrder)
                            .join(Order, Order.id == SupplierOrder.order_id)
                            .where(unsent, Order.state != OrderState.HELD).group_by(SupplierOrder.supplier_id)).all():
        out[("create", sup)] = float(n)
    return out


def waiting_use(calls: dict[str, tuple[float, list[float]]],
                samples: Sequence[tuple[Any, ...]]) -> dict[str, dict[str, Any]]:
    """Per rate budget of an API that stored work drives (``system:scope:api``; a platform's ship APIs together as
    ``system:scope:ship``): over the seconds when the work waiting on it needed at least a full budget's worth
    of calls (between two ``samples`` of the backlog), the calls it made and that as a share of what the budget
    allowed — 1.0 means the budget, not the daemon, held the work up. Budgets whose work waited less than
    MIN_WAITING_SECONDS in all are left out. Where the samples carry the daemon's CPU seconds so far (a third
    field), also the daemon's CPU over those seconds as a share of one core (``daemon_cpu``): near 1, the one
    Python process, not the budget nor the waits, was what held the calls back (the GIL lets it compute on one
    core at a time)."""
    points: list[tuple[float, dict[tuple[str, str], float], float | None]] = [
        (x[0], x[1], x[2] if len(x) > 2 else None) for x in samples]
    groups: dict[tuple[str, str, str], list[tuple[str, float, list[float]]]] = {}
    for key, (rate, times) in sorted(calls.items()):
        system, scope, api = [*key.split(":", 2), "", ""][:3]
        kind = KIND_OF.get((system, api))
        if kind in WAITING_KINDS:
            name = kind if kind in GROUPED_KINDS else api
            groups.setdefault((system, scope, name), []).append((kind, rate, times))
    out: dict[str, dict[str, Any]] = {}
    for (system, scope, name), members in sorted(groups.items()):
        kind = members[0][0]
        rate = max(members, key=lambda m: len(m[2]))[1]  # the budget of the API most used
        times = sorted(t for _k, _r, ts in members for t in ts)
        seconds = 0.0
        made = 0
        cpu: float | None = 0.0
        for (t0, w0, c0), (t1, _w1, c1) in itertools.pairwise(points):
            span = t1 - t0
            if span <= 0 or w0.get((kind, scope), 0.0) < rate * span:
                continue
            seconds += span
            made += bisect.bisect_left(times, t1) - bisect.bisect_left(times, t0)
            cpu = None if cpu is None or c0 is None or c1 is None else cpu + c1 - c0
        if seconds >= MIN_WAITING_SECONDS:
            out[f"{system}:{scope}:{name}"] = {"waiting_seconds": round(seconds, 1), "calls": made,
                                               "budget_per_s": rate, "share": round(made / (rate * seconds), 3),
                                               **({} if cpu is None else {"daemon_cpu": round(cpu / seconds, 2)})}
    return out


def main(args: Any) -> int:
    shops = int(args.fleet)
    orders = int(args.orders)
    print(f"syncd bench --fleet: {shops} shops over {', '.join(PLATFORMS)}, {orders} orders, rate limits on"
          f"{', one shop answering in 5 s' if args.slow_shop else ''}"
          f"{', one shop failing every call' if args.failing_shop else ''}", flush=True)
    r = run_fleet(shops, orders, slow=bool(args.slow_shop), failing=bool(args.failing_shop), db_url=args.postgres,
                  time_limit=args.time_limit or 1800)
    LAST.clear()
    LAST.update(r)
    import json

    print(json.dumps(r, ensure_ascii=False, indent=2))
    print(f"\nworst lag of a healthy shop behind its pull schedule: {r['worst_lag_seconds_healthy']} s "
          f"(aim: at most one pull interval, {r['pull_interval_seconds']:.0f} s); peak RSS {r['peak_rss_mb']} MB "
          f"(aim: < 300); flow-control refusals {r['flow_control_refusals']} (aim: 0); lowest budget use of a "
          f"healthy shop or supplier with work enough to fill it {r['lowest_budget_use_healthy']}; lowest budget "
          f"use while stored work waited on it (parcels to ship, supplier orders to send) "
          f"{r['lowest_budget_use_while_waiting']} (aim: >= 0.95)")
    return 0 if r["left_unsettled"] == 0 else 1

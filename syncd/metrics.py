"""What ``GET /metrics`` shows, through ``prometheus_client`` (text exposition format 0.0.4).

Sources, each a collector returning :class:`Sample` lists, bridged into a :class:`CollectorRegistry` of the
page's own (never the library's global one, so runtimes and tests stay apart) beside the library's standard
``process_*``, ``python_info`` and ``python_gc_*`` collectors:

- the database (a few GROUP BY queries: orders, the oldest order not shipped, stage runs, open holds; open
  alerts per rule and tracking queries used today when the daemon plugs those in, :func:`daemon_metrics`);
- the in-process :class:`MetricsRegistry` the daemon updates around each stage run;
- :class:`syncd.http.CallStats`: outside calls, their errors, and the platforms' own error codes.

Counters start at zero: the series of every stage, shop, supplier and alert rule the daemon knows exist from
the first scrape, not from the first error. Each collector is isolated: one that fails is left out of that
scrape, shows ``syncd_metrics_collector_up{collector=...} 0`` and is logged once when it starts failing and
once when it recovers.

Cost with a million orders: the order counts are one aggregate scan (or an index-only scan when an
index on ``orders (shop_id, state)`` exists); the oldest-pending query reads only the unshipped orders
through ``ix_orders_state``; ``stage_runs`` is tiny; holds is one scan of a small table. The database
part is computed at most once per ``db_max_age`` seconds, however many scrapers there are.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector as PromCollector
from sqlalchemy import func, select

from syncd import clock
from syncd.http import CallStats
from syncd.lifecycle import HoldReason, OrderState
from syncd.store.db import Database
from syncd.store.models import Hold, Order, StageRun

if TYPE_CHECKING:
    from syncd.runtime import Runtime

log = logging.getLogger("syncd.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PENDING_STATES = (OrderState.NEW, OrderState.HELD, OrderState.ROUTED, OrderState.PLACED)
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


@dataclass(frozen=True)
class Sample:
    """One time series value; ``help`` and ``kind`` describe its family (the first sample's win)."""

    name: str
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)
    help: str = ""
    kind: Literal["gauge", "counter"] = "gauge"

    def check(self) -> None:
        """Raise ValueError when the name or a label name cannot be exposed."""
        if not _METRIC_NAME.fullmatch(self.name):
            raise ValueError(f"invalid metric name {self.name!r}")
        for label, value in self.labels.items():
            if not _LABEL_NAME.fullmatch(label) or label.startswith("__"):
                raise ValueError(f"invalid label name {label!r} on {self.name}")
            if not isinstance(value, str):
                raise ValueError(f"label {label} of {self.name} is {type(value).__name__}, expected str")
        if not isinstance(self.value, int | float):
            raise ValueError(f"value of {self.name} is {type(self.value).__name__}, expected a number")


Collector = Callable[[], list[Sample]]


class _Bridge(PromCollector):
    """A prometheus_client collector over a callable returning :class:`Sample` lists."""

    def __init__(self, samples: Callable[[], Iterable[Sample]]) -> None:
        self._samples = samples

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        for sample in self._samples():
            sample.check()
            key = (sample.name, tuple(sorted(sample.labels.items())))
            if key in seen:  # a series given twice is exposed once, the first value winning
                continue
            seen.add(key)
            family = families.get(sample.name)
            if family is None:
                base = sample.name.removesuffix("_total") if sample.kind == "counter" else sample.name
                family = families[sample.name] = Metric(base, sample.help, sample.kind)
            name = f"{family.name}_total" if family.type == "counter" else sample.name
            family.add_sample(name, dict(sample.labels), float(sample.value))
        yield from families.values()


def render(samples: Sequence[Sample]) -> str:
    """The exposition text of these samples alone (each family once, with its HELP and TYPE lines)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Bridge(lambda: samples))
    return generate_latest(registry).decode()


@dataclass
class StageOutcome:
    """Set ``ok = False`` inside :meth:`MetricsRegistry.stage_run` when the run failed without raising;
    ``extra_cpu``: CPU seconds other threads spent on the run (the calling thread's own are measured)."""

    ok: bool = True
    extra_cpu: float = 0.0


class MetricsRegistry:
    """Stage runs counted in this process (thread-safe), and the runs in flight for ``/readyz``."""

    def __init__(self, now: Callable[[], datetime] = clock.now) -> None:
        self._now = now
        self._lock = threading.Lock()
        self.started_at = now()
        self._runs: Counter[tuple[str, str]] = Counter()
        self._failures: Counter[tuple[str, str]] = Counter()
        self._seconds: dict[tuple[str, str], float] = {}
        self._cpu: dict[tuple[str, str], float] = {}
        self._in_flight: dict[str, tuple[str, datetime]] = {}  # token → (stage, start)
        self._expected: set[tuple[str, str]] = set()

    def expect(self, stages: Iterable[str], scope: str = "all") -> None:
        """Show these stages' counters from the start, at zero (a rate over a series that appears only with
        its first failure misses that failure)."""
        with self._lock:
            self._expected.update((stage, scope) for stage in stages)

    def observe_stage(self, stage: str, scope: str, seconds: float, ok: bool, cpu: float = 0.0) -> None:
        """Count one finished run of ``stage`` over ``scope`` (``"all"`` for the whole stage) that took
        ``seconds`` and ``cpu`` CPU seconds."""
        with self._lock:
            self._runs[(stage, scope)] += 1
            self._seconds[(stage, scope)] = self._seconds.get((stage, scope), 0.0) + max(0.0, seconds)
            if not ok:
                self._failures[(stage, scope)] += 1
        self.add_cpu(stage, cpu, scope)

    def add_cpu(self, stage: str, cpu: float, scope: str = "all") -> None:
        """Count ``cpu`` CPU seconds to ``stage``: a run's, or those a thread that outlived the run spent on it
        (a late shop's worker)."""
        with self._lock:
            self._cpu[(stage, scope)] = self._cpu.get((stage, scope), 0.0) + max(0.0, cpu)

    def begin(self, stage: str) -> str:
        """Mark a run of ``stage`` in flight; hand the token to :meth:`end`."""
        token = uuid.uuid4().hex
        with self._lock:
            self._in_flight[token] = (stage, self._now())
        return token

    def end(self, token: str) -> None:
        """The run of :meth:`begin`'s token is over (whatever its outcome)."""
        with self._lock:
            self._in_flight.pop(token, None)

    @contextmanager
    def stage_run(self, stage: str, scope: str = "all") -> Iterator[StageOutcome]:
        """In flight while inside; counted as one run at exit (failed if it raised or ``ok`` was cleared)."""
        token = self.begin(stage)
        started, cpu = time.monotonic(), time.thread_time()
        outcome = StageOutcome()
        try:
            yield outcome
        except BaseException:
            outcome.ok = False
            raise
        finally:
            self.end(token)
            self.observe_stage(stage, scope, time.monotonic() - started, outcome.ok,
                               time.thread_time() - cpu + outcome.extra_cpu)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds spent in each stage's runs so far (all scopes)."""
        with self._lock:
            cpu = dict(self._cpu)
        out: dict[str, float] = {}
        for (stage, _scope), secs in cpu.items():
            out[stage] = out.get(stage, 0.0) + secs
        return out

    def in_flight(self) -> dict[str, datetime]:
        """Each stage running now → when its oldest run in flight started."""
        with self._lock:
            runs = list(self._in_flight.values())
        oldest: dict[str, datetime] = {}
        for stage, start in runs:
            if stage not in oldest or start < oldest[stage]:
                oldest[stage] = start
        return oldest

    def samples(self) -> list[Sample]:
        """Counters of runs, failures and seconds, runs in flight, and the process start time."""
        with self._lock:
            runs, failures, seconds, cpu = dict(self._runs), dict(self._failures), dict(self._seconds), dict(self._cpu)
            keys = sorted(set(runs) | self._expected)
        now = self._now()
        out = [Sample("syncd_process_start_time_seconds", clock.to_epoch(self.started_at),
                      help="When this syncd process started (Unix seconds).")]
        for stage, scope in keys:
            out.append(Sample("syncd_stage_runs_total", runs.get((stage, scope), 0), {"stage": stage, "scope": scope},
                              "Stage runs finished by this process.", "counter"))
        for stage, scope in keys:
            out.append(Sample("syncd_stage_failures_total", failures.get((stage, scope), 0),
                              {"stage": stage, "scope": scope}, "Stage runs that failed, in this process.",
                              "counter"))
        for stage, scope in keys:
            out.append(Sample("syncd_stage_run_seconds_total", round(seconds.get((stage, scope), 0.0), 3),
                              {"stage": stage, "scope": scope}, "Seconds spent in stage runs, in this process.",
                              "counter"))
        for stage, scope in keys:
            out.append(Sample("syncd_stage_cpu_seconds_total", round(cpu.get((stage, scope), 0.0), 3),
                              {"stage": stage, "scope": scope}, "CPU seconds spent in stage runs, in this process.",
                              "counter"))
        for stage, start in sorted(self.in_flight().items()):
            out.append(Sample("syncd_stage_in_flight_seconds", round(max(0.0, (now - start).total_seconds()), 3),
                              {"stage": stage}, "How long the stage's run in flight has been running."))
        return out


_CALL_OUTCOMES = ("timeout", "network")  # what every API can meet: shown at zero from its first call


def call_samples(stats: CallStats) -> list[Sample]:
    """Outside calls and their errors per (system, api[, outcome]), the platforms' own error codes, and the
    rate-limit answers per system (HTTP 429 and the platforms' flow-control codes together)."""
    # dict(counter) copies in one C call under the GIL: no "changed size during iteration" against record()
    calls, errors, codes = dict(stats.calls), dict(stats.errors), dict(stats.codes)
    out = [Sample("syncd_outside_calls_total", n, {"system": system, "api": api},
                  "Calls to outside systems (storefronts, suppliers, tracking, alert channels).", "counter")
           for (system, api), n in sorted(calls.items())]
    shown = dict.fromkeys(((system, api, outcome) for system, api in calls for outcome in _CALL_OUTCOMES), 0)
    shown.update(errors)
    out += [Sample("syncd_outside_call_errors_total", n, {"system": system, "api": api, "outcome": outcome},
                   "Failed calls to outside systems, by outcome (timeout, network, http-STATUS).", "counter")
            for (system, api, outcome), n in sorted(shown.items())]
    out += [Sample("syncd_platform_errors_total", n, {"system": system, "api": api, "code": code, "kind": kind},
                   "Error answers of outside systems by their own code (inside HTTP 200 or a 4xx body) and what "
                   "syncd made of it (rate_limited, transient, auth, fatal, rejected, protocol).", "counter")
            for (system, api, code, kind), n in sorted(codes.items())]
    limited = dict.fromkeys((system for system, _api in calls), 0)
    for (system, _api, outcome), n in errors.items():
        if outcome == "http-429":
            limited[system] = limited.get(system, 0) + n
    for (system, _api, _code, kind), n in codes.items():
        if kind == "rate_limited":
            limited[system] = limited.get(system, 0) + n
    out += [Sample("syncd_outside_rate_limited_total", n, {"system": system},
                   "Answers of outside systems that said slow down: HTTP 429 and the platforms' flow-control "
                   "codes.", "counter") for system, n in sorted(limited.items())]
    return out


@dataclass(frozen=True)
class Known:
    """What the daemon is configured with: their series are shown from the start, at zero."""

    shops: tuple[str, ...] = ()
    suppliers: tuple[str, ...] = ()
    # (stage, scope) of the per-scope stages: pull and writeback per shop, forward and collect per supplier
    scopes: tuple[tuple[str, str], ...] = ()


def database_samples(db: Database, now: datetime, known: Known = Known()) -> list[Sample]:
    """Orders per (shop, state), the oldest pending order per shop, stage runs, open holds: four queries."""
    with db.read() as s:
        per_state = s.execute(select(Order.shop_id, Order.state, func.count())
                              .group_by(Order.shop_id, Order.state)).all()
        oldest = s.execute(select(Order.shop_id, func.min(func.coalesce(Order.paid_at, Order.first_seen_at)))
                           .where(Order.state.in_([st.value for st in PENDING_STATES]))
                           .group_by(Order.shop_id)).all()
        runs = s.execute(select(StageRun.stage, StageRun.scope, StageRun.last_duration_ms,
                                StageRun.consecutive_failures, StageRun.last_success_at)
                         .order_by(StageRun.stage, StageRun.scope)).all()
        holds = s.execute(select(Hold.reason, func.count()).where(Hold.released_at.is_(None))
                          .group_by(Hold.reason)).all()

    counts: dict[str, dict[str, int]] = {shop: {st.value: 0 for st in OrderState} for shop in known.shops}
    for shop, state, n in per_state:
        counts.setdefault(shop, {st.value: 0 for st in OrderState})[state] = int(n)
    out = [Sample("syncd_orders", n, {"shop": shop, "state": state}, "Orders per shop and pipeline state.")
           for shop in sorted(counts) for state, n in counts[shop].items()]
    ages = {shop: 0.0 for shop in counts}
    for shop, first in oldest:
        if first is not None:
            ages[shop] = max(0.0, (now - clock.ensure_utc(first)).total_seconds())
    out += [Sample("syncd_oldest_pending_order_age_seconds", round(age, 3), {"shop": shop},
                   "Seconds since payment (or since first seen) of the shop's oldest order not yet shipped "
                   "(new, held, routed, placed); 0 when there is none.")
            for shop, age in sorted(ages.items())]
    failing_help = "Failed runs in a row of the stage over this scope (0 after a success)."
    recorded = set()
    for stage, scope, ms, failures, last_ok in runs:
        labels = {"stage": stage, "scope": scope}
        recorded.add((stage, scope))
        if ms is not None:
            out.append(Sample("syncd_stage_last_duration_seconds", ms / 1000, labels,
                              "Duration of the stage's last run over this scope."))
        out.append(Sample("syncd_stage_consecutive_failures", failures or 0, labels, failing_help))
        if last_ok is not None:
            out.append(Sample("syncd_stage_last_success_timestamp_seconds", clock.to_epoch(last_ok), labels,
                              "When the stage last succeeded over this scope (Unix seconds)."))
    out += [Sample("syncd_stage_consecutive_failures", 0, {"stage": stage, "scope": scope}, failing_help)
            for stage, scope in sorted(set(known.scopes) - recorded)]
    open_holds = {r.value: 0 for r in HoldReason}
    open_holds.update({reason: int(n) for reason, n in holds})
    out += [Sample("syncd_holds_open", n, {"reason": reason}, "Open holds (orders waiting for a person or a "
                   "condition) per reason.") for reason, n in sorted(open_holds.items())]
    return out


class Metrics:
    """The ``/metrics`` page: every collector together, each isolated, in a ``CollectorRegistry`` of its own
    with the standard process, platform and GC collectors; the database part cached for ``db_max_age`` s."""

    def __init__(self, db: Database, registry: MetricsRegistry, stats: CallStats,
                 extra_collectors: Sequence[Collector] = (), *, db_max_age: float = 10.0,
                 now: Callable[[], datetime] = clock.now, monotonic: Callable[[], float] = time.monotonic,
                 known: Known = Known()) -> None:
        self.db = db
        self.registry = registry
        self.stats = stats
        self.known = known
        self.db_max_age = db_max_age
        self._now = now
        self._monotonic = monotonic
        self._db_lock = threading.Lock()
        self._db_cache: tuple[float, list[Sample]] | None = None
        self._failing: set[str] = set()
        self._state_lock = threading.Lock()
        self.collectors: list[tuple[str, Collector]] = [
            ("database", self._database), ("stages", registry.samples), ("calls", lambda: call_samples(stats))]
        for fn in extra_collectors:
            self.add(getattr(fn, "__name__", "extra"), fn)
        self.prometheus = CollectorRegistry(auto_describe=False)  # this page's own, never the global one
        ProcessCollector(registry=self.prometheus)
        PlatformCollector(registry=self.prometheus)
        GCCollector(registry=self.prometheus)
        self.prometheus.register(_Bridge(self.collect))

    def add(self, name: str, collector: Collector) -> None:
        """Plug in one more collector (``name`` labels its ``syncd_metrics_collector_up`` series)."""
        taken = {n for n, _ in self.collectors}
        unique, i = name, 2
        while unique in taken:
            unique, i = f"{name}_{i}", i + 1
        self.collectors.append((unique, collector))

    def _database(self) -> list[Sample]:
        with self._db_lock:  # concurrent scrapes wait for one query instead of each running it
            cached = self._db_cache
            if cached is not None and self._monotonic() - cached[0] < self.db_max_age:
                return cached[1]
            samples = database_samples(self.db, self._now(), self.known)
            self._db_cache = (self._monotonic(), samples)
            return samples

    def collect(self) -> list[Sample]:
        """Samples of every collector that answered, plus one ``up`` series per collector."""
        out: list[Sample] = []
        up: list[Sample] = []
        for name, collector in self.collectors:
            try:
                samples = list(collector())
                for sample in samples:
                    if not isinstance(sample, Sample):
                        raise TypeError(f"collector {name} gave a {type(sample).__name__}, expected a Sample")
                    sample.check()
            except Exception as err:  # noqa: BLE001 - one broken source must not blank the whole page
                self._edge(name, err)
                up.append(self._up(name, 0))
                continue
            self._edge(name, None)
            out += samples
            up.append(self._up(name, 1))
        return out + up

    def render(self) -> str:
        """The ``/metrics`` page."""
        return generate_latest(self.prometheus).decode()

    @staticmethod
    def _up(name: str, value: int) -> Sample:
        return Sample("syncd_metrics_collector_up", value, {"collector": name},
                      "1 when the collector answered in the last scrape, 0 when it failed.")

    def _edge(self, name: str, err: Exception | None) -> None:
        """Log the edge, not the storm: once when a collector starts failing, once when it recovers."""
        with self._state_lock:
            was_failing = name in self._failing
            if err is not None:
                self._failing.add(name)
            else:
                self._failing.discard(name)
        if err is not None and not was_failing:
            # the type only: a database error's text can quote the statement and its parameters
            log.error("metrics collector %s failing: %s", name, type(err).__name__)
        elif err is None and was_failing:
            log.info("metrics collector %s recovered", name)


def stock_samples(db: Database, shops: Iterable[str] = ()) -> list[Sample]:
    """Stock and price (issue 19): SKUs shown at zero and margins below the floor per shop (two small queries), and
    the writes, write calls and write errors since the start."""
    from syncd.stock.engine import COUNTERS
    from syncd.store.models import StockMargin, StockWritten

    with db.read() as s:
        zero = dict(s.execute(select(StockWritten.shop_id, func.count()).where(StockWritten.value == 0)
                              .group_by(StockWritten.shop_id)).all())
        low = dict(s.execute(select(StockMargin.shop_id, func.count()).where(StockMargin.low.is_(True))
                             .group_by(StockMargin.shop_id)).all())
    names = sorted({*shops, *zero, *low, *COUNTERS.writes, *COUNTERS.errors})
    out = [Sample("syncd_stock_skus_at_zero", int(zero.get(n, 0)), {"shop": n},
                  "Storefront SKUs whose stock syncd last wrote as zero.") for n in names]
    out += [Sample("syncd_stock_margin_low", int(low.get(n, 0)), {"shop": n},
                   "SKUs whose margin (price - supplier cost - shipping - commission) is below the floor.")
            for n in names]
    out += [Sample("syncd_stock_writes_total", COUNTERS.writes[n], {"shop": n},
                   "Storefront SKUs whose stock was written since the start.", "counter") for n in names]
    out += [Sample("syncd_stock_write_errors_total", COUNTERS.errors[n], {"shop": n},
                   "Storefront SKUs whose stock write failed or was refused since the start.", "counter")
            for n in names]
    out += [Sample("syncd_stock_write_calls_total", COUNTERS.calls[n], {"shop": n},
                   "Stock write calls made to the storefront since the start.", "counter") for n in names]
    return out


def daemon_metrics(rt: Runtime, stages: Iterable[str]) -> Metrics:
    """The daemon's page: its stages, shops, suppliers, alert rules and tracking budget shown from the start."""
    from syncd.alerts.commands import alert_samples  # imports this module: a late import, not a cycle
    from syncd.alerts.names import Rule
    from syncd.domain import Severity
    from syncd.stages.track import queries_used

    stages = list(stages)
    rt.metrics.expect(stages)
    shops, suppliers = tuple(sorted(rt.storefronts)), tuple(sorted([*rt.suppliers, *rt.api_suppliers]))
    scopes = tuple([(stage, shop) for stage in ("pull", "writeback") for shop in shops]
                   + [(stage, sup) for stage in ("forward", "collect") for sup in suppliers])
    disabled = {str(r) for r in getattr(rt.config.alerts, "disabled_rules", ())}
    rules = [str(r) for r in Rule if str(r) not in disabled]

    def alerts_open() -> list[Sample]:
        found = alert_samples(rt.db, sorted(rt.sinks))
        have = {(s.labels.get("rule"), s.labels.get("severity")) for s in found if s.name == "syncd_alerts_open"}
        zeros = [Sample("syncd_alerts_open", 0, {"rule": rule, "severity": str(sev)},
                        "Open alerts per rule and severity.")
                 for rule in rules for sev in Severity if (rule, str(sev)) not in have]
        return found + zeros

    def tracking_queries() -> list[Sample]:
        tracker = rt.tracker
        if tracker is None:
            return []
        with rt.db.read() as s:
            used = queries_used(s, tracker.name, clock.now())
        out = [Sample("syncd_tracking_queries_today", used, {"provider": tracker.name},
                      "Tracking queries used today (China time, as the provider counts them).")]
        budget = int(getattr(rt.config.tracking, "daily_query_budget", 0) or 0)
        if budget:
            out.append(Sample("syncd_tracking_query_budget", budget, {"provider": tracker.name},
                              "Tracking queries allowed per day (daily_query_budget in tracking.yaml)."))
        return out

    def stock() -> list[Sample]:  # issue 19
        return stock_samples(rt.db, [k for k, v in rt.config.shops.items() if v.enabled and v.stock.enabled])

    return Metrics(rt.db, rt.metrics, rt.stats, [alerts_open, tracking_queries, stock, *rt.collectors],
                   known=Known(shops, suppliers, scopes))

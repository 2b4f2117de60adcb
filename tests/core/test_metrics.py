"""/metrics: exposition text parsed back line by line, values from a seeded database, isolation, cost."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import time_machine
from sqlalchemy import select, text, update

from syncd import clock
from syncd.errors import RateLimitedError
from syncd.http import CallStats
from syncd.metrics import (
    CONTENT_TYPE,
    Known,
    Metrics,
    MetricsRegistry,
    Sample,
    call_samples,
    database_samples,
    render,
)
from syncd.store.db import Database
from syncd.store.models import Hold, Order, StageRun
from syncd.store.orders import upsert_orders
from tests.fakes import make_order

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

# ---- a tiny parser of the exposition format 0.0.4, strict enough to catch a malformed page ----

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{(.*)\}})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"')
_UNESCAPE = {"n": "\n", '"': '"', "\\": "\\"}

Series = tuple[str, tuple[tuple[str, str], ...]]


@dataclass
class Page:
    help: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    values: dict[Series, float] = field(default_factory=dict)

    def value(self, name: str, **labels: str) -> float:
        return self.values[(name, tuple(sorted(labels.items())))]

    def series(self, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        return {labels: v for (n, labels), v in self.values.items() if n == name}


def _labels(raw: str) -> tuple[tuple[str, str], ...]:
    out, pos = [], 0
    while pos < len(raw):
        m = _LABEL.match(raw, pos)
        assert m, f"malformed labels at {raw[pos:]!r}"
        value = re.sub(r"\\(.)", lambda e: _UNESCAPE[e.group(1)], m.group(2))
        out.append((m.group(1), value))
        pos = m.end()
        if pos < len(raw):
            assert raw[pos] == ",", f"expected a comma in {raw!r}"
            pos += 1
    return tuple(sorted(out))


def _number(raw: str) -> float:
    return {"NaN": float("nan"), "+Inf": float("inf"), "-Inf": float("-inf")}.get(raw) or float(raw)


def parse(page: str) -> Page:
    """Every line is HELP, TYPE or a sample; a family's lines are together, its TYPE before its samples."""
    assert page == "" or page.endswith("\n")
    out, done, current = Page(), set(), None
    for line in page.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            kind, name, rest = line[2:6], *line[7:].split(" ", 1)
            assert re.fullmatch(_NAME, name)
            if name != current:
                assert name not in done, f"family {name} split in two"
                if current:
                    done.add(current)
                current = name
            (out.help if kind == "HELP" else out.types)[name] = rest
            continue
        m = _SAMPLE.match(line)
        assert m, f"malformed line {line!r}"
        name = m.group(1)
        assert name == current and name in out.types, f"{name} sample outside its family"
        key = (name, _labels(m.group(2) or ""))
        assert key not in out.values, f"series {key} twice"
        out.values[key] = _number(m.group(3))
    return out


# ---- rendering ----

def test_render_escapes_label_values_and_parses_back_to_the_same_series():
    tricky = 'back\\slash "quoted"\nnew line 中文'
    page = render([Sample("syncd_x", 1, {"shop": tricky, "state": "new"}, help="h"),
                   Sample("syncd_x", 2.5, {"shop": "plain", "state": "new"})])
    assert '\\\\slash \\"quoted\\"\\nnew' in page
    assert "\n" not in page.split("syncd_x{")[1].split("}")[0]  # the raw line feed never reaches the page
    parsed = parse(page)
    assert parsed.value("syncd_x", shop=tricky, state="new") == 1
    assert parsed.value("syncd_x", shop="plain", state="new") == 2.5


def test_render_writes_help_and_type_once_per_family_and_keeps_families_together():
    page = render([Sample("a_total", 1, {"k": "1"}, "first help\\with\nbreak", "counter"),
                   Sample("b", 2),
                   Sample("a_total", 3, {"k": "2"}, "ignored", "gauge")])
    lines = page.splitlines()
    assert lines[:4] == ["# HELP a_total first help\\\\with\\nbreak", "# TYPE a_total counter",
                         'a_total{k="1"} 1.0', 'a_total{k="2"} 3.0']
    assert lines[4:] == ["# HELP b ", "# TYPE b gauge", "b 2.0"]
    assert parse(page).types == {"a_total": "counter", "b": "gauge"}


def test_render_keeps_the_first_of_a_series_given_twice():
    page = render([Sample("x", 1, {"a": "1"}), Sample("x", 9, {"a": "1"})])
    assert parse(page).value("x", a="1") == 1


@pytest.mark.parametrize("sample", [Sample("bad-name", 1), Sample("x", 1, {"bad-label": "v"}),
                                    Sample("x", 1, {"__reserved": "v"}), Sample("x", 1, {"n": 3}),  # type: ignore[dict-item]
                                    Sample("x", "3")])  # type: ignore[arg-type]
def test_render_refuses_what_cannot_be_exposed(sample):
    with pytest.raises(ValueError):
        render([sample])


# ---- the in-process registry ----

def test_registry_counts_runs_failures_and_shows_runs_in_flight():
    now = [NOW]
    reg = MetricsRegistry(now=lambda: now[0])
    reg.observe_stage("pull", "shop1", 1.5, ok=True)
    reg.observe_stage("pull", "shop1", 0.5, ok=False)
    with reg.stage_run("route") as run:
        run.ok = False
    with pytest.raises(RuntimeError), reg.stage_run("forward"):
        raise RuntimeError("boom")
    with reg.stage_run("collect"):
        pass
    token = reg.begin("writeback")
    now[0] = NOW + timedelta(seconds=42)
    assert reg.in_flight() == {"writeback": NOW}
    page = parse(render(reg.samples()))
    assert page.value("syncd_stage_runs_total", stage="pull", scope="shop1") == 2
    assert page.value("syncd_stage_failures_total", stage="pull", scope="shop1") == 1
    assert page.value("syncd_stage_run_seconds_total", stage="pull", scope="shop1") == 2.0
    assert page.value("syncd_stage_failures_total", stage="route", scope="all") == 1
    assert page.value("syncd_stage_failures_total", stage="forward", scope="all") == 1
    assert page.value("syncd_stage_failures_total", stage="collect", scope="all") == 0
    assert page.value("syncd_stage_runs_total", stage="collect", scope="all") == 1
    assert page.value("syncd_stage_in_flight_seconds", stage="writeback") == 42
    assert page.value("syncd_process_start_time_seconds") == clock.to_epoch(NOW)
    assert page.types["syncd_stage_runs_total"] == "counter"
    reg.end(token)
    assert reg.in_flight() == {}
    assert "syncd_stage_in_flight_seconds" not in render(reg.samples())


def test_registry_is_exact_under_concurrent_updates():
    reg = MetricsRegistry()
    start = threading.Barrier(8)

    def work() -> None:
        start.wait()
        for i in range(500):
            reg.observe_stage("pull", "s", 0.001, ok=i % 5 != 0)
            reg.samples()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    page = parse(render(reg.samples()))
    assert page.value("syncd_stage_runs_total", stage="pull", scope="s") == 4000
    assert page.value("syncd_stage_failures_total", stage="pull", scope="s") == 800


def test_call_samples_count_calls_and_errors_per_api_and_outcome():
    stats = CallStats()
    stats.record("pdd", "order.list")
    stats.record("pdd", "order.list", "timeout")
    stats.record("kuaidi100", "poll", "http-429")
    page = parse(render(call_samples(stats)))
    assert page.value("syncd_outside_calls_total", system="pdd", api="order.list") == 2
    assert page.value("syncd_outside_call_errors_total", system="pdd", api="order.list", outcome="timeout") == 1
    assert page.value("syncd_outside_call_errors_total", system="kuaidi100", api="poll", outcome="http-429") == 1
    assert page.types["syncd_outside_call_errors_total"] == "counter"


# ---- the database part ----

@pytest.fixture
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def seed(db: Database) -> None:
    """shop-a: 3 shipped, 1 held (paid 5 h ago), 1 placed (paid 2 h ago); 'shop "b"': 1 new (no payment time)."""
    orders_a = [make_order(f"A{i}", NOW - timedelta(hours=h)) for i, h in enumerate([10, 9, 8, 4.5, 1.5])]
    with db.begin() as s:
        upsert_orders(s, "shop-a", orders_a, NOW - timedelta(hours=1))
        upsert_orders(s, 'shop "b"', [make_order("B0", NOW - timedelta(hours=1))], NOW - timedelta(minutes=20))
        for pid, state in [("A0", "shipped"), ("A1", "shipped"), ("A2", "shipped"), ("A3", "held"), ("A4", "placed")]:
            s.execute(update(Order).where(Order.platform_order_id == pid).values(state=state))
        s.execute(update(Order).where(Order.platform_order_id == "B0").values(paid_at=None))
        a3 = s.scalar(select(Order.id).where(Order.platform_order_id == "A3"))
        a0 = s.scalar(select(Order.id).where(Order.platform_order_id == "A0"))
        s.add_all([
            Hold(order_id=a3, reason="unmapped_sku", detail="", auto=True, created_at=NOW),
            Hold(order_id=a3, reason="manual", detail="", auto=False, created_at=NOW),
            Hold(order_id=a0, reason="manual", detail="", auto=False, created_at=NOW, released_at=NOW),
        ])
        s.add_all([
            StageRun(stage="pull", scope="shop-a", last_started_at=NOW, last_success_at=NOW - timedelta(minutes=5),
                     last_error_at=NOW, consecutive_failures=3, last_duration_ms=1250),
            StageRun(stage="route", scope="all", last_started_at=NOW, last_success_at=None, consecutive_failures=0,
                     last_duration_ms=None),
        ])


def test_database_samples_given_a_seeded_database_report_each_value(db: Database, frozen: None):
    seed(db)
    page = parse(render(database_samples(db, clock.now())))
    orders = page.series("syncd_orders")
    assert orders[(("shop", "shop-a"), ("state", "shipped"))] == 3
    assert orders[(("shop", "shop-a"), ("state", "held"))] == 1
    assert orders[(("shop", "shop-a"), ("state", "placed"))] == 1
    assert orders[(("shop", "shop-a"), ("state", "new"))] == 0  # every state of a known shop, zeros included
    assert orders[(("shop", 'shop "b"'), ("state", "new"))] == 1
    assert sum(orders.values()) == 6
    assert len(orders) == 2 * 7
    # held A3 was paid 4.5 h + 30 min ago; B0 has no payment time: its first sight, 20 min ago
    assert page.value("syncd_oldest_pending_order_age_seconds", shop="shop-a") == 5 * 3600
    assert page.value("syncd_oldest_pending_order_age_seconds", shop='shop "b"') == 20 * 60
    assert page.value("syncd_stage_last_duration_seconds", stage="pull", scope="shop-a") == 1.25
    assert page.value("syncd_stage_consecutive_failures", stage="pull", scope="shop-a") == 3
    assert page.value("syncd_stage_consecutive_failures", stage="route", scope="all") == 0
    assert page.value("syncd_stage_last_success_timestamp_seconds", stage="pull", scope="shop-a") == \
        clock.to_epoch(NOW - timedelta(minutes=5))
    assert ("syncd_stage_last_duration_seconds", (("scope", "all"), ("stage", "route"))) not in page.values
    assert page.value("syncd_holds_open", reason="manual") == 1  # the released one is not counted
    assert page.value("syncd_holds_open", reason="unmapped_sku") == 1
    assert page.value("syncd_holds_open", reason="out_of_stock") == 0


def test_a_shop_with_everything_shipped_shows_age_zero(db: Database, frozen: None):
    with db.begin() as s:
        upsert_orders(s, "shop-a", [make_order("A0", NOW - timedelta(days=3))], NOW - timedelta(days=3))
        s.execute(update(Order).values(state="shipped"))
    page = parse(render(database_samples(db, clock.now())))
    assert page.value("syncd_oldest_pending_order_age_seconds", shop="shop-a") == 0


def test_database_samples_take_four_statements_however_many_shops(db: Database, frozen: None):
    with db.begin() as s:
        for n in range(12):
            upsert_orders(s, f"shop{n}", [make_order(f"O{n}", NOW)], NOW)
    before = db.statements.count
    database_samples(db, clock.now())
    assert db.statements.count - before <= 6  # BEGIN/COMMIT aside: 4 queries, no query per shop


def test_oldest_pending_query_reads_unshipped_orders_through_the_state_index(tmp_path):
    from sqlalchemy import func

    from syncd.metrics import PENDING_STATES
    from syncd.store.db import open_database
    from syncd.store.migrate import upgrade

    db = open_database(f"sqlite:///{tmp_path / 'plan.db'}")
    upgrade(db)
    q = (select(Order.shop_id, func.min(func.coalesce(Order.paid_at, Order.first_seen_at)))
         .where(Order.state.in_([st.value for st in PENDING_STATES])).group_by(Order.shop_id))
    sql = str(q.compile(db.engine, compile_kwargs={"literal_binds": True}))
    with db.engine.connect() as c:
        plan = " ".join(str(r[-1]) for r in c.execute(text("EXPLAIN QUERY PLAN " + sql)))
    db.dispose()
    assert "USING INDEX ix_orders_state" in plan, plan


# ---- all collectors together ----

class FakeMonotonic:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_metrics_cache_the_database_part_for_db_max_age(db: Database, frozen: None):
    seed(db)
    mono = FakeMonotonic()
    metrics = Metrics(db, MetricsRegistry(), CallStats(), db_max_age=30, monotonic=mono)
    first = render(metrics.collect())  # the syncd part of the page (process_* figures move on their own)
    before = db.statements.count
    mono.t += 29
    assert render(metrics.collect()) == first
    assert db.statements.count == before
    mono.t += 2
    metrics.render()
    assert db.statements.count > before


def test_a_failing_collector_is_left_out_marked_down_and_logged_once(db: Database, frozen: None, caplog):
    fail = [True]

    def alerts_open() -> list[Sample]:
        if fail[0]:
            raise RuntimeError("secret detail 13812345678")
        return [Sample("syncd_alerts_open", 2, {"rule": "stalled", "severity": "warn"}, "Open alerts.")]

    stats = CallStats()
    stats.record("pdd", "x")
    metrics = Metrics(db, MetricsRegistry(), stats, [alerts_open], db_max_age=0)
    with caplog.at_level(logging.INFO, logger="syncd.metrics"):
        for _ in range(3):
            page = parse(metrics.render())
        assert page.value("syncd_metrics_collector_up", collector="alerts_open") == 0
        assert page.value("syncd_metrics_collector_up", collector="database") == 1
        assert page.value("syncd_outside_calls_total", system="pdd", api="x") == 1
        assert "syncd_alerts_open" not in page.types
        fail[0] = False
        page = parse(metrics.render())
        metrics.render()
    assert page.value("syncd_alerts_open", rule="stalled", severity="warn") == 2
    assert page.value("syncd_metrics_collector_up", collector="alerts_open") == 1
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["metrics collector alerts_open failing: RuntimeError",
                        "metrics collector alerts_open recovered"]
    assert "13812345678" not in caplog.text


def test_a_collector_answering_garbage_is_isolated_too(db: Database, frozen: None):
    metrics = Metrics(db, MetricsRegistry(), CallStats(), [lambda: [("not", "a sample")]],  # type: ignore[list-item]
                      db_max_age=0)
    page = parse(metrics.render())
    assert page.value("syncd_metrics_collector_up", collector="<lambda>") == 0
    assert page.value("syncd_metrics_collector_up", collector="stages") == 1


def test_a_database_that_fails_leaves_the_in_process_metrics(tmp_path, frozen: None):
    from syncd.store.db import open_database

    (tmp_path / "gone.db").mkdir()
    db = open_database(f"sqlite:///{tmp_path / 'gone.db'}")
    reg = MetricsRegistry()
    reg.observe_stage("pull", "all", 1, ok=True)
    page = parse(Metrics(db, reg, CallStats()).render())
    db.dispose()
    assert page.value("syncd_metrics_collector_up", collector="database") == 0
    assert page.value("syncd_stage_runs_total", stage="pull", scope="all") == 1


def test_content_type_is_the_0_0_4_text_format():
    assert CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"


def _burn(seconds: float) -> None:
    """Spend ``seconds`` of this thread's CPU (bounded: a few seconds of work at most)."""
    start = time.thread_time()
    for _ in range(50_000_000):
        if time.thread_time() - start >= seconds:
            return
    raise AssertionError("thread_time did not advance")


def test_registry_counts_each_stage_cpu_its_thread_and_the_workers_it_reports():
    reg = MetricsRegistry(now=lambda: NOW)
    with reg.stage_run("route"):
        _burn(0.03)
    with reg.stage_run("pull", "shop1") as run:
        run.extra_cpu = 0.5  # what pool threads spent on the run
    reg.observe_stage("pull", "shop2", 1.0, ok=True, cpu=0.25)
    cpu = reg.cpu_seconds()
    assert 0.03 <= cpu["route"] < 1.0
    assert 0.75 <= cpu["pull"] < 1.0
    page = parse(render(reg.samples()))
    assert page.value("syncd_stage_cpu_seconds_total", stage="pull", scope="shop2") == 0.25
    assert page.types["syncd_stage_cpu_seconds_total"] == "counter"


def test_registry_counts_a_failed_run_cpu_too():
    reg = MetricsRegistry(now=lambda: NOW)
    with pytest.raises(RuntimeError), reg.stage_run("forward") as run:
        run.extra_cpu = 0.2
        raise RuntimeError("boom")
    assert reg.cpu_seconds()["forward"] >= 0.2


# ---- counters from zero, platform codes, the daemon's page ----

def test_registry_shows_the_expected_stages_at_zero_before_any_run():
    reg = MetricsRegistry(now=lambda: NOW)
    reg.expect(["pull", "route"])
    page = parse(render(reg.samples()))
    for family in ("syncd_stage_runs_total", "syncd_stage_failures_total", "syncd_stage_run_seconds_total",
                   "syncd_stage_cpu_seconds_total"):
        assert page.value(family, stage="pull", scope="all") == 0
        assert page.value(family, stage="route", scope="all") == 0


def test_call_samples_show_transport_errors_at_zero_from_the_first_call_and_rate_limits_per_system():
    stats = CallStats()
    stats.record("pdd", "order.list")
    stats.record("kuaidi100", "poll", "http-429")
    stats.platform_error("pdd", "order.list", RateLimitedError("flow control", code="isv.limited"))
    page = parse(render(call_samples(stats)))
    assert page.value("syncd_outside_call_errors_total", system="pdd", api="order.list", outcome="timeout") == 0
    assert page.value("syncd_outside_call_errors_total", system="pdd", api="order.list", outcome="network") == 0
    assert page.value("syncd_platform_errors_total", system="pdd", api="order.list", code="isv.limited",
                      kind="rate_limited") == 1
    assert page.value("syncd_outside_rate_limited_total", system="pdd") == 1
    assert page.value("syncd_outside_rate_limited_total", system="kuaidi100") == 1


def test_database_samples_show_known_shops_and_scopes_at_zero_before_any_order_or_run(db: Database, frozen: None):
    known = Known(shops=("shop-a",), suppliers=("acme",), scopes=(("pull", "shop-a"), ("forward", "acme")))
    page = parse(render(database_samples(db, clock.now(), known)))
    assert page.value("syncd_orders", shop="shop-a", state="new") == 0
    assert page.value("syncd_oldest_pending_order_age_seconds", shop="shop-a") == 0
    assert page.value("syncd_stage_consecutive_failures", stage="pull", scope="shop-a") == 0
    assert page.value("syncd_stage_consecutive_failures", stage="forward", scope="acme") == 0


def _daemon(db: Database) -> SimpleNamespace:
    """What daemon_metrics reads of a Runtime: one shop, one file and one API supplier, a tracker, a channel."""
    return SimpleNamespace(
        db=db, metrics=MetricsRegistry(now=lambda: NOW), stats=CallStats(), collectors=[],
        storefronts={"shop-a": object()}, suppliers={"files": object()}, api_suppliers={"acme": object()},
        sinks={"ops": object()}, tracker=SimpleNamespace(name="kuaidi100"),
        config=SimpleNamespace(alerts=SimpleNamespace(disabled_rules=["reconcile_mismatch"]),
                               tracking=SimpleNamespace(daily_query_budget=2000)))


# What the README's /metrics paragraph promises, phrase by phrase, and the family that keeps the promise.
README_FAMILIES = {
    "orders per state": "syncd_orders",
    "age of the oldest order not yet shipped": "syncd_oldest_pending_order_age_seconds",
    "stage durations": "syncd_stage_run_seconds_total",
    "CPU seconds": "syncd_stage_cpu_seconds_total",
    "failures": "syncd_stage_failures_total",
    "outside calls": "syncd_outside_calls_total",
    "errors per platform and API": "syncd_outside_call_errors_total",
    "platform error codes": "syncd_platform_errors_total",
    "rate-limit": "syncd_outside_rate_limited_total",
    "open alerts per rule": "syncd_alerts_open",
    "tracking queries used": "syncd_tracking_queries_today",
    "process_*": "process_cpu_seconds_total",
}


def test_the_daemon_page_has_every_family_the_readme_lists_with_zeros_for_what_it_knows(db: Database, frozen: None):
    from pathlib import Path

    from syncd.metrics import daemon_metrics
    from syncd.store.models import Alert

    readme = " ".join((Path(__file__).resolve().parents[2] / "README.md").read_text().split())
    for phrase in README_FAMILIES:
        assert phrase in readme, phrase
    rt = _daemon(db)
    rt.stats.record("pdd", "order.list")
    rt.stats.platform_error("pdd", "order.list", RateLimitedError("flow control", code="isv.limited"))
    with db.begin() as s:
        s.add(Alert(rule="no_pickup", subject="parcel:1", severity="warning", title="t", detail="d",
                    opened_at=NOW, last_seen_at=NOW, open=True))
    page = parse(daemon_metrics(rt, ["pull", "route"]).render())  # type: ignore[arg-type]
    for family in README_FAMILIES.values():
        assert page.series(family), family
    assert page.value("syncd_alerts_open", rule="no_pickup", severity="warning") == 1
    assert page.value("syncd_alerts_open", rule="stalled_in_transit", severity="critical") == 0
    assert ("syncd_alerts_open", (("rule", "reconcile_mismatch"), ("severity", "info"))) not in page.values
    assert page.value("syncd_tracking_queries_today", provider="kuaidi100") == 0
    assert page.value("syncd_tracking_query_budget", provider="kuaidi100") == 2000
    assert page.value("syncd_stage_failures_total", stage="route", scope="all") == 0
    assert page.value("syncd_stage_consecutive_failures", stage="forward", scope="acme") == 0
    assert page.value("syncd_stage_consecutive_failures", stage="collect", scope="files") == 0
    assert page.value("syncd_orders", shop="shop-a", state="shipped") == 0
    assert page.value("syncd_alert_messages_waiting", channel="ops") == 0


def test_each_page_has_a_registry_of_its_own_and_the_global_one_stays_empty_of_syncd(db: Database, frozen: None):
    from prometheus_client import REGISTRY, generate_latest

    reg = MetricsRegistry(now=lambda: NOW)
    reg.observe_stage("pull", "all", 1, ok=False)
    first = parse(Metrics(db, reg, CallStats()).render())
    second = parse(Metrics(db, MetricsRegistry(now=lambda: NOW), CallStats()).render())
    assert first.value("syncd_stage_failures_total", stage="pull", scope="all") == 1
    assert "syncd_stage_failures_total" not in second.types
    assert b"syncd_" not in generate_latest(REGISTRY)

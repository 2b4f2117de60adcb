"""The real daemon process against the sandbox simulators: end to end, crashes, replicas."""

from __future__ import annotations

import contextlib
import random
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import NO_PG, PG_URL, drop_pg_schema, make_pg_schema, pg_schema_url
from tests.e2e.sandbox_daemon import World

# One worker runs them one after the other (they time real processes); the other worker runs the rest.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'syncd.db'}"
    else:
        if not PG_URL:
            pytest.skip(NO_PG)
        schema = make_pg_schema()
        url = pg_schema_url(schema)
    w = World(tmp_path, url)
    try:
        yield w
    finally:
        w.close()
        if schema:
            drop_pg_schema(schema)


def test_daemon_given_the_sandbox_ships_every_good_order_and_stops_within_10s_on_sigterm(world: World):
    proc = world.start()
    states = world.wait_settled([proc])
    base = f"http://127.0.0.1:{world.port('d1')}"
    assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
    ready = httpx.get(f"{base}/readyz", timeout=5)
    assert ready.status_code == 200, ready.text
    metrics = httpx.get(f"{base}/metrics", timeout=5).text
    assert 'syncd_orders{shop="douyin-demo",state="shipped"}' in metrics
    assert "syncd_outside_calls_total" in metrics
    took = world.stop(proc)
    assert proc.returncode == 0, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
    assert took < 10
    result = world.check_invariants()
    assert states["shipped"] == result["shipped"] > world.total * 0.6
    assert result["uploads"] >= result["shipped"]


def test_crash_given_sigkill_at_random_moments_exports_and_uploads_every_order_exactly_once(world: World):
    # restarted the way a supervisor does: a new process, a new pid, a new host name (SYNCD_INSTANCE) each time
    rng = random.Random(20261122)
    for n in range(6):
        proc = world.start(f"pod-{n}")
        world.wait_listening(proc, f"pod-{n}")  # migrated and running: the kill lands in the middle of work
        try:
            proc.wait(timeout=rng.uniform(0.4, 2.5))  # let it run for a random while
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        assert proc.returncode in (-9, None) or proc.returncode == -9, proc.stderr.read().decode()[-2000:]
    left = world.plant_dead_leases("pod-killed")  # what a kill in the middle of every stage leaves
    proc = world.start("pod-final")
    world.wait_settled([proc])  # leases of the dead pods hold nothing up (they ran 15 more minutes)
    world.stop(proc)
    result = world.check_invariants()
    assert result["shipped"] > world.total * 0.6
    assert left and world.skipped_runs() == {}, "a run of the new daemon was refused a dead pod's lease"


def test_watch_given_the_sandbox_alerts_exactly_the_parcels_whose_history_shows_trouble(tmp_path: Path):
    w = World(tmp_path, f"sqlite:///{tmp_path / 'syncd.db'}", orders=60)
    try:
        proc = w.start()
        w.wait_settled([proc])
        deadline = time.monotonic() + 60
        while w.parcel_alerts()[2] and time.monotonic() < deadline:  # parcels not queried yet
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.5)
        assert proc.poll() is None and not w.parcel_alerts()[2], "every uploaded parcel is tracked"
        # two watch passes that both started after the last parcel was tracked
        seen = [w.last_success("watch")]
        while len(set(seen)) < 3 and time.monotonic() < deadline:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.5)
            seen.append(w.last_success("watch"))
        alerted, troubled, _ = w.parcel_alerts()
        assert troubled, "the sandbox scripts some parcels into trouble"
        assert alerted == troubled
        robots = w.sandbox.state()["partners"]["robots"]["accepted"]
        assert robots["dingtalk"] > 0, robots
        w.stop(proc)
    finally:
        w.close()


@pytest.mark.postgres
def test_two_daemons_on_one_postgres_split_the_work_and_handle_no_order_twice(tmp_path: Path):
    if not PG_URL:
        pytest.skip(NO_PG)
    schema = make_pg_schema()
    w = World(tmp_path, pg_schema_url(schema), orders=150)
    try:
        a, b = w.start("replica-a"), w.start("replica-b")
        w.wait_settled([a, b])
        assert w.stop(a) < 10 and w.stop(b) < 10
        result = w.check_invariants()
        assert set(result["actors"]) == {"replica-a", "replica-b"}, result["actors"]
    finally:
        w.close()
        drop_pg_schema(schema)


def test_second_daemon_on_the_same_sqlite_file_refuses_to_start(tmp_path: Path):
    w = World(tmp_path, f"sqlite:///{tmp_path / 'syncd.db'}", orders=5)
    try:
        first = w.start()
        w.wait_listening(first)
        second = w.start("other")
        second.wait(timeout=30)
        assert second.returncode == 3
        assert b"already running on this SQLite database" in (second.stderr.read() if second.stderr else b"")
        assert first.poll() is None
        w.stop(first)
    finally:
        w.close()

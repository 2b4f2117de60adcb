"""The stage runner: a refused lease is a skipped run, a shutdown is no recovery, nothing reaches the scheduler."""

from __future__ import annotations

import errno
import logging
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

from syncd import clock
from syncd.alerts.names import MACHINE_FAULT_WORDS, Rule
from syncd.stages.runner import MACHINE_FAULTS, StageReport, machine_fault, scope
from syncd.store.db import Database, open_database, release_lease, try_lease
from syncd.store.models import Alert, StageRun
from tests.fakes import make_order
from tests.stages.harness import Harness, build


@pytest.fixture
def h(db: Database, tmp_path: Path) -> Harness:
    return build(db, tmp_path)


@pytest.fixture
def other(db: Database):
    """Another replica (or process) on the same database."""
    replica = open_database(db.engine.url.render_as_string(hide_password=False))
    yield replica
    replica.dispose()


def _run(db: Database, stage: str, scope_name: str) -> StageRun:
    with db.read() as s:
        row = s.get(StageRun, (stage, scope_name))
    assert row is not None
    return row


def test_forward_given_another_holder_of_the_suppliers_lease_records_a_skip_not_a_success(
        h: Harness, db: Database, other: Database):
    h.shop.put(make_order("1901", clock.now() - timedelta(minutes=30)))  # work for acme: a run needs its lease
    h.stage("pull")
    h.stage("route")
    assert try_lease(other, "forward:acme", "replica-a", timedelta(minutes=15))
    report = h.stage("forward")
    acme = _run(db, "forward", "acme")
    assert acme.last_success_at is None and acme.consecutive_failures == 0
    assert acme.last_skipped_at is not None and "held by replica-a" in (acme.last_skip_reason or "")
    assert report.skipped == [("acme", "lease forward:acme held by replica-a")]
    assert _run(db, "forward", "beta").last_success_at is not None  # the other supplier still ran
    release_lease(other, "forward:acme", "replica-a")
    h.stage("forward")
    assert _run(db, "forward", "acme").last_success_at is not None


def test_pull_given_a_lease_holder_past_its_bound_warns_once_and_raises_the_lease_overdue_alert(
        h: Harness, db: Database, other: Database, caplog: pytest.LogCaptureFixture):
    # SQLite: the stuck holder is a thread of this daemon (another process's expired row would be taken)
    holder = db if db.is_sqlite else other
    assert try_lease(holder, "pull:shop1", "stuck-pod", timedelta(minutes=15))
    with time_machine.travel(clock.now() + timedelta(minutes=20), tick=False), \
            caplog.at_level(logging.DEBUG, logger="syncd"):
        h.stage("pull")
        h.stage("pull")
        h.stage("watch")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "past its bound" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "stuck-pod" in warnings[0].getMessage()
    with db.read() as s:
        alerts = s.execute(select(Alert.rule, Alert.subject, Alert.resolved_at)).all()
    assert (Rule.LEASE_OVERDUE, "lease:pull:shop1", None) in alerts
    release_lease(holder, "pull:shop1", "stuck-pod")
    with time_machine.travel(clock.now() + timedelta(minutes=21), tick=False):
        h.stage("pull")
        h.stage("watch")
    with db.read() as s:
        resolved = s.scalar(select(Alert.resolved_at).where(Alert.rule == Rule.LEASE_OVERDUE))
    assert resolved is not None


def test_scope_given_shutdown_during_a_run_logs_no_recovery_and_keeps_the_failure_count(
        h: Harness, db: Database, caplog: pytest.LogCaptureFixture):
    with db.begin() as s:
        s.add(StageRun(stage="pull", scope="shop1", consecutive_failures=24, last_error="TransientError: 502"))
    with caplog.at_level(logging.DEBUG, logger="syncd"), scope(h.rt, StageReport("pull"), "shop1"):
        h.rt.stop.set()  # SIGTERM arrives while the run is cut short (a retry gives up, a loop breaks)
    assert not [r for r in caplog.records if "recovered" in r.getMessage()]
    row = _run(db, "pull", "shop1")
    assert row.consecutive_failures == 24 and row.last_success_at is None


def test_scope_given_a_failure_after_shutdown_is_not_logged_as_a_new_failure(
        h: Harness, db: Database, caplog: pytest.LogCaptureFixture):
    from syncd.errors import TransientError

    with caplog.at_level(logging.INFO, logger="syncd"), scope(h.rt, StageReport("pull"), "shop1"):
        h.rt.stop.set()
        raise TransientError("retry given up: stopping")
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_pipeline_given_a_crashed_sqlite_daemons_leases_takes_them_over_at_start_and_forwards(
        h: Harness, db: Database, other: Database):
    from syncd.runtime import release_stale_claims

    if not db.is_sqlite:
        pytest.skip("PostgreSQL: the dead holder's advisory lock ended with its connection (tests/store)")
    for i in range(3):
        h.shop.put(make_order(f"20{i}", clock.now() - timedelta(minutes=30)))
    for name in ("pull:shop1", "forward:acme", "watch"):
        assert try_lease(other, name, "host-a-4242", timedelta(minutes=15))
    other.engine.dispose()  # killed: nothing released
    release_stale_claims(db)  # the new daemon's start (new pid, new host name)
    h.cycle()
    assert sorted(r["订单号"] for r in h.exported_rows("acme")) == ["200", "201", "202"]


def test_machine_fault_given_enospc_without_a_file_name_names_the_folder_in_operator_words():
    err = OSError(errno.ENOSPC, "No space left on device")
    assert machine_fault(err, "/data/suppliers/acme/outbox") == (
        "disk full under '/data/suppliers/acme/outbox'; free space on that disk (syncd retries at every run)")
    denied = PermissionError(errno.EACCES, "Permission denied", "/data/x.csv")
    assert (machine_fault(RuntimeError("wrapped"), "") is None
            and machine_fault(denied, "").startswith("permission denied writing '/data/x.csv'"))  # type: ignore[union-attr]


def test_machine_fault_words_are_the_ones_the_alert_rules_read():
    assert {words for words, _ in MACHINE_FAULTS.values()} == set(MACHINE_FAULT_WORDS)


def test_start_given_supplier_orders_claimed_by_a_killed_sqlite_daemon_frees_them_at_once(h: Harness, db: Database):
    from sqlalchemy import update

    from syncd.runtime import release_stale_claims
    from syncd.store.models import SupplierOrder

    if not db.is_sqlite:
        pytest.skip("PostgreSQL: other replicas may be alive; their claims expire after claim_seconds")
    h.shop.put(make_order("500", clock.now() - timedelta(minutes=30)))
    h.stage("pull")
    h.stage("route")
    with db.begin() as s:
        s.execute(update(SupplierOrder).values(claimed_by="host-a-4242",
                                               claim_until=clock.now() + timedelta(minutes=5)))
    release_stale_claims(db)
    with db.read() as s:
        assert set(s.execute(select(SupplierOrder.claimed_by, SupplierOrder.claim_until))) == {(None, None)}


def test_scope_runs_record_each_success_the_failure_after_it_and_the_recovery(
        h: Harness, db: Database, caplog: pytest.LogCaptureFixture):
    from syncd.errors import TransientError

    def one(fail: bool) -> StageRun:
        with scope(h.rt, StageReport("collect"), "acme"):
            if fail:
                raise TransientError("inbox unreachable")
        return _run(db, "collect", "acme")

    start = clock.now()
    with time_machine.travel(start, tick=False):
        first = one(False)
    with time_machine.travel(start + timedelta(minutes=1), tick=False):
        second = one(False)  # a success after a success: the row moves on
    assert first.last_success_at == start and second.last_success_at == start + timedelta(minutes=1)
    assert second.last_started_at == start + timedelta(minutes=1) and second.consecutive_failures == 0
    with time_machine.travel(start + timedelta(minutes=2), tick=False):
        failed = one(True)
    assert failed.consecutive_failures == 1 and failed.last_success_at == start + timedelta(minutes=1)
    with caplog.at_level(logging.INFO, logger="syncd.stage"), \
            time_machine.travel(start + timedelta(minutes=3), tick=False):
        recovered = one(False)
    assert recovered.consecutive_failures == 0 and recovered.last_success_at == start + timedelta(minutes=3)
    assert recovered.last_error == "TransientError: inbox unreachable"  # kept for syncd status
    told = [r for r in caplog.records if r.name == "syncd.stage" and r.levelno == logging.INFO]
    assert len(told) == 1 and "acme" in told[0].getMessage()  # the recovery, said once

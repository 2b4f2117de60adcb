"""The disk under the supplier folders fills up, or a folder stops being writable: the operator reads
"disk full" / "permission denied" with the path, an alert opens at once, readiness fails once it lasts,
no traceback is logged, and once fixed every order goes out exactly once."""

from __future__ import annotations

import builtins
import errno
import logging
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from syncd import clock
from syncd.adapters.dropfolder import files
from syncd.alerts.names import Rule
from syncd.daemon import STAGES
from syncd.httpd import check_readiness
from syncd.store.db import Database
from syncd.store.models import Alert, StageRun
from tests.fakes import make_order
from tests.stages.harness import Harness, build

INTERVALS = dict.fromkeys(STAGES, 60.0)


class _FullDisk:
    """A file opened for writing on a full disk: opening works, writing the buffered data out fails (with no
    file name in the error, as the kernel reports it on a write to an open file)."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self._real.close()

    def flush(self) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@pytest.fixture
def h(db: Database, tmp_path: Path) -> Harness:
    harness = build(db, tmp_path)
    for i in range(3):
        harness.shop.put(make_order(f"40{i}", clock.now() - timedelta(minutes=30)))
    harness.stage("forward")  # a first success before the fault
    harness.stage("pull")
    harness.stage("route")
    return harness


def _forward_acme(db: Database) -> StageRun:
    with db.read() as s:
        row = s.get(StageRun, ("forward", "acme"))
    assert row is not None
    return row


def test_disk_full_given_the_outbox_cannot_be_written_says_so_alerts_at_once_and_loses_nothing(
        h: Harness, db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
    # every file syncd writes under a supplier folder goes through files.atomic_write's open()
    monkeypatch.setattr(files, "open", lambda path, mode="r", opener=None: _FullDisk(
        builtins.open(path, mode, opener=opener)),  # noqa: SIM115 - _FullDisk is the context manager
        raising=False)
    with caplog.at_level(logging.INFO, logger="syncd"):
        for _ in range(3):
            assert not h.stage("forward").ok
        h.stage("watch")
    assert [r for r in caplog.records if r.exc_info] == []
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert "disk full" in errors[0] and str(h.outbox("acme")) in errors[0]
    row = _forward_acme(db)
    assert row.consecutive_failures == 3 and (row.last_error or "").startswith("disk full")
    with db.read() as s:
        alert = s.execute(select(Alert.severity, Alert.title).where(
            Alert.rule == Rule.STAGE_FAILING, Alert.subject == "stage:forward:acme")).one()
    assert alert.severity == "critical" and "disk full" in alert.title
    assert check_readiness(db, INTERVALS).ok  # failing for seconds: still ready
    later = check_readiness(db, INTERVALS, now=clock.now() + timedelta(minutes=6))
    failed = {c.name: c.detail for c in later.failed}
    assert "disk full" in failed["stage_failing"] and "forward acme failing for" in failed["stage_failing"]

    monkeypatch.undo()  # space freed
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="syncd"):
        assert h.stage("forward").ok
    assert any("recovered after 3 failed runs" in r.getMessage() for r in caplog.records)
    assert Counter(r["订单号"] for r in h.exported_rows("acme")) == Counter(["400", "401", "402"])
    assert "stage_failing" not in [c.name for c in check_readiness(db, INTERVALS).checks]


def test_permission_denied_given_an_outbox_folder_syncd_may_not_write_names_it_without_a_traceback(
        h: Harness, db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
    def denied(path: Any, mode: str = "r", opener: Any = None) -> Any:
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(files, "open", denied, raising=False)
    with caplog.at_level(logging.INFO, logger="syncd"):
        h.stage("forward")
        h.stage("forward")
    assert [r for r in caplog.records if r.exc_info] == []
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "permission denied writing" in errors[0], errors
    assert str(h.outbox("acme")) in errors[0]
    monkeypatch.undo()
    h.stage("forward")
    assert Counter(r["订单号"] for r in h.exported_rows("acme")) == Counter(["400", "401", "402"])


def test_permission_denied_given_the_inbox_cannot_be_moved_keeps_the_tracking_once_and_names_the_folder(
        h: Harness, db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
    import os

    from syncd.adapters.dropfolder import inbox
    from syncd.store.models import Shipment

    h.stage("forward")
    h.reply("acme", "reply.csv", [(f"40{i}", "中通快递", f"7730000000{i}") for i in range(3)])
    real_replace = os.replace

    def denied(src: Any, dst: Any) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(src))

    monkeypatch.setattr(inbox.os, "replace", denied)
    with caplog.at_level(logging.INFO, logger="syncd"):
        h.stage("collect")
        h.stage("collect")
    assert [r for r in caplog.records if r.exc_info] == []
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "permission denied writing" in errors[0] and "reply.csv" in errors[0], errors
    monkeypatch.setattr(inbox.os, "replace", real_replace)
    h.stage("collect")
    with db.read() as s:
        assert sorted(s.scalars(select(Shipment.tracking_no))) == [f"7730000000{i}" for i in range(3)]

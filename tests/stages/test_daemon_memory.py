"""The daemon hands freed memory back after stage runs (syncd.process.release_free_memory)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from syncd import daemon
from syncd.store.db import Database
from tests.stages.harness import build


def test_run_daemon_releases_free_memory_after_each_stage_run(db: Database, tmp_path: Path, monkeypatch):
    h = build(db, tmp_path)
    released = threading.Event()
    runs: list[str] = []
    runs_before_release: list[int] = []
    real_run_stage = daemon.run_stage

    def run_stage(rt, name):
        runs.append(name)
        return real_run_stage(rt, name)

    monkeypatch.setattr(daemon, "run_stage", run_stage)
    def release() -> bool:
        runs_before_release.append(len(runs))
        released.set()
        return True

    monkeypatch.setattr(daemon, "release_free_memory", release)
    deadline = time.monotonic() + 20
    daemon.run_daemon(h.rt, install_signals=False, until=lambda: released.is_set() or time.monotonic() > deadline)
    assert released.is_set()
    assert runs_before_release[0] >= 1  # after a stage run, not before it

"""Fixtures of the alerts tests: a frozen clock and the rig (see rig.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import time_machine

from syncd.store.db import Database
from tests.alerts.rig import NOW, FakeSink, Rig, alerts_config, make_runtime


@pytest.fixture
def frozen() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def rig(db: Database, tmp_path: Path, frozen: time_machine.Traveller) -> Iterator[Rig]:
    sinks = {"ops": FakeSink("ops")}
    rt = make_runtime(db, tmp_path, alerts_config(daily_digest_at=None), sinks)
    yield Rig(rt, db, sinks)
    rt.http.close()

"""Process tuning for ``syncd run``: checked in a child interpreter, so the test process keeps its own settings."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import gc, json
from syncd import process
frozen_before = gc.get_freeze_count()
capped = process._tune_malloc()
process.tune_for_daemon()
frozen = gc.get_freeze_count()
process.tune_for_daemon()  # a second call changes nothing
print(json.dumps({"before": frozen_before, "frozen": frozen, "again": gc.get_freeze_count(),
                  "threshold": gc.get_threshold(), "capped": capped}))
"""


@pytest.fixture(scope="module")
def probe() -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def test_tune_for_daemon_moves_start_up_objects_out_of_the_collectors_way(probe: dict[str, object]) -> None:
    from syncd.process import GC_THRESHOLD

    assert probe["before"] == 0
    assert isinstance(probe["frozen"], int) and probe["frozen"] > 10_000  # modules, classes, mappers
    assert probe["again"] == probe["frozen"]
    assert tuple(probe["threshold"]) == GC_THRESHOLD  # type: ignore[arg-type]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc arenas are glibc's")
def test_tune_for_daemon_sets_glibc_malloc_limits(probe: dict[str, object]) -> None:
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip(f"C library is {platform.libc_ver()[0] or 'unknown'}, not glibc")
    assert probe["capped"] is True

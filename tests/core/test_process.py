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


TRIM_PROBE = """
import json, os
from syncd import process

def rss_mb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024

process.tune_for_daemon()
first = process.release_free_memory(now=1000.0)
blocks = [bytes(2000) + os.urandom(8) for _ in range(100_000)]  # ~200 MB in the C heap, not pymalloc
keep = blocks[-1]  # a live block at the heap's top: free memory below it is not trimmed on its own
del blocks
before = rss_mb()
soon = process.release_free_memory(now=1000.0 + process.TRIM_EVERY / 2)
not_yet = rss_mb()
later = process.release_free_memory(now=1000.0 + process.TRIM_EVERY)
print(json.dumps({"first": first, "soon": soon, "later": later, "before": before, "not_yet": not_yet,
                  "after": rss_mb()}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's")
def test_release_free_memory_gives_freed_heap_back_at_most_every_trim_interval() -> None:
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip(f"C library is {platform.libc_ver()[0] or 'unknown'}, not glibc")
    out = subprocess.run([sys.executable, "-c", TRIM_PROBE], capture_output=True, text=True, timeout=60, check=True)
    got = json.loads(out.stdout)
    assert got["first"] is True and got["soon"] is False and got["later"] is True
    assert got["not_yet"] > got["before"] - 20  # freed but still resident until a pass runs
    assert got["after"] < got["before"] - 150  # most of the ~200 MB freed went back

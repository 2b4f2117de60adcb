"""``syncd bench --against-core``: the Douyin + drop-folder workload right after the run, and the ratio of the two."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from syncd import bench


def _figures(orders: int, cpu: float) -> dict[str, Any]:
    return {"orders": orders, "shops": 1, "pulled": orders, "shipped": orders, "held": 0, "cancelled": 0,
            "left_unsettled": 0, "wall_seconds": 10.0, "orders_per_second": orders / 10, "cpu_ms_per_order": cpu,
            "cpu_ms_per_order_by_stage": {"pull": cpu / 2, "other": cpu / 2}, "peak_rss_mb": 100.0,
            "http_calls_per_order": {}, "supplier_orders_at_api_suppliers": {}, "other_calls": {},
            "db_statements_per_order": 1.0, "database": "sqlite", "calls_vs_floor": []}


def test_bench_against_core_runs_the_douyin_drop_folder_workload_after_and_writes_the_multiple(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from syncd.cli import main

    runs: list[dict[str, Any]] = []

    def run_bench(orders: int, db_url: str | None = None, **kw: Any) -> dict[str, Any]:
        runs.append({"orders": orders, **kw})
        core = kw.get("file_only", False)
        return _figures(orders, 2.0 if core else 5.0)

    monkeypatch.setattr(bench, "run_bench", run_bench)
    out = tmp_path / "run.json"
    assert main(["bench", "--orders", "300", "--against-core", "1000", "--json", str(out)]) == 0
    assert [(r["orders"], r.get("platforms"), r.get("file_only", False)) for r in runs] == [
        (300, bench.PLATFORMS, False), (1000, ("douyin",), True)]
    figures = json.loads(out.read_text(encoding="utf-8"))["figures"]
    assert figures["cpu_multiple_of_core"] == 2.5
    assert figures["core"]["cpu_ms_per_order"] == 2.0 and figures["core"]["orders"] == 1000
    assert "5.0 ms against 2.0 ms for Douyin + drop folder: 2.5x" in capsys.readouterr().out


def test_bench_without_against_core_runs_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from syncd.cli import main

    runs: list[int] = []
    monkeypatch.setattr(bench, "run_bench", lambda orders, *a, **kw: runs.append(orders) or _figures(orders, 5.0))
    out = tmp_path / "run.json"
    assert main(["bench", "--orders", "300", "--json", str(out)]) == 0
    assert runs == [300] and "cpu_multiple_of_core" not in json.loads(out.read_text(encoding="utf-8"))["figures"]

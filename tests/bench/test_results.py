"""A bench run as a document: written, read back, compared, and shown as the table docs/benchmarks.md keeps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from syncd import bench_results


def _doc(cpu: float, pull: float, ratio: float) -> dict:
    return bench_results.document(
        {"orders": 100}, {"orders": 100, "cpu_ms_per_order": cpu, "peak_rss_mb": 120.5, "database": "sqlite",
                          "cpu_ms_per_order_by_stage": {"pull": pull, "route": 0.3},
                          "calls_vs_floor": [{"system": "douyin", "api": "order.searchList", "calls": 10,
                                              "ratio": ratio, "above": False}]})


def test_document_names_the_machine_date_commit_and_command(tmp_path: Path) -> None:
    doc = _doc(2.0, 0.5, 1.1)
    assert doc["machine"]["cores"] >= 1 and doc["machine"]["cpu"]
    assert doc["date"].startswith("20") and doc["commit"] and doc["command"].startswith("syncd")
    path = tmp_path / "run.json"
    bench_results.write(path, doc)
    assert bench_results.load(path) == json.loads(path.read_text(encoding="utf-8")) == doc


def test_compare_given_two_runs_lists_each_changed_figure_with_its_change() -> None:
    old, new = _doc(2.0, 0.5, 1.1), _doc(3.0, 0.5, 1.5)
    rows = {key: (x, y, change) for key, x, y, change in bench_results.compare(old, new)}
    assert rows["cpu_ms_per_order"] == (2.0, 3.0, 0.5)
    assert rows["calls_vs_floor[douyin order.searchList].ratio"][:2] == (1.1, 1.5)
    assert "cpu_ms_per_order_by_stage.pull" not in rows  # unchanged
    assert "peak_rss_mb" not in rows
    text = bench_results.format_compare(old, new)
    assert "cpu_ms_per_order" in text and "+50.0%" in text


def test_compare_given_a_figure_only_one_run_has_says_added_or_gone() -> None:
    old, new = _doc(2.0, 0.5, 1.1), _doc(2.0, 0.5, 1.1)
    new["figures"]["floor_cpu_ms_per_order"] = 0.4
    del new["figures"]["cpu_ms_per_order_by_stage"]["route"]
    text = bench_results.format_compare(old, new)
    assert "floor_cpu_ms_per_order" in text and "added" in text
    assert "cpu_ms_per_order_by_stage.route" in text and "gone" in text


def test_load_given_a_file_that_is_no_bench_result_refuses_it_by_name(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('{"orders": 1}', encoding="utf-8")
    with pytest.raises(SystemExit, match=r"x\.json is not a bench result"):
        bench_results.load(bad)
    with pytest.raises(SystemExit, match="cannot read"):
        bench_results.load(tmp_path / "missing.json")


def test_markdown_is_one_table_headed_by_date_commit_and_machine() -> None:
    md = bench_results.markdown(_doc(2.0, 0.5, 1.1))
    head, _, table = md.partition("| figure | value |")
    assert "commit" in head and "Machine:" in head and "cores" in head
    assert "| cpu ms per order | 2.0 |" in table
    assert "| cpu ms per order by stage.pull | 0.5 |" in table
    assert "order.searchList].ratio | 1.1 |" in table

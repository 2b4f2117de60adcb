"""The stock benchmark's bookkeeping (its speed figures are the benchmark's business, not asserted here)."""

from __future__ import annotations

from syncd.stock import bench
from syncd.stockmodel import ListingSku


def _sku(product: str, n: int) -> ListingSku:
    return ListingSku(product, f"S{n}", f"M{n}")


def test_floor_counts_full_batches_per_platform_rule() -> None:
    assert bench.floor_calls({"douyin": [_sku(f"P{n}", n) for n in range(101)]}) == 3  # 50 across products
    assert bench.floor_calls({"pdd": [_sku("P", n) for n in range(7)]}) == 7  # one SKU a call
    assert bench.floor_calls({"taobao": [_sku("A", n) for n in range(21)] + [_sku("B", 99)]}) == 3  # 20 per item


def test_a_small_run_writes_every_sku_once_at_the_floor_and_then_only_the_changed() -> None:
    figures = bench.run_stock_bench(600, zero_events=0)

    assert figures["written_full"] == 600
    assert figures["calls_full"] == figures["floor_full"]
    assert 0 < figures["written_delta"] <= 30  # 5 % of the figures moved; those at the cap show no change
    assert figures["calls_delta"] == figures["floor_delta"]
    assert "calls" in bench.render(figures)


def test_syncd_bench_stock_prints_the_figures_and_writes_json(tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import json

    from syncd.cli import main

    monkeypatch.setattr(bench, "_zero_latency", lambda *a: [])  # its pushes are timed: the benchmark's business
    out = tmp_path / "stock.json"
    assert main(["bench", "--stock", "90", "--json", str(out)]) == 0

    assert "stock bench: 90 SKUs across 3 shops" in capsys.readouterr().out
    assert json.loads(out.read_text(encoding="utf-8"))["written_full"] == 90

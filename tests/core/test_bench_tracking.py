"""``syncd bench --tracking``: a small run against the real simulators' process; structure and counts, no timing."""

from __future__ import annotations

import argparse

import pytest

from syncd import bench_tracking
from syncd.cli import build_parser

PARCELS = 200


@pytest.fixture(scope="module")
def result() -> dict[str, object]:
    return bench_tracking.run_tracking_bench(PARCELS)


@pytest.mark.e2e
def test_tracking_bench_given_200_parcels_queries_each_exactly_once(result: dict[str, object]) -> None:
    r = result
    track = r["track"]
    assert isinstance(track, dict)
    assert r["parcels"] == PARCELS and r["database"] == "sqlite"
    # the daemon asked once per parcel, the simulator saw each number once and nothing more, every row was checked
    assert track["queries"] == track["simulator_queries"] == track["simulator_numbers"] == PARCELS
    assert track["parcels_checked"] == track["shipments_checked"] == PARCELS
    assert track["queries_per_parcel"] == 1.0
    assert track["http_calls"] == {"kuaidi100 query": PARCELS}
    assert track["passes"] >= PARCELS // bench_tracking.track.BATCH + 1  # the last pass finds nothing due
    assert track["failures"] == []
    assert sum(track["logistics_states"].values()) == PARCELS
    assert bench_tracking.complete(r)


@pytest.mark.e2e
def test_tracking_bench_given_200_parcels_reports_positive_figures_for_each_stage(result: dict[str, object]) -> None:
    r = result
    track, first, steady = r["track"], r["watch_first"], r["watch_steady"]
    assert isinstance(track, dict) and isinstance(first, dict) and isinstance(steady, dict)
    for figures in (track, first, steady):
        assert figures["cpu_ms_per_parcel"] > 0 and figures["db_statements_per_parcel"] > 0
        assert figures["wall_seconds"] > 0
    assert track["tracking_events"] > 0
    # the scripted histories include parcels without a pickup and in trouble: the first pass opens their alerts
    # and queues one notification each for the one channel; the steady pass changes nothing
    assert first["alerts_opened"] > 0 and first["notifications_queued"] == first["alerts_opened"]
    assert first["http_calls"].get("alerts wecom", 0) > 0 and first["failures"] == []
    assert steady["alerts_opened"] == 0 and steady["notifications_queued"] == 0 and steady["failures"] == []
    assert steady["db_statements"] < first["db_statements"]
    open_alerts = r["open_alerts"]
    assert isinstance(open_alerts, dict) and sum(open_alerts.values()) == first["alerts_opened"]
    rss = r["peak_rss_mb"]
    assert isinstance(rss, dict) and rss["end"] >= rss["after_setup"] > 0
    table = bench_tracking.format_table(r)
    assert "track, every parcel once" in table and "watch, steady pass" in table and "FAILURES" not in table


def test_bench_cli_given_tracking_dispatches_to_the_tracking_bench(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[argparse.Namespace] = []
    monkeypatch.setattr(bench_tracking, "main", lambda args: seen.append(args) or 0)
    args = build_parser().parse_args(["bench", "--tracking", "123"])
    assert args.fn(args) == 0
    assert len(seen) == 1 and seen[0].tracking == 123 and seen[0].postgres is None

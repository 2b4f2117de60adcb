"""``syncd catalog`` and ``syncd stock`` as an operator runs them, against the sandbox world."""

from __future__ import annotations

import json

import pytest

from syncd.cli import main
from tests.stock.conftest import World


@pytest.fixture
def cli(world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    for key, value in world.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SYNCD_LANG", "en")

    def run(*argv: str) -> tuple[int, str]:
        code = main(list(argv))
        return code, capsys.readouterr().out
    return run


def test_catalog_sync_reads_each_shop_and_check_reports_unrouted_codes(cli) -> None:  # type: ignore[no-untyped-def]
    code, out = cli("catalog", "sync", "pdd-demo")
    assert code == 0 and "pdd-demo: 13 SKU(s) listed, 13 with a merchant code" in out

    code, out = cli("catalog", "check", "--json")

    found = json.loads(out)
    assert code == 1  # findings: a cron job notices
    assert {(f["shop"], f["sku"], f["kind"]) for f in found} >= {("pdd-demo", "SB-HAT-NEW", "unrouted"),
                                                                  ("douyin-demo", "SB-BAG-CANVAS", "unrouted")}
    assert all(f["kind"] == "unrouted" for f in found)


def test_catalog_sync_of_a_shop_without_stock_sync_is_refused(cli) -> None:  # type: ignore[no-untyped-def]
    code, _out = cli("catalog", "sync", "no-such-shop")
    assert code == 4


def test_stock_sync_dry_run_writes_nothing_then_sync_writes(cli, world: World) -> None:  # type: ignore[no-untyped-def]
    code, out = cli("stock", "sync", "--dry-run", "--json")
    plan = json.loads(out)
    assert code == 0 and plan["dry_run"] and plan["calls"] == 0
    assert {p["merchant_sku"] for p in plan["plans"]} == {"SB-MUG-WHT", "SB-UMB-BLK", "SB-BOTTLE-500", "SB-CABLE-2PK"}
    assert world.shown("SB-MUG-WHT") == {"douyin": 100, "pdd": 100, "taobao": 100}

    code, out = cli("stock", "sync", "--shop", "taobao-demo", "--sku", "SB-MUG-WHT")

    assert code == 0 and "1 written" in out
    assert world.shown("SB-MUG-WHT") == {"douyin": 100, "pdd": 100, "taobao": 498}


def test_stock_status_shows_supply_written_and_margin(cli) -> None:  # type: ignore[no-untyped-def]
    cli("stock", "sync")

    code, out = cli("stock", "status", "--sku", "SB-MUG-WHT", "--json")

    rows = json.loads(out)
    assert code == 0 and {r["shop"] for r in rows} == {"douyin-demo", "pdd-demo", "taobao-demo"}
    assert all(r["written"] == 498 and r["supply"][0]["quantity"] == 500 for r in rows)
    code, out = cli("stock", "status", "--shop", "pdd-demo")
    assert code == 0 and "SB-MUG-WHT" in out and "ali-factory:" in out


def test_stock_release_of_a_sku_not_held_says_so(cli) -> None:  # type: ignore[no-untyped-def]
    code, _out = cli("stock", "release", "SB-MUG-WHT", "--by", "ops")
    assert code == 4

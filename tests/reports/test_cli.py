"""``syncd report``: the Chinese table by default, CSV and XLSX for spreadsheets, usage errors."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from syncd import i18n
from syncd.cli import EXIT_USAGE, main
from syncd.store.db import open_database
from syncd.store.migrate import upgrade
from tests.reports.data import seed

ARGS = ["report", "--from", "2026-11-10", "--to", "2026-11-11"]


@pytest.fixture(autouse=True)
def _seeded(env: Path, tmp_path: Path) -> None:
    """The sandbox configuration (tests/core's ``env``) and the hand-checked data set in its database."""
    (tmp_path / "data").mkdir()
    db = open_database(f"sqlite:///{tmp_path / 'data' / 'syncd.db'}")
    upgrade(db)
    seed(db)
    db.dispose()


def test_report_table_in_chinese_by_default(env: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv(i18n.ENV_LANG)
    with i18n.use("zh-CN", i18n.DEFAULT_TIMEZONE):
        assert main([*ARGS, "--by", "shop"]) == 0
    out = capsys.readouterr().out
    assert "== 成本与毛利 ==" in out and "== 处理时效 ==" in out
    total = next(line for line in out.splitlines() if line.startswith("合计") and "70.00" in line)
    # orders, revenue, commission (the sandbox shops have no rate), cost, margin in yuan
    assert total.split()[1:6] == ["5", "70.00", "0.00", "74.00", "-4.00"]
    assert "付款→发给供应商" in out and "1小时0分" in out


def test_report_csv_has_yuan_and_hours_as_numbers(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*ARGS, "--by", "supplier", "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    header = next(r for r in rows if r[:2] == ["supplier", "orders"])
    ali = next(r for r in rows[rows.index(header):] if r[0] == "ali")
    assert dict(zip(header, ali, strict=True))["supplier cost (yuan)"] == "50.00"
    speed = next(r for r in rows if r[:3] == ["total", "paid → sent to supplier", "7"])
    assert speed[3:] == ["1.00", "2.40", "3.00"]  # median, 90th percentile, longest: hours


def test_report_xlsx_one_sheet_per_section_and_no_formula(env: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.xlsx"
    from sqlalchemy import update

    from syncd.store.models import OrderLine

    db = open_database(f"sqlite:///{tmp_path / 'data' / 'syncd.db'}")
    with db.begin() as s:  # a seller's SKU code that a spreadsheet would run as a formula
        s.execute(update(OrderLine).where(OrderLine.merchant_sku == "SKU-C").values(merchant_sku="=HYPERLINK(1)"))
    db.dispose()
    assert main([*ARGS, "--by", "sku", "--format", "xlsx", "--output", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    wb = load_workbook(out)
    assert wb.sheetnames == ["Processing speed", "Shipped before the ship-by time", "Logistics",
                             "Delivery by province", "Cost and margin"]
    money = [[c.value for c in row] for row in wb["Cost and margin"].iter_rows(min_row=3)]
    skus = {r[0]: r for r in money if r[0]}
    assert skus["'=HYPERLINK(1)"][7] == 1  # counted as missing a cost, and text, not a formula
    assert float(skus["SKU-B"][4]) == 48.25


@pytest.mark.parametrize(("extra", "message"), [
    (["--format", "xlsx"], "--format xlsx needs --output FILE"),
    (["--to", "2026-11-01"], "the period ends (2026-11-01) before it starts (2026-11-10)"),
])
def test_report_usage_errors(env: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str) -> None:
    assert main(["report", "--from", "2026-11-10", *extra]) == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_report_refuses_a_date_that_is_not_one(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["report", "--from", "10/11/2026"])
    assert exc.value.code == EXIT_USAGE
    assert "expected a date as YYYY-MM-DD, found '10/11/2026'" in capsys.readouterr().err


def test_report_rebuild_summary_computes_every_day_in_chinese(env: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from sqlalchemy import func, select

    from syncd.store.models import ReportDay

    monkeypatch.delenv(i18n.ENV_LANG)
    with i18n.use("zh-CN", i18n.DEFAULT_TIMEZONE):
        assert main(["report", "--rebuild-summary"]) == 0
    assert "报表日汇总已重建" in capsys.readouterr().out
    db = open_database(f"sqlite:///{tmp_path / 'data' / 'syncd.db'}")
    with db.engine.connect() as c:  # the data set's first day of payment (Beijing 2026-11-09) to yesterday
        assert c.scalar(select(func.min(ReportDay.day)).where(ReportDay.clean.is_(True))) == "2026-11-09"
    db.dispose()
    assert main(ARGS) == 0  # the report reads it


def test_report_without_from_or_rebuild_is_a_usage_error(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report"]) == EXIT_USAGE
    assert "--from" in capsys.readouterr().err

"""The daily digest's three report lines: the day before's orders, on-time rate and margin."""

from __future__ import annotations

from typing import Any

from syncd.alerts.daily import Yesterday, render, summarize, yesterday_lines
from syncd.reports import MarginRow
from syncd.store.db import Database
from tests.reports.data import OPTIONS, at


def test_digest_gives_yesterdays_orders_on_time_rate_and_margin(seeded: tuple[Database, Any]) -> None:
    db, _ = seeded
    summary = summarize(db, at(12, 1), OPTIONS)  # 09:00 Beijing on the 12th: yesterday is the 11th
    y = summary.yesterday
    assert y is not None
    # paid on the 11th (Beijing): O3, O4, O5, O10; O4 on time, O5 late, O3 refunded and O10 without ship-by
    assert (y.day, y.orders, y.on_time, y.late, y.pending) == ("2026-11-11", 4, 1, 1, 0)
    assert (y.money.orders, y.money.revenue_fen, y.money.margin_fen, y.money.missing_cost) == (3, 1000, -2150, 1)
    lines = render(summary).lines
    assert "Orders paid 2026-11-11: 4." in lines
    assert "On time (tracking on the storefront by the ship-by time): 50.0% — 1 of 2; 0 not due yet." in lines
    assert ("Margin: -21.50 yuan on 10.00 yuan of sales, 3 orders at suppliers (1 without a known cost, left out)."
            in lines)


def test_digest_of_a_quiet_day_says_so_without_dividing_by_zero(db: Database) -> None:
    summary = summarize(db, at(12, 1))
    assert summary.yesterday == Yesterday("2026-11-11")
    assert yesterday_lines(Yesterday("2026-11-11", money=MarginRow("", orders=0))) == [
        "Orders paid 2026-11-11: 0.",
        "On time: none of those orders shipped or due yet (0 not due yet).",
        "Margin: 0.00 yuan on 0.00 yuan of sales, 0 orders at suppliers."]

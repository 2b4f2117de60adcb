"""What the storefront stock modules share: deep paging, floors named in refusals, batch fallback."""

from __future__ import annotations

import pytest

from syncd.adapters.common.catalog import Page, deep_pages, floor_in, write_with_fallback
from syncd.errors import RejectedError, TransientError
from syncd.stockmodel import StockWrite, StockWriteResult


def test_deep_pages_given_endless_full_pages_without_a_total_stops_at_the_depth() -> None:
    calls: list[int] = []

    def fetch(lo: int, hi: int, page: int) -> Page:
        calls.append(page)
        return Page(list(range(10)), None)

    got = list(deep_pages(fetch, 0, 100, first_page=1, page_size=10, depth=50, what="test"))

    assert calls == [1, 2, 3, 4, 5] and len(got) == 50


def test_deep_pages_given_a_window_over_the_depth_halves_it_until_each_half_fits() -> None:
    asked: list[tuple[int, int, int]] = []
    stamps = list(range(0, 100))  # one entry per second

    def fetch(lo: int, hi: int, page: int) -> Page:
        asked.append((lo, hi, page))
        inside = [s for s in stamps if lo <= s <= hi]
        return Page(inside[(page - 1) * 10:page * 10], len(inside))

    got = list(deep_pages(fetch, 0, 99, first_page=1, page_size=10, depth=30, what="test"))

    assert set(got) == set(stamps)
    assert all(hi - lo <= 30 for lo, hi, page in asked if page > 1)


@pytest.mark.parametrize(("message", "floor"), [
    ("当前商品的部分SKU库存不得低于活动/达人专属价设置的库存数 12", 12),
    ("该商品在资源位中，库存不可减少至 20 以下", 20),
    ("库存不得低于活动库存", None),
    ("活动 3 锁定 5 件", None),  # two numbers: which one is the floor is not known
    ("price 1.5 too low", None),
])
def test_floor_in_takes_the_one_whole_number_a_refusal_names(message: str, floor: int | None) -> None:
    assert floor_in(message) == floor


def test_write_with_fallback_given_the_batch_refused_then_a_busy_sku_marks_it_and_the_rest_retryable() -> None:
    writes = [StockWrite("p", str(i), 1) for i in range(4)]

    def batch(ws: object) -> list[StockWriteResult]:
        raise RejectedError("batch refused", code="x")

    def one(w: StockWrite) -> StockWriteResult:
        if w.sku_id == "2":
            raise TransientError("busy", code="busy")
        return StockWriteResult(w.sku_id, ok=True)

    got = write_with_fallback(writes, batch, one, "test")

    assert [(r.sku_id, r.ok, r.retryable) for r in got] == [("0", True, False), ("1", True, False),
                                                            ("2", False, True), ("3", False, True)]

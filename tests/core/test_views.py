"""How the CLI shows things to a person: CJK-aligned tables and times in Beijing time to the second."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from syncd.clock import local_text
from syncd.views import clip, table, width


def test_width_given_chinese_text_counts_two_columns_per_character():
    assert width("abc") == 3
    assert width("连衣裙") == 6
    assert width("红色，XL") == 8  # the fullwidth comma is wide too


def test_table_given_chinese_cells_lines_up_the_next_column_on_screen():
    out = table(("title", "qty"), [["连衣裙 红色", 2], ["T-shirt", 10]], right=(1,)).splitlines()
    # the right-aligned last column ends at the same screen column on every line, whatever the script
    assert {width(line) for line in out} == {width("连衣裙 红色") + 2 + width("qty")} == {16}
    assert out[2].endswith(" 2") and out[3].endswith("10")


def test_table_given_a_long_or_multiline_cell_clips_it_and_keeps_one_line_per_row():
    out = table(("note",), [["第一行\n第二行"], ["很" * 50]], max_width=10).splitlines()
    assert len(out) == 4
    assert out[2] == "第一行 第…"
    assert width(out[3]) <= 10 and out[3].endswith("…")
    assert clip("short", 10) == "short"


def test_local_text_shows_beijing_time_to_the_second_without_microseconds_or_offset():
    at = datetime(2026, 12, 6, 3, 52, 2, 123456, tzinfo=UTC)
    assert local_text(at) == "2026-12-06 11:52:02"
    assert local_text(at.isoformat()) == "2026-12-06 11:52:02"  # the JSON views' ISO text
    assert local_text(None) == "-"
    assert local_text(at, ZoneInfo("Europe/Berlin")) == "2026-12-06 04:52:02"
    assert local_text("not a time") == "not a time"

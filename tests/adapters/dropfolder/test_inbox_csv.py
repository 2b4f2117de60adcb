"""parse_inbox on CSV replies: encodings, delimiters, header aliases, cleaning, rejected rows."""

from __future__ import annotations

import pytest

from syncd.adapters.dropfolder.rows import CARRIER_ALIASES, ORDER_ALIASES, SUB_ORDER_ALIASES, TRACKING_ALIASES

from .conftest import inbox_file

HEADER = ["订单号", "快递公司", "快递单号"]
ORDER = "6923456789012345678"


def only_row(parsed):
    assert parsed.file_error is None
    assert parsed.errors == []
    [row] = parsed.rows
    return row


def reasons(parsed) -> dict[int, str]:
    return {e.row_no: e.reason for e in parsed.errors}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16"])
def test_reply_in_each_encoding_is_read(adapter, write_csv, encoding):
    f = write_csv([HEADER, [ORDER, "中通快递", "75123456789012"], ["2", "韵达", "4312345678901"]],
                  encoding=encoding)
    parsed = adapter.parse_inbox(f)
    assert parsed.file_error is None and parsed.errors == []
    assert [(r.order_no, r.carrier, r.carrier_text, r.tracking_nos) for r in parsed.rows] == [
        (ORDER, "zhongtong", "中通快递", ["75123456789012"]),
        ("2", "yunda", "韵达", ["4312345678901"]),
    ]


def test_big5_reply_with_traditional_headers_and_carrier_is_read(adapter, write_csv):
    f = write_csv([["訂單號", "快遞公司", "快遞單號"], [ORDER, "順豐速運", "SF1234567890123"]], encoding="big5")
    row = only_row(adapter.parse_inbox(f))
    assert (row.order_no, row.carrier, row.tracking_nos) == (ORDER, "shunfeng", ["SF1234567890123"])


@pytest.mark.parametrize("delimiter", [",", "\t", ";"])
def test_delimiter_is_sniffed(adapter, write_csv, delimiter):
    f = write_csv([HEADER, [ORDER, "圆通", "YT1234567890123, YT1234567890124"]], delimiter=delimiter)
    row = only_row(adapter.parse_inbox(f))
    assert row.tracking_nos == ["YT1234567890123", "YT1234567890124"]


@pytest.mark.parametrize("alias", ORDER_ALIASES)
def test_each_order_number_alias_is_recognised(adapter, write_csv, alias):
    f = write_csv([[alias, "快递公司", "快递单号"], [ORDER, "中通", "75123456789012"]])
    assert only_row(adapter.parse_inbox(f)).order_no == ORDER


@pytest.mark.parametrize("alias", TRACKING_ALIASES)
def test_each_tracking_number_alias_is_recognised(adapter, write_csv, alias):
    f = write_csv([["订单号", "快递公司", alias], [ORDER, "中通", "75123456789012"]])
    assert only_row(adapter.parse_inbox(f)).tracking_nos == ["75123456789012"]


@pytest.mark.parametrize("alias", CARRIER_ALIASES)
def test_each_carrier_alias_is_recognised(adapter, write_csv, alias):
    f = write_csv([["订单号", alias, "快递单号"], [ORDER, "中通", "75123456789012"]])
    assert only_row(adapter.parse_inbox(f)).carrier == "zhongtong"


@pytest.mark.parametrize("alias", SUB_ORDER_ALIASES)
def test_each_sub_order_alias_is_recognised(adapter, write_csv, alias):
    f = write_csv([["订单号", alias, "快递公司", "快递单号"], [ORDER, ORDER + "01", "中通", "75123456789012"]])
    assert only_row(adapter.parse_inbox(f)).sub_order_no == ORDER + "01"


@pytest.mark.parametrize("header", [" 订单号 ", "ORDER ID", "Order_No", "ｏｒｄｅｒ＿ｎｏ", "订单号(必填)", "*订单号"])
def test_header_matches_ignoring_spaces_case_width_and_notes(adapter, write_csv, header):
    f = write_csv([[header, "快递公司", " Tracking_No "], [ORDER, "中通", "75123456789012"]])
    assert only_row(adapter.parse_inbox(f)).order_no == ORDER


def test_header_our_outbox_used_for_order_no_is_recognised(make_adapter, write_csv):
    adapter = make_adapter(columns=[{"header": "单号", "field": "order_no"}])
    f = write_csv([["单号", "快递公司", "快递单号"], [ORDER, "中通", "75123456789012"]])
    assert only_row(adapter.parse_inbox(f)).order_no == ORDER


def test_specific_order_header_wins_over_the_suppliers_own_order_id(adapter, write_csv):
    f = write_csv([["订单编号", "外部订单号", "快递公司", "快递单号"], ["S-001", ORDER, "中通", "75123456789012"]])
    assert only_row(adapter.parse_inbox(f)).order_no == ORDER


def test_header_below_title_rows_is_found_and_row_numbers_are_sheet_rows(adapter, write_csv):
    f = write_csv([["ACME 发货回单 2026-11-22"], [], HEADER, [ORDER, "中通", "75123456789012"], [],
                   ["7", "中通", "75123456789013"]])
    parsed = adapter.parse_inbox(f)
    assert [r.row_no for r in parsed.rows] == [4, 6]
    assert parsed.errors == []  # the empty row 5 is skipped, not an error


def test_header_after_the_tenth_row_is_not_looked_for(adapter, write_csv):
    f = write_csv([["说明"]] * 10 + [HEADER, [ORDER, "中通", "75123456789012"]])
    assert adapter.parse_inbox(f).file_error is not None


def test_file_without_header_gives_file_error_naming_the_headers_looked_for(adapter, write_csv):
    f = write_csv([["单号", "物流", "号码"], [ORDER, "中通", "75123456789012"]])
    parsed = adapter.parse_inbox(f)
    assert parsed.rows == [] and parsed.errors == []
    assert "no header row" in parsed.file_error
    assert "订单号" in parsed.file_error and "快递单号" in parsed.file_error


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b" \r\n\r\n"])
def test_empty_file_gives_file_error(adapter, content):
    path = adapter.inbox_dir / "blank.csv"
    path.write_bytes(content)
    assert adapter.parse_inbox(inbox_file(path)).file_error == "file is empty"


def test_undecodable_bytes_give_file_error(adapter, write_csv):
    f = write_csv([["x"]])
    (adapter.inbox_dir / f.name).write_bytes(b"\x80\xff\x80\xff")
    parsed = adapter.parse_inbox(inbox_file(adapter.inbox_dir / f.name))
    assert parsed.file_error == "cannot decode the file as UTF-8, UTF-16, GB18030 or Big5 text"


def test_file_changed_after_listing_gives_file_error(adapter, write_csv):
    f = write_csv([HEADER, [ORDER, "中通", "75123456789012"]])
    (adapter.inbox_dir / f.name).write_text("订单号,快递公司,快递单号\n1,中通,75123456789099\n")
    assert "changed after it was listed" in adapter.parse_inbox(f).file_error


@pytest.mark.parametrize(("cell", "expected"), [
    ("75123456789012,75123456789013", ["75123456789012", "75123456789013"]),
    ("75123456789012，75123456789013", ["75123456789012", "75123456789013"]),
    ("75123456789012\n75123456789013", ["75123456789012", "75123456789013"]),
    ("75123456789012; 75123456789013 / 75123456789014", ["75123456789012", "75123456789013", "75123456789014"]),
    ("75123456789012 75123456789012", ["75123456789012"]),
])
def test_several_tracking_numbers_in_one_cell_are_split(adapter, write_csv, cell, expected):
    f = write_csv([HEADER, [ORDER, "中通", cell]])
    assert only_row(adapter.parse_inbox(f)).tracking_nos == expected


@pytest.mark.parametrize("carrier", ["中通", "中通快递", "ZTO", "zto", "ｚｔｏ", " 中通 ", "中通快递（杭州网点）"])
def test_carrier_variants_map_to_one_code_and_keep_the_text(adapter, write_csv, carrier):
    f = write_csv([HEADER, [ORDER, carrier, "75123456789012"]])
    row = only_row(adapter.parse_inbox(f))
    assert row.carrier == "zhongtong"
    assert row.carrier_text == carrier.strip()


@pytest.mark.parametrize(("order_cell", "tracking_cell"), [
    ("'" + ORDER, "'75123456789012"),
    ("\t" + ORDER, "\t75123456789012"),
    ('="' + ORDER + '"', '="75123456789012"'),
    ("”" + ORDER + "“", '"75123456789012"'),
    ("６９２３４５６７８９０１２３４５６７８", "ｓｆ１２３４５６７８９０"),
    ("  " + ORDER + "  ", " sf1234567890 "),
])
def test_spreadsheet_wrappers_around_ids_are_stripped(adapter, write_csv, order_cell, tracking_cell):
    f = write_csv([HEADER, [order_cell, "顺丰", tracking_cell]])
    row = only_row(adapter.parse_inbox(f))
    assert row.order_no == ORDER
    assert row.tracking_nos[0] in ("75123456789012", "SF1234567890")


def test_raw_keeps_every_original_column_as_written(adapter, write_csv):
    f = write_csv([["订单号", "收件人", "快递公司", "快递单号", ""], [ORDER, "张三", "中通", "'75123456789012", "x"]])
    row = only_row(adapter.parse_inbox(f))
    assert row.raw == {"订单号": ORDER, "收件人": "张三", "快递公司": "中通", "快递单号": "'75123456789012", "列E": "x"}


def test_duplicate_and_blank_headers_get_distinct_raw_names(adapter, write_csv):
    f = write_csv([["订单号", "备注", "快递公司", "快递单号", "备注", ""],
                   [ORDER, "a", "中通", "75123456789012", "b", "c"]])
    assert only_row(adapter.parse_inbox(f)).raw == {
        "订单号": ORDER, "备注": "a", "快递公司": "中通", "快递单号": "75123456789012", "备注(2)": "b", "列F": "c"}


def test_each_bad_row_kind_is_rejected_with_its_reason_and_good_rows_still_come_back(adapter, write_csv):
    f = write_csv([
        HEADER,
        [ORDER, "中通", "75123456789012"],           # 2 good
        ["", "中通", "75123456789013"],              # 3 empty order number
        ["1002", "中通", ""],                        # 4 empty tracking number
        ["1003", "中通", "7.73061E+14"],             # 5 tracking in scientific notation
        ["4.41625E+17", "中通", "75123456789014"],   # 6 order in scientific notation
        ["1005", "火星快递", "75123456789015"],      # 7 unknown carrier
        ["1006", "", "75123456789016"],             # 8 empty carrier
        ["1007", "中通", "7512345678901.0"],         # 9 tracking saved as a decimal number
        ["1008", "中通", "AB12"],                    # 10 too short
        ["1009", "中通", "75123456789017"],          # 11 good
    ])
    parsed = adapter.parse_inbox(f)
    assert [r.order_no for r in parsed.rows] == [ORDER, "1009"]
    got = reasons(parsed)
    assert got[3] == "empty order number"
    assert got[4] == "empty tracking number"
    assert got[5] == ("tracking number '7.73061E+14' is in scientific notation: Excel damaged it, "
                      "re-type it as text")
    assert got[6].startswith("order number '4.41625E+17' is in scientific notation")
    assert got[7] == "unknown carrier '火星快递'"
    assert got[8] == "empty carrier"
    assert got[9].startswith("tracking number '7512345678901.0' has a decimal point")
    assert got[10] == "tracking number 'AB12' is not 6-32 letters, digits or '-'"
    assert sorted(got) == [3, 4, 5, 6, 7, 8, 9, 10]
    assert parsed.errors[0].raw == {"订单号": "", "快递公司": "中通", "快递单号": "75123456789013"}


def test_row_with_several_problems_lists_them_all(adapter, write_csv):
    f = write_csv([HEADER, ["", "火星快递", ""]])
    assert reasons(adapter.parse_inbox(f)) == {
        2: "empty order number; empty tracking number; unknown carrier '火星快递'"}


def test_one_bad_number_among_several_rejects_the_row(adapter, write_csv):
    f = write_csv([HEADER, [ORDER, "中通", "75123456789012, 7.73061E+14"]])
    parsed = adapter.parse_inbox(f)
    assert parsed.rows == []
    assert "scientific notation" in parsed.errors[0].reason


def test_file_without_carrier_column_rejects_rows_saying_so(adapter, write_csv):
    f = write_csv([["订单号", "快递单号"], [ORDER, "75123456789012"]])
    parsed = adapter.parse_inbox(f)
    assert parsed.rows == []
    assert parsed.errors[0].reason.startswith("empty carrier (the file has no carrier column")


def test_same_order_and_tracking_on_several_lines_all_come_back(adapter, write_csv):
    f = write_csv([HEADER, [ORDER, "中通", "75123456789012"], [ORDER, "中通", "75123456789012"]])
    assert [r.row_no for r in adapter.parse_inbox(f).rows] == [2, 3]


def test_short_rows_are_padded_and_extra_cells_ignored(adapter, write_csv):
    f = write_csv([[*HEADER, "备注"], [ORDER, "中通", "75123456789012"], ["1", "中通", "75123456789013", "x", "y"]])
    parsed = adapter.parse_inbox(f)
    assert [r.order_no for r in parsed.rows] == [ORDER, "1"]
    assert parsed.rows[0].raw["备注"] == ""


def test_csv_that_is_really_a_workbook_is_read_as_a_workbook(adapter, write_xlsx):
    f = write_xlsx([HEADER, [ORDER, "中通", "75123456789012"]], name="renamed.csv")
    assert only_row(adapter.parse_inbox(f)).order_no == ORDER

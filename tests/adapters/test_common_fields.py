"""The shared storefront field readers (adapters/common/fields.py): what each accepts, and each refusal's words."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from syncd.adapters.common.fields import (
    as_object,
    identifier,
    integer,
    nonempty_list,
    obj,
    objects,
    shanghai_time,
    text,
)
from syncd.errors import ProtocolError

MISSING = object()  # the key is not in the payload at all


def _raw(value: Any) -> dict[str, Any]:
    return {} if value is MISSING else {"k": value}


def _refusal(call: Any, *args: Any) -> str:
    with pytest.raises(ProtocolError) as err:
        call(*args)
    return str(err.value)


# ---- as_object ---------------------------------------------------------------------------------


def test_as_object_given_an_object_returns_it_unchanged() -> None:
    value = {"order_id": "1"}

    assert as_object(value, "order 1 line 0") is value


@pytest.mark.parametrize(("value", "kind"), [([], "list"), ("x", "str"), (None, "NoneType"), (3, "int")])
def test_as_object_given_anything_else_refuses_naming_where_and_what_was_found(value: Any, kind: str) -> None:
    assert _refusal(as_object, value, "order 1 line 0") == f"order 1 line 0: expected an object, found {kind}"


# ---- identifier --------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("6921234567890", "6921234567890"),
    ("  251122-512345678901234 ", "251122-512345678901234"),  # stripped
    (6921234567890, "6921234567890"),  # a JSON number: its digits
    (0, "0"),
])
def test_identifier_given_text_or_an_integer_returns_its_stripped_text(value: Any, expected: str) -> None:
    assert identifier(_raw(value), "k", "order") == expected


@pytest.mark.parametrize("value", [MISSING, None, "", "   ", True, False, 1.5, [], {}])
def test_identifier_given_no_usable_id_refuses_as_missing_or_not_a_string(value: Any) -> None:
    assert _refusal(identifier, _raw(value), "k", "order") == "order: k is missing or not a string"


# ---- text --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    (MISSING, ""),
    (None, ""),
    ("", ""),
    (" 请用顺丰 ", " 请用顺丰 "),  # as given: a caller strips where it means to
    (1176812345001, "1176812345001"),
    (0, "0"),
    (-5, "-5"),
])
def test_text_given_text_an_integer_or_nothing_returns_text(value: Any, expected: str) -> None:
    assert text(_raw(value), "k", "order 1") == expected


@pytest.mark.parametrize(("value", "kind"), [(True, "bool"), (False, "bool"), (1.5, "float"), ([], "list"),
                                             ({}, "dict")])
def test_text_given_another_type_refuses_naming_the_type(value: Any, kind: str) -> None:
    assert _refusal(text, _raw(value), "k", "order 1") == f"order 1: k is {kind}, expected text"


# ---- integer -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    (MISSING, None),
    (None, None),
    ("", None),
    (0, 0),
    (105, 105),
    (-1, -1),
    ("105", 105),
    (" 105 ", 105),
    ("-1", -1),
])
def test_integer_given_a_number_digits_or_nothing_returns_the_integer_or_none(value: Any, expected: int | None) -> None:
    assert integer(_raw(value), "k", "order 1") == expected


@pytest.mark.parametrize(("value", "kind"), [
    (True, "bool"),
    (False, "bool"),
    (1.0, "float"),
    ("1.5", "str"),
    ("abc", "str"),
    (" ", "str"),
    ("-", "str"),
    ("--5", "str"),  # lstrip("-") once took this for digits, and int() then failed with a bare ValueError
    ("²", "str"),  # str.isdigit() is true for superscripts
    ([], "list"),
    ({}, "dict"),
])
def test_integer_given_anything_else_refuses_naming_the_type(value: Any, kind: str) -> None:
    assert _refusal(integer, _raw(value), "k", "order 1") == f"order 1: k is {kind}, expected an integer"


# ---- obj ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [MISSING, None])
def test_obj_given_nothing_returns_an_empty_object(value: Any) -> None:
    assert obj(_raw(value), "k", "order 1") == {}


def test_obj_given_an_object_returns_it_unchanged() -> None:
    inner = {"name": "浙江省"}

    assert obj({"k": inner}, "k", "order 1") is inner


@pytest.mark.parametrize(("value", "kind"), [("", "str"), (0, "int"), ([], "list"), (False, "bool")])
def test_obj_given_anything_else_refuses_naming_the_type(value: Any, kind: str) -> None:
    assert _refusal(obj, _raw(value), "k", "order 1") == f"order 1: k is {kind}, expected an object"


# ---- objects -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [MISSING, None, "", 0, False, [], {}])
def test_objects_given_nothing_or_an_empty_value_returns_an_empty_list(value: Any) -> None:
    assert objects(_raw(value), "k", "order 1") == []


def test_objects_given_a_list_of_objects_returns_it_unchanged() -> None:
    value = [{"tracking_no": "SF1"}, {}]

    assert objects({"k": value}, "k", "order 1") is value


@pytest.mark.parametrize("value", [[{"a": 1}, "x"], [None], {"a": 1}, "SF1", 7])
def test_objects_given_anything_but_a_list_of_objects_refuses(value: Any) -> None:
    assert _refusal(objects, _raw(value), "k", "order 1") == "order 1: k is not a list of objects"


# ---- nonempty_list -----------------------------------------------------------------------------


def test_nonempty_list_given_entries_returns_the_list_unchanged_whatever_they_are() -> None:
    value = [{"sku_id": "1"}, "not read here"]

    assert nonempty_list({"k": value}, "k", "order 1") is value


@pytest.mark.parametrize("value", [MISSING, None, [], "", "x", {}, {"a": 1}])
def test_nonempty_list_given_no_entries_or_no_list_refuses_as_missing_or_empty(value: Any) -> None:
    assert _refusal(nonempty_list, _raw(value), "k", "order 1") == "order 1: k is missing or empty"


# ---- shanghai_time -----------------------------------------------------------------------------


@pytest.mark.parametrize(("wall_clock", "expected"), [
    ("2025-11-22 18:30:00", datetime(2025, 11, 22, 10, 30, tzinfo=UTC)),
    ("2025-01-01 00:30:00", datetime(2024, 12, 31, 16, 30, tzinfo=UTC)),  # the day before in UTC
    ("2025-07-01 08:00:00", datetime(2025, 7, 1, 0, 0, tzinfo=UTC)),  # no summer time in China
])
def test_shanghai_time_given_beijing_wall_clock_returns_aware_utc_whatever_the_host_zone(
        host_tz: str, wall_clock: str, expected: datetime) -> None:
    result = shanghai_time(wall_clock)

    assert result == expected
    assert result.tzinfo is UTC
    assert (result.year, result.month, result.day, result.hour, result.minute) == (
        expected.year, expected.month, expected.day, expected.hour, expected.minute)


def test_shanghai_time_under_the_process_time_zone_returns_aware_utc() -> None:
    # No fixture here: whatever TZ the test process was started with (run under TZ=UTC and TZ=Asia/Shanghai).
    result = shanghai_time("2025-11-22 18:30:00")

    assert result == datetime(2025, 11, 22, 10, 30, tzinfo=UTC)
    assert result.tzinfo is UTC
    assert result.timestamp() == 1763807400


@pytest.mark.parametrize("wall_clock", [
    "",
    "2025-11-22",
    "2025-11-22T18:30:00",
    "2025-11-22 18:30",
    "2025-11-22 18:30:00+08:00",
    "2025-02-30 10:00:00",  # no such day
    "1763807400",
])
def test_shanghai_time_given_anything_but_that_format_raises_value_error(wall_clock: str) -> None:
    with pytest.raises(ValueError):
        shanghai_time(wall_clock)


@pytest.mark.parametrize(("value", "expected"), [
    ("42", "42"), (" 007 ", "007"), ("²", None), ("١٢", None), ("-1", None), ("1.5", None), ("", None),
    (42, None), (None, None), (True, None),
])
def test_digits_given_outside_values_takes_ascii_digit_text_only(value: object, expected: str | None) -> None:
    from syncd.adapters.common.fields import digits

    assert digits(value) == expected


def test_whole_given_digit_text_makes_an_int_and_leaves_the_rest_alone() -> None:
    from syncd.adapters.common.fields import whole

    assert whole(" 12 ") == 12 and whole("²") == "²" and whole(7) == 7 and whole(None) is None

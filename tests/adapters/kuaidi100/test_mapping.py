"""Kuaidi100 traces → TrackResult: the state tables (§C.2), times, order, and malformed answers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from syncd.adapters.kuaidi100.mapping import carrier_code, map_track, mask_phones, no_records
from syncd.domain import LogisticsState as S
from syncd.errors import ProtocolError
from tests.adapters.kuaidi100.conftest import fixture

WHERE = "kuaidi100 query yuantong YT1"


def trace(state: Any, *nodes: dict[str, Any], ischeck: str = "0") -> dict[str, Any]:
    return {"message": "ok", "nu": "YT1", "com": "yuantong", "status": "200", "state": state, "ischeck": ischeck,
            "data": list(nodes)}


def node(ftime: str = "2025-11-22 08:00:00", context: str = "快件在途", **extra: Any) -> dict[str, Any]:
    return {"time": ftime, "ftime": ftime, "context": context, **extra}


@pytest.mark.parametrize(("code", "expected"), [
    ("0", S.IN_TRANSIT), ("1", S.PICKED_UP), ("2", S.PROBLEM), ("3", S.DELIVERED), ("4", S.RETURNED),
    ("5", S.DELIVERING), ("6", S.RETURNING), ("7", S.IN_TRANSIT), ("8", S.IN_TRANSIT), ("10", S.IN_TRANSIT),
    ("11", S.IN_TRANSIT), ("12", S.IN_TRANSIT), ("13", S.PROBLEM), ("14", S.REFUSED),
])
def test_every_basic_state_code_maps_to_its_normalised_state(code: str, expected: S) -> None:
    result = map_track(trace(code, node()), WHERE)
    assert result.state is expected
    assert result.provider_state.startswith(f"{code} ")
    assert result.events[0].state is expected  # a node without a status shows the current state


def test_a_numeric_state_is_read_like_its_text() -> None:
    assert map_track(trace(5, node()), WHERE).state is S.DELIVERING


def test_fixture_in_transit_gives_events_oldest_first_in_utc_with_per_node_states() -> None:
    result = map_track(fixture("query_in_transit.json"), WHERE)
    assert result.state is S.IN_TRANSIT and not result.final and result.verdict is None
    assert [e.at for e in result.events] == [datetime(2025, 11, 21, 10, 12, 3, tzinfo=UTC),
                                            datetime(2025, 11, 21, 14, 5, 47, tzinfo=UTC),
                                            datetime(2025, 11, 22, 0, 40, 11, tzinfo=UTC)]
    assert [e.state for e in result.events] == [S.PICKED_UP, S.IN_TRANSIT, S.IN_TRANSIT]
    assert result.events[0].location == "深圳市"
    assert result.provider_state == "0 在途 / 1002 干线"


def test_fixture_delivered_is_final_and_its_courier_phone_is_masked() -> None:
    result = map_track(fixture("query_delivered.json"), WHERE)
    assert result.state is S.DELIVERED and result.final
    assert [e.state for e in result.events] == [S.PICKED_UP, S.DELIVERING, S.DELIVERED]
    assert "18600001111" not in result.events[1].text and "186****1111" in result.events[1].text


def test_an_ascending_trace_gives_the_same_events_as_a_descending_one() -> None:
    body = fixture("query_in_transit.json")
    asc = {**body, "data": list(reversed(body["data"]))}
    assert map_track(asc, WHERE).events == map_track(body, WHERE).events


def test_a_trace_out_of_order_comes_out_oldest_first() -> None:
    body = trace("0", node("2025-11-22 08:00:00", "b"), node("2025-11-22 10:00:00", "c"),
                 node("2025-11-22 06:00:00", "a"))
    assert [e.text for e in map_track(body, WHERE).events] == ["a", "b", "c"]


def test_scans_at_the_same_second_keep_their_scan_order() -> None:
    newest_first = trace("0", node("2025-11-22 10:00:00", "second"), node("2025-11-22 10:00:00", "first"))
    assert [e.text for e in map_track(newest_first, WHERE).events] == ["first", "second"]


def test_status_code_202_is_the_stalled_verdict_and_a_lone_flagged_scan_is_a_pickup() -> None:
    result = map_track(trace("2", node(status="超时未更新", statusCode="202")), WHERE)
    assert result.verdict == "stalled" and result.state is S.PICKED_UP
    assert [e.state for e in result.events] == [S.PICKED_UP]
    assert result.provider_state == "2 疑难 / 202 超时未更新"


@pytest.mark.parametrize(("before", "expected"), [
    ("103", S.PICKED_UP), ("1002", S.IN_TRANSIT), ("1001", S.IN_TRANSIT), ("5", S.DELIVERING), ("501", S.DELIVERING),
])
def test_status_code_202_keeps_the_state_of_the_last_movement_before_it(before: str, expected: S) -> None:
    body = trace("2", node("2025-11-22 10:00:00", "快件已到达转运中心", status="超时未更新", statusCode="202"),
                 node("2025-11-21 08:00:00", "快件已由揽投员揽收", statusCode="103"),
                 node("2025-11-21 09:00:00", "快件在途", statusCode=before))
    result = map_track(body, WHERE)
    assert (result.state, result.verdict) == (expected, "stalled")
    assert [e.state for e in result.events] == [S.PICKED_UP, expected, expected]
    assert result.events[-1].at == datetime(2025, 11, 22, 2, 0, tzinfo=UTC)  # the daemon's own clock starts here


def test_status_code_202_in_the_state_field_or_as_a_bare_name_is_stalled_but_other_problem_codes_are_not() -> None:
    moving = node("2025-11-21 09:00:00", statusCode="1002")
    assert map_track(trace("202", node("2025-11-21 08:00:00", statusCode="103"), moving), WHERE).state \
        is S.IN_TRANSIT
    named = map_track(trace("2", moving, node("2025-11-22 10:00:00", status="超时未更新")), WHERE)
    assert (named.state, named.verdict) == (S.IN_TRANSIT, "stalled")
    for code, expected in (("201", S.PROBLEM), ("203", S.REFUSED), ("204", S.PROBLEM), ("210", S.PROBLEM)):
        other = map_track(trace("2", moving, node("2025-11-22 10:00:00", statusCode=code)), WHERE)
        assert (other.state, other.verdict, other.events[-1].state) == (S.PROBLEM, None, expected), code


def test_status_code_102_only_is_not_a_pickup_and_is_noted() -> None:
    result = map_track(trace("1", node(status="待揽收", statusCode="102")), WHERE)
    assert result.state is S.NONE and result.verdict is None
    assert result.events[0].state is S.NONE
    assert "102 待揽收" in result.provider_state


def test_status_code_102_then_a_pickup_is_picked_up() -> None:
    result = map_track(trace("1", node("2025-11-22 08:00:00", statusCode="102"),
                             node("2025-11-22 10:00:00", statusCode="103")), WHERE)
    assert result.state is S.PICKED_UP
    assert [e.state for e in result.events] == [S.NONE, S.PICKED_UP]


@pytest.mark.parametrize(("status_code", "expected"), [
    ("101", S.NONE), ("103", S.PICKED_UP), ("1001", S.IN_TRANSIT), ("1003", S.IN_TRANSIT), ("501", S.DELIVERING),
    ("304", S.DELIVERED), ("401", S.RETURNED), ("203", S.REFUSED), ("209", S.PROBLEM), ("14", S.REFUSED),
])
def test_per_event_state_comes_from_the_high_level_status_code(status_code: str, expected: S) -> None:
    result = map_track(trace("0", node("2025-11-22 07:00:00", statusCode=status_code), node("2025-11-22 08:00:00")),
                       WHERE)
    assert result.events[0].state is expected


def test_per_event_state_comes_from_the_status_name_without_a_code() -> None:
    result = map_track(trace("5", node("2025-11-22 07:00:00", status="揽收"), node("2025-11-22 08:00:00",
                                                                              status="派件")), WHERE)
    assert [e.state for e in result.events] == [S.PICKED_UP, S.DELIVERING]


def test_a_node_without_a_status_of_its_own_is_read_from_its_words_trouble_first() -> None:
    result = map_track(trace("5", node("2025-11-22 07:00:00", "【杭州市】快件已发往 杭州转运中心"),
                             node("2025-11-22 08:00:00", "【杭州市】派件异常：收件人电话无法接通，地址不详")), WHERE)
    assert [e.state for e in result.events] == [S.IN_TRANSIT, S.PROBLEM]
    assert result.state is S.PROBLEM


def test_a_node_with_a_status_of_its_own_keeps_kuaidi100s_reading() -> None:
    result = map_track(trace("5", node("2025-11-22 08:00:00", "派件异常，待再次派送", statusCode="5")), WHERE)
    assert result.state is S.DELIVERING


def test_a_high_level_code_in_state_is_understood() -> None:
    assert map_track(trace("1002", node()), WHERE).state is S.IN_TRANSIT


def test_an_unknown_state_falls_back_on_the_newest_node_and_else_is_an_error() -> None:
    assert map_track(trace("99", node(statusCode="301")), WHERE).state is S.DELIVERED
    with pytest.raises(ProtocolError, match=r"kuaidi100 query yuantong YT1: unknown state '99'"):
        map_track(trace("99", node()), WHERE)


def test_an_empty_trace_has_no_scan() -> None:
    result = map_track(trace("0"), WHERE)
    assert (result.state, result.events) == (S.NONE, [])


def test_no_records_is_state_none_with_the_verdict() -> None:
    result = no_records("查询无结果，请隔段时间再查")
    assert (result.state, result.events, result.verdict, result.final) == (S.NONE, [], "no_records", False)
    assert result.provider_state == "500 查询无结果，请隔段时间再查"


@pytest.mark.parametrize(("body", "message"), [
    ({"state": "0"}, "data is NoneType, expected a list"),
    ({"state": "0", "data": {"a": 1}}, "data is dict, expected a list"),
    ({"state": "0", "data": ["x"]}, r"data\[0\] is str, expected an object"),
    ({"state": "0", "data": [{"context": "x"}]}, r"data\[0\].ftime is missing"),
    ({"state": "0", "data": [{"ftime": "22/11/2025", "context": "x"}]},
     r"data\[0\].ftime '22/11/2025' is not yyyy-MM-dd HH:mm:ss"),
    ({"state": "0", "data": [{"ftime": 1763798400, "context": "x"}]}, r"data\[0\].ftime is missing"),
    ({"state": "0", "data": [{"ftime": "2025-11-22 08:00:00", "context": None}]},
     r"data\[0\].context is NoneType, expected text"),
    ({"data": []}, "state is missing"),
    ({"state": None, "data": []}, "state is missing"),
])
def test_malformed_traces_raise_protocol_error_naming_the_call_and_field(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ProtocolError, match=f"^{WHERE}: {message}"):
        map_track(body, WHERE)


def test_mask_phones_hides_the_middle_of_mobiles_only() -> None:
    assert mask_phones("派件员 13912345678，网点 0755-12345678，单号 773012345678901") == (
        "派件员 139****5678，网点 0755-12345678，单号 773012345678901")


def test_carrier_code_folds_aliases_and_keeps_unknown_codes() -> None:
    assert (carrier_code("yuantong"), carrier_code("YTO"), carrier_code("Zhongtong")) == (
        "yuantong", "yuantong", "zhongtong")
    assert carrier_code("annengwuliu") == "annengwuliu"

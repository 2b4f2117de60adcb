"""Kuaidi100 payloads → syncd's tracking models: reference/suppliers-tracking-alerts.md §C.1–C.3, §D.3.

Pure functions over Kuaidi100's dicts; the state tables live here. What cannot be read raises
:class:`ProtocolError` naming the field. Times are ``yyyy-MM-dd HH:mm:ss`` in Beijing time and become
aware UTC; events come out oldest first whatever order Kuaidi100 sent them in.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from syncd import clock, trace_words
from syncd.carriers import normalize
from syncd.domain import STALLED_VERDICT, LogisticsState, TrackEvent, TrackPush, TrackResult
from syncd.errors import ProtocolError

S = LogisticsState
# Basic ``state`` (C.2, 0–14) and the high-level ``statusCode`` of resultv2=4 in one table: code → (state, name).
STATES: dict[str, tuple[LogisticsState, str]] = {
    "0": (S.IN_TRANSIT, "在途"), "1": (S.PICKED_UP, "揽收"), "2": (S.PROBLEM, "疑难"), "3": (S.DELIVERED, "签收"),
    "4": (S.RETURNED, "退签"), "5": (S.DELIVERING, "派件"), "6": (S.RETURNING, "退回"), "7": (S.IN_TRANSIT, "转投"),
    "8": (S.IN_TRANSIT, "清关"), "10": (S.IN_TRANSIT, "待清关"), "11": (S.IN_TRANSIT, "清关中"),
    "12": (S.IN_TRANSIT, "已清关"), "13": (S.PROBLEM, "清关异常"), "14": (S.REFUSED, "拒签"),
    # 揽收 group: a label printed (101, 102) is not a pickup yet
    "101": (S.NONE, "已下单"), "102": (S.NONE, "待揽收"), "103": (S.PICKED_UP, "已揽收"),
    "1001": (S.IN_TRANSIT, "到达派件城市"), "1002": (S.IN_TRANSIT, "干线"), "1003": (S.IN_TRANSIT, "转递"),
    "501": (S.DELIVERING, "投柜或驿站"),
    "301": (S.DELIVERED, "本人签收"), "302": (S.DELIVERED, "派件异常后签收"), "303": (S.DELIVERED, "代签"),
    "304": (S.DELIVERED, "投柜或站签收"),
    "401": (S.RETURNED, "已销单"),
    # 202 超时未更新 is no state of its own: a 202 node takes the state of the movement before it (at least picked
    # up: a label nobody collected is 102), see _carry_movement
    "201": (S.PROBLEM, "超时未签收"), "202": (S.PICKED_UP, "超时未更新"), "203": (S.REFUSED, "拒收"),
    "204": (S.PROBLEM, "派件异常"), "205": (S.PROBLEM, "柜或驿站超时未取"), "206": (S.PROBLEM, "无法联系"),
    "207": (S.PROBLEM, "超区"), "208": (S.PROBLEM, "滞留"), "209": (S.PROBLEM, "破损"), "210": (S.PROBLEM, "销单"),
}
# ``data[].status`` is a name with resultv2 ≥ 1 (basic or high-level); both kinds of name map here.
NAMES: dict[str, LogisticsState] = {name: state for state, name in STATES.values()} | {"转单": S.IN_TRANSIT}
NOT_PICKED_UP = frozenset({"101", "102"})
STALLED = "202"  # 超时未更新: Kuaidi100's own "no update for too long"
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# Codes that say the parcel moves normally: a node without a status of its own whose words name trouble outranks
# them (with resultv2=0 Kuaidi100 sends no per-node status, and its basic state can lag the carrier's own words).
MOVING = frozenset({S.PICKED_UP, S.IN_TRANSIT, S.DELIVERING})
mask_phones = trace_words.mask_phones


def code_text(value: Any) -> str:
    """A code Kuaidi100 sends as a string or a number → its string ("" when absent)."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return str(value)
    return value.strip() if isinstance(value, str) else ""


def parse_time(value: Any, where: str) -> datetime:
    """``yyyy-MM-dd HH:mm:ss`` Beijing time → aware UTC."""
    if not isinstance(value, str) or not value.strip():
        raise ProtocolError(f"{where} is missing")
    try:
        local = datetime.strptime(value.strip(), _TIME_FORMAT).replace(tzinfo=clock.SHANGHAI)
    except ValueError:
        raise ProtocolError(f"{where} {value.strip()[:40]!r} is not yyyy-MM-dd HH:mm:ss") from None
    return local.astimezone(UTC)


def carrier_code(com: str) -> str:
    """Kuaidi100 ``com`` → internal carrier code (they are the same identities; aliases folded)."""
    return normalize(com) or com.strip().lower()


def _event_state(node: Mapping[str, Any]) -> tuple[LogisticsState | None, str]:
    """A node's own state and high-level code, from ``statusCode`` or else its ``status`` (code or name)."""
    status_code = code_text(node.get("statusCode"))
    if status_code in STATES:
        return STATES[status_code][0], status_code
    status = code_text(node.get("status"))
    if status in (STALLED, STATES[STALLED][1]):  # 超时未更新 as a code or a name: still the stalled mark
        return STATES[STALLED][0], STALLED
    if status in STATES:
        return STATES[status][0], status_code
    return NAMES.get(status), status_code


def _events(data: Any, where: str) -> list[tuple[TrackEvent, str, bool]]:
    """``data[]`` → (event, high-level code, state known) oldest first."""
    if not isinstance(data, list):
        raise ProtocolError(f"{where}: data is {type(data).__name__}, expected a list")
    out: list[tuple[TrackEvent, str, bool]] = []
    for i, node in enumerate(data):
        at_where = f"{where}: data[{i}]"
        if not isinstance(node, dict):
            raise ProtocolError(f"{at_where} is {type(node).__name__}, expected an object")
        at = parse_time(node.get("ftime") or node.get("time"), f"{at_where}.ftime")
        context = node.get("context")
        if not isinstance(context, str):
            raise ProtocolError(f"{at_where}.context is {type(context).__name__}, expected text")
        location = next((v for v in (node.get("location"), node.get("areaName")) if isinstance(v, str) and v), "")
        state, status_code = _event_state(node)
        words = mask_phones(context.strip())
        # without a status of its own a node is read from its words, trouble first (syncd.trace_words)
        out.append((TrackEvent(at=at, state=state or trace_words.state_of(words), text=words,
                               location=location), status_code, state is not None))
    out.sort(key=lambda e: e[0].at)  # stable: equal times keep the scan order the caller gave
    _carry_movement(out)
    return out


def _carry_movement(events: list[tuple[TrackEvent, str, bool]]) -> None:
    """A 202 node (the last scan, flagged by Kuaidi100 as not updated for too long) shows the state of the movement
    before it: the parcel is still where it was, the stalled rules judge how long (§C.2 note, §D.3)."""
    moving = S.PICKED_UP  # a 202 follows a scan; a printed label nobody collected is 102
    for event, code, _ in events:
        if code == STALLED:
            event.state = moving
        elif event.state is not S.NONE:
            moving = event.state


def map_track(body: Mapping[str, Any], where: str) -> TrackResult:
    """A query answer (or a push's ``lastResult``) → :class:`TrackResult`."""
    data = body.get("data")
    if isinstance(data, list) and len(data) > 1 and _newest_first(data):
        data = list(reversed(data))
    events = _events(data, where)
    state_code = code_text(body.get("state"))
    if not state_code:
        raise ProtocolError(f"{where}: state is missing")
    newest_code = events[-1][1] if events else ""
    stalled = STALLED in (state_code, newest_code)
    if not events or newest_code in NOT_PICKED_UP:
        state = S.NONE
    elif stalled:  # not 疑难: the last real movement, which the newest node carries (see _carry_movement)
        state = events[-1][0].state
    elif state_code in STATES:
        state = STATES[state_code][0]
        told = events[-1][0].state
        if not events[-1][2] and state in MOVING and told in trace_words.ALARMING:
            state = told  # "派件异常：收件人电话无法接通" under a plain 派件 / 在途 code is trouble
    elif events[-1][2]:
        state = events[-1][0].state
    else:
        raise ProtocolError(f"{where}: unknown state {state_code[:10]!r}")
    if events and not events[-1][2]:
        events[-1][0].state = state  # a node without a status of its own shows the parcel's current state
    provider_state = _describe(state_code)
    if newest_code and newest_code != state_code:
        provider_state += f" / {_describe(newest_code)}"
    verdict = STALLED_VERDICT if stalled else None
    return TrackResult(state=state, events=[e for e, _, _ in events], provider_state=provider_state,
                       verdict=verdict, final=code_text(body.get("ischeck")) == "1")


def _newest_first(data: list[Any]) -> bool:
    # Kuaidi100 sends newest first (order=desc); sorting a reversed copy keeps equal times in scan order.
    first, last = data[0], data[-1]
    if not isinstance(first, dict) or not isinstance(last, dict):
        return False
    a, b = first.get("ftime") or first.get("time"), last.get("ftime") or last.get("time")
    return isinstance(a, str) and isinstance(b, str) and a >= b


def _describe(code: str) -> str:
    name = STATES.get(code, (None, ""))[1]
    return f"{code[:10]} {name}".strip()


def no_records(message: str) -> TrackResult:
    """Query returnCode 500: no record yet (a fresh number, a late pickup, a wrong number or carrier)."""
    return TrackResult(state=S.NONE, events=[], provider_state=f"500 {message or '查询无结果'}"[:120],
                       verdict="no_records")


def map_push(param: Mapping[str, Any]) -> TrackPush:
    """A verified push ``param`` (status, message, autoCheck, comOld, comNew, lastResult) → :class:`TrackPush`."""
    status = code_text(param.get("status")) or "polling"
    message = code_text(param.get("message"))
    last = param.get("lastResult")
    if not isinstance(last, dict):
        raise ProtocolError(f"kuaidi100 push: lastResult is {type(last).__name__}, expected an object")
    number = code_text(last.get("nu"))
    if not number:
        raise ProtocolError("kuaidi100 push: lastResult.nu (the tracking number) is missing")
    where = f"kuaidi100 push {number}"
    com_new = code_text(param.get("comNew"))
    com = com_new if com_new else code_text(last.get("com"))
    if not com:
        raise ProtocolError(f"{where}: lastResult.com (the carrier) is missing")
    if status == "abort":
        # 3天查询无记录 / 60天无变化: the trace may be empty or stale; whatever there is stays readable.
        result = map_track({**last, "state": last.get("state") or "0", "data": last.get("data") or []}, where)
        result.verdict = f"abort: {message}" if message else "abort"
        result.final = True
    else:
        result = map_track(last, where)
        if status == "shutdown":
            result.final = True
    if status not in ("polling", "shutdown", "abort", "updateall"):
        result.provider_state += f" (push status {status[:20]})"
    return TrackPush(carrier=carrier_code(com), tracking_no=number, result=result)

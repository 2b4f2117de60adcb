"""Scripted parcel histories for the Kuaidi100 simulator: one per tracking number, generated on demand.

A number's scenario comes from a hash of (seed, number) with configurable weights; its script is a few
nodes whose times are offsets from the moment the simulator first saw the number, most of them in the
past (so a stalled parcel looks stalled at once), some in the future (a normal parcel moves on and is
delivered). Building a script is O(1): nothing is stored per number but its first-seen time.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from syncd.clock import SHANGHAI

SCENARIOS = ("normal", "delivered", "never_picked_up", "stalled", "refused", "problem")
DEFAULT_WEIGHTS: dict[str, float] = {"normal": 0.55, "delivered": 0.25, "never_picked_up": 0.05, "stalled": 0.05,
                                     "refused": 0.05, "problem": 0.05}
HOUR = 3600.0
STALL_AFTER = 48 * HOUR  # the simulator's threshold behind statusCode 202 (Kuaidi100 publishes none)
NO_RECORD_ABORT = 3 * 86400.0  # 3天查询无记录
NO_CHANGE_ABORT = 60 * 86400.0  # 60天无变化
_CITIES = (("广东", "深圳市"), ("广东", "广州市"), ("浙江", "杭州市"), ("浙江", "金华市"), ("江苏", "苏州市"),
           ("上海", "上海市"), ("北京", "北京市"), ("四川", "成都市"), ("湖北", "武汉市"), ("山东", "济南市"),
           ("福建", "厦门市"), ("新疆", "乌鲁木齐市"))
_MOVING = frozenset({"0", "1", "5"})  # basic states a 202 can follow (not signed, refused or already a problem)


@dataclass(frozen=True, slots=True)
class Node:
    """One scan: ``offset`` seconds after first seen (negative: before), basic state, high-level code."""

    offset: float
    state: str
    status_code: str
    name: str  # high-level name (resultv2 ≥ 4)
    basic_name: str  # basic name (resultv2 1)
    context: str
    province: str
    city: str


@dataclass(frozen=True, slots=True)
class Script:
    scenario: str
    nodes: tuple[Node, ...]  # oldest first

    def visible(self, first_seen: float, now: float) -> list[Node]:
        """The nodes scanned by ``now``."""
        return [n for n in self.nodes if first_seen + n.offset <= now]

    def next_change(self, first_seen: float, now: float) -> float | None:
        """When the answer changes next (a new scan or the 202 mark), None when it never will."""
        times = [first_seen + n.offset for n in self.nodes if first_seen + n.offset > now]
        seen = self.visible(first_seen, now)
        if seen and seen[-1].state in _MOVING and seen[-1].status_code != "102":
            mark = first_seen + seen[-1].offset + STALL_AFTER
            if mark > now:
                times.append(mark)
        return min(times) if times else None


def pick_scenario(seed: int, number: str, weights: Mapping[str, float]) -> str:
    """The scenario of ``number``: a stable hash against the cumulative weights."""
    u = int.from_bytes(_digest(seed, number)[:8], "big") / 2**64
    total = sum(weights.values())
    acc = 0.0
    for name in SCENARIOS:
        acc += weights.get(name, 0.0) / total
        if u < acc:
            return name
    return "normal"


def _digest(seed: int, number: str) -> bytes:
    return hashlib.blake2b(f"{seed}|{number}".encode(), digest_size=16).digest()


_BASIC = {"0": "在途", "1": "揽收", "2": "疑难", "3": "签收", "5": "派件", "14": "拒签"}


def _node(offset_h: float, state: str, code: str, name: str, context: str, place: tuple[str, str]) -> Node:
    return Node(offset_h * HOUR, state, code, name, _BASIC[state], f"【{place[1]}】{context}", place[0], place[1])


def script(seed: int, number: str, scenario: str) -> Script:
    """The full history of ``number`` under ``scenario`` (deterministic)."""
    rng = random.Random(int.from_bytes(_digest(seed, number), "big"))  # noqa: S311 - reproducible data
    origin, dest = rng.sample(_CITIES, 2)
    courier = f"1{rng.choice('3589')}{rng.randrange(10**9):09d}"
    pickup = _node(0, "1", "103", "已揽收", "快件已由揽投员揽收", origin)
    depart = _node(3, "0", "1002", "干线", f"快件已发往{dest[1]}", origin)
    hub = _node(21, "0", "1002", "干线", "快件已到达转运中心", dest)
    city = _node(27, "0", "1001", "到达派件城市", "快件已到达派件网点", dest)
    out = _node(31, "5", "5", "派件", f"快件派送中，派件员：王师傅，电话：{courier}", dest)
    signed = _node(34, "3", "301", "本人签收", "快件已签收，签收人：本人", dest)

    def shifted(nodes: Sequence[Node], start_h: float) -> tuple[Node, ...]:
        return tuple(Node(n.offset + start_h * HOUR, n.state, n.status_code, n.name, n.basic_name, n.context,
                          n.province, n.city) for n in nodes)

    if scenario == "normal":  # picked up 1–10 h before first seen, delivered about a day later
        nodes = shifted((pickup, depart, hub, city, out, signed), -rng.uniform(1, 10))
    elif scenario == "delivered":
        nodes = shifted((pickup, depart, hub, city, out, signed), -34 - rng.uniform(2, 30))
    elif scenario == "never_picked_up":  # no record at all, or a printed label nobody collected
        label = _node(0, "1", "102", "待揽收", "商家已打印电子面单，等待快递员揽收", origin)
        nodes = () if rng.random() < 0.5 else shifted((label,), -rng.uniform(1, 6))
    elif scenario == "stalled":  # last scan 60 h before first seen
        nodes = shifted((pickup, depart, hub), -81)
    elif scenario == "refused":
        refused = _node(33, "14", "14", "拒签", "收件人拒收，快件将退回寄件人", dest)
        nodes = shifted((pickup, depart, hub, city, out, refused), -36)
    elif scenario == "problem":
        trouble = _node(32, "2", "204", "派件异常", "快件派送不成功（地址不详），待再次派送", dest)
        nodes = shifted((pickup, depart, hub, city, out, trouble), -37)
    else:
        raise ValueError(f"unknown scenario {scenario!r}; expected one of {', '.join(SCENARIOS)}")
    return Script(scenario, nodes)


def text_time(epoch: float) -> str:
    """Unix seconds → ``yyyy-MM-dd HH:mm:ss`` Beijing time."""
    return datetime.fromtimestamp(epoch, SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def last_result(number: str, com: str, nodes: Sequence[Node], first_seen: float, now: float, *,
                resultv2: int = 4, desc: bool = True) -> dict[str, Any]:
    """The query answer (and the push's ``lastResult``) for what has been scanned by ``now``."""
    data: list[dict[str, str]] = []
    for n in nodes:
        at = text_time(first_seen + n.offset)
        item = {"time": at, "ftime": at, "context": n.context, "location": n.city}
        if resultv2 >= 1:
            item.update(status=n.basic_name, areaCode="", areaName=f"{n.province},{n.city}")
        if resultv2 >= 4:
            item.update(status=n.name, statusCode=n.status_code)
        data.append(item)
    state = nodes[-1].state if nodes else "0"
    if nodes and state in _MOVING and nodes[-1].status_code != "102" \
            and now - (first_seen + nodes[-1].offset) >= STALL_AFTER:
        state = "2"  # 疑难: 超时未更新
        data[-1].update(status="超时未更新" if resultv2 >= 4 else "疑难")
        if resultv2 >= 4:
            data[-1]["statusCode"] = "202"
    if desc:
        data.reverse()
    return {"message": "ok", "nu": number, "ischeck": "1" if state == "3" else "0", "condition": "00",
            "com": com, "status": "200", "state": state, "data": data}

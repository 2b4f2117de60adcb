"""Attacks and accidents on the Kuaidi100 push callback: a push signed with the right salt but sent again later
(the signature has no timestamp), or arriving after a newer one. A parcel's state never moves backwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import time_machine
from sqlalchemy import func, select

from syncd.adapters.kuaidi100.adapter import Kuaidi100Provider
from syncd.adapters.kuaidi100.signing import param_json, push_sign
from syncd.domain import LogisticsState
from syncd.registry import AdapterContext
from syncd.retry import RetryPolicy
from syncd.stages.track import apply_push
from syncd.store.db import Database
from syncd.store.models import Shipment, TrackingEvent
from tests.adapters.kuaidi100.conftest import SALT, NoTokens, make_config
from tests.alerts.rig import NOW, Rig, alerts_config, make_runtime
from tests.fakes import FakeLimiter

NUMBER = "73100000000001"


def _node(ftime: str, context: str, status: str, code: str) -> dict[str, Any]:
    return {"context": context, "time": ftime, "ftime": ftime, "status": status, "statusCode": code}


IN_TRANSIT = [_node("2024-05-05 07:00:00", "【武汉市】快件已到达 武汉转运中心", "干线", "1002"),
              _node("2024-05-04 20:00:00", "【成都市】快件已揽收", "揽收", "103")]
DELIVERED = [_node("2024-05-06 09:00:00", "【杭州市】快件已签收，签收人：本人", "签收", "301"),
             _node("2024-05-06 07:30:00", "【杭州市】快递员正在派件", "派件", "5"), *IN_TRANSIT]


def signed_push(nodes: list[dict[str, Any]], state: str, *, status: str = "polling", ischeck: str = "0",
                salt: str = SALT) -> dict[str, str]:
    """The form Kuaidi100 posts, signed as Kuaidi100 signs it: MD5(param + salt), no time in it."""
    param = param_json({"status": status, "message": "", "autoCheck": "0", "comOld": "", "comNew": "",
                        "lastResult": {"message": "ok", "state": state, "status": "200", "ischeck": ischeck,
                                       "com": "zhongtong", "nu": NUMBER, "data": nodes}})
    return {"param": param, "sign": push_sign(param, salt)}


@pytest.fixture
def world(db: Database, tmp_path: Path) -> Iterator[tuple[Rig, Kuaidi100Provider, int]]:
    with time_machine.travel(NOW, tick=False), httpx.Client() as http:
        rt = make_runtime(db, tmp_path, alerts_config(daily_digest_at=None), {})
        ctx = AdapterContext(http=http, tokens=NoTokens(), data_dir=tmp_path, retry=RetryPolicy(sleep=lambda _: None),
                             limiter=FakeLimiter())
        rig = Rig(rt, db)
        yield rig, Kuaidi100Provider(make_config(), ctx), rig.shipment(tracking_no=NUMBER)
        rt.http.close()


def _parcel(db: Database, sid: int) -> Shipment:
    with db.read() as s:
        row = s.get(Shipment, sid)
        assert row is not None
        return row


def _events(db: Database) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(TrackingEvent)) or 0)


def test_a_replayed_in_transit_push_leaves_a_delivered_parcel_delivered_and_closed(world) -> None:
    rig, provider, sid = world
    old = signed_push(IN_TRANSIT, "0")
    assert apply_push(rig.rt, provider.parse_push(old), sid) == 1
    assert apply_push(rig.rt, provider.parse_push(signed_push(DELIVERED, "3", status="shutdown", ischeck="1")),
                      sid) == 1
    delivered = _parcel(rig.db, sid)
    assert (delivered.logistics_state, delivered.track_final) == ("delivered", True)
    events = _events(rig.db)

    # the attacker (or Kuaidi100's own retry) sends the first push again, byte for byte: the signature holds
    assert apply_push(rig.rt, provider.parse_push(old), sid) == 1

    after = _parcel(rig.db, sid)
    assert (after.logistics_state, after.track_final, after.next_check_at) == ("delivered", True, None)
    assert (after.last_event_at, after.delivered_at, after.last_checked_at) == \
        (delivered.last_event_at, delivered.delivered_at, delivered.last_checked_at)
    assert _events(rig.db) == events


def test_pushes_arriving_out_of_order_end_at_the_newest_state(world) -> None:
    rig, provider, sid = world
    apply_push(rig.rt, provider.parse_push(signed_push(DELIVERED[1:], "5")), sid)  # out for delivery
    apply_push(rig.rt, provider.parse_push(signed_push(IN_TRANSIT, "0")), sid)  # sent earlier, arrives later
    assert _parcel(rig.db, sid).logistics_state == LogisticsState.DELIVERING


def test_a_push_with_no_events_does_not_erase_a_parcels_scans(world) -> None:
    rig, provider, sid = world
    apply_push(rig.rt, provider.parse_push(signed_push(IN_TRANSIT, "0")), sid)
    apply_push(rig.rt, provider.parse_push(signed_push([], "0")), sid)
    parcel = _parcel(rig.db, sid)
    assert parcel.logistics_state == "in_transit" and parcel.picked_up_at is not None

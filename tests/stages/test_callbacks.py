"""Callback endpoints: a supplier push is verified by the adapter, must name an order we sent to that
supplier, and is accepted once per event id; a Kuaidi100 push is answered as Kuaidi100 requires."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from syncd.callbacks import kuaidi100_handler, supplier_handler
from syncd.domain import (
    LogisticsState,
    SupplierCallback,
    SupplierOrderPhase,
    SupplierOrderStatus,
    SupplierParcel,
    TrackPush,
    TrackResult,
)
from syncd.errors import RejectedError
from syncd.store.db import Database
from syncd.store.models import Shipment, SupplierOrder
from tests.stages.test_supplier_api import API, FakeApiSupplier, _build, _route
from tests.stages.test_track import FakeTracker


class PushingSupplier(FakeApiSupplier):
    def parse_callback(self, headers: Mapping[str, str], body: bytes, now: datetime) -> SupplierCallback:
        if headers.get("x-sig") != "good":
            raise RejectedError("bad signature")
        data = json.loads(body)
        return SupplierCallback(data["key"], SupplierOrderStatus("R0001", SupplierOrderPhase.SHIPPED, [
            SupplierParcel("yunda", "韵达", data["tracking"], None)]), event_id=data["event"])


@pytest.fixture
def setup(db: Database, tmp_path: Path):
    h, _ = _build(db, tmp_path)
    sup = PushingSupplier()
    h.rt.api_suppliers[API] = sup
    _route(h, ("7001", ("SKU-X",)))
    h.stage("forward")
    with db.read() as s:
        key = s.scalars(select(SupplierOrder.idempotency_key)).one()
    return h, key


def _post(h, key: str, *, sig: str = "good", event: str = "e1", supplier: str = API):
    body = json.dumps({"key": key, "tracking": "4312345678901", "event": event}).encode()
    return supplier_handler(h.rt)(f"/callbacks/suppliers/{supplier}", {}, {"x-sig": sig}, body)


def _parcels(db: Database) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(Shipment)) or 0)


def test_supplier_push_given_a_good_signature_records_the_parcel_once_per_event(setup, db):
    h, key = setup
    status, _, body = _post(h, key)
    assert status == 200 and json.loads(body) == {"ok": True}
    assert _parcels(db) == 1
    status, _, body = _post(h, key)  # the same event again (a replay inside the window)
    assert status == 200 and json.loads(body)["duplicate"] is True
    assert _parcels(db) == 1


@pytest.mark.parametrize("sig", ["bad", ""])
def test_supplier_push_given_a_bad_or_missing_signature_is_refused_and_changes_nothing(setup, db, sig):
    h, key = setup
    status, _, body = _post(h, key, sig=sig)
    assert status == 401 and json.loads(body)["error"]["code"] == "refused"
    assert "bad signature" not in body.decode()  # the reason is logged, not told to whoever sent it
    assert _parcels(db) == 0


def test_supplier_push_given_an_unknown_order_is_404(setup, db):
    h, _key = setup
    assert _post(h, "sd-not-ours")[0] == 404  # signed by the supplier: it may learn the key is unknown
    assert _parcels(db) == 0


def test_supplier_push_given_an_unknown_supplier_answers_byte_for_byte_as_a_bad_signature(setup, db):
    h, key = setup
    unknown = _post(h, key, supplier="nobody")
    forged = _post(h, key, sig="bad")
    assert unknown == forged and unknown[0] == 401  # ids cannot be enumerated
    assert _parcels(db) == 0


class PushTracker(FakeTracker):
    def parse_push(self, form: Mapping[str, str]) -> TrackPush:
        if form.get("sign") != "OK":
            raise RejectedError("bad sign")
        return TrackPush("zhongtong", form["param"], TrackResult(LogisticsState.PICKED_UP, []))

    def push_reply(self, ok: bool, message: str) -> tuple[int, str, bytes]:
        return 200, "application/json;charset=utf-8", json.dumps({"result": ok, "message": message}).encode()


def test_kuaidi100_push_given_a_bad_sign_answers_failure_and_records_nothing(db: Database, tmp_path: Path):
    h, _ = _build(db, tmp_path)
    h.rt.tracker = PushTracker()
    status, headers, body = kuaidi100_handler(h.rt)("/callbacks/kuaidi100", {}, {}, b"param=X&sign=NO")
    assert status == 200 and json.loads(body)["result"] is False
    status, headers, body = kuaidi100_handler(h.rt)("/callbacks/kuaidi100", {}, {}, b"param=X&sign=OK")
    assert json.loads(body)["result"] is True and headers["Content-Type"].startswith("application/json")

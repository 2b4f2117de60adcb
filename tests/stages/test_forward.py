"""forward to drop-folder suppliers: one order (or one shop) that cannot be made ready never stops the file.

The others are exported in the same run; the bad one is left out with its reason on its supplier order, waits
for a backoff, is exported once when it recovers, and is held for a person after repeated faults.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select, update

from syncd import clock
from syncd.domain import Receiver, ReceiverRef
from syncd.errors import ProtocolError
from syncd.receivers import ReceiverPool
from syncd.stages import forward
from syncd.store.db import Database
from syncd.store.models import ExportBatch, Hold, Order, SupplierOrder
from tests.fakes import FakeStorefront, make_order, transient
from tests.stages.harness import Harness, build


def _ago(minutes: float):
    return clock.now() - timedelta(minutes=minutes)


def _later(minutes: float) -> time_machine.travel:
    return time_machine.travel(clock.now() + timedelta(minutes=minutes), tick=False)


def _two_shops(db: Database, tmp_path: Path) -> tuple[Harness, FakeStorefront]:
    """shop1 with orders 7101, 7102; shop2 with 7201, 7202; all routed to the drop-folder supplier acme."""
    h = build(db, tmp_path)
    other = FakeStorefront()
    h.rt.storefronts["shop2"] = other
    h.rt.config.shops["shop2"] = h.rt.config.shops["shop1"].model_copy(update={"id": "shop2"})
    for pid in ("7101", "7102"):
        h.shop.put(make_order(pid, _ago(5)))
    for pid in ("7201", "7202"):
        other.put(make_order(pid, _ago(5)))
    h.stage("pull")
    h.stage("route")
    return h, other


def _raising(err: Callable[[], Exception]) -> Callable[[Sequence[tuple[str, ReceiverRef]]], dict[str, Receiver | str]]:
    def decrypt(refs: Sequence[tuple[str, ReceiverRef]]) -> dict[str, Receiver | str]:
        raise err()
    return decrypt


def _exported(h: Harness) -> Counter[str]:
    return Counter(r["订单号"] for r in h.exported_rows("acme"))


def _supplier_orders(db: Database) -> dict[str, SupplierOrder]:
    with db.read() as s:
        return {pid: so for pid, so in s.execute(select(Order.platform_order_id, SupplierOrder)
                                                 .join(Order, Order.id == SupplierOrder.order_id))}


def _order_states(db: Database) -> dict[str, tuple[str, str | None]]:
    with db.read() as s:
        return {pid: (st, why) for pid, st, why in s.execute(
            select(Order.platform_order_id, Order.state, Order.hold_reason))}


@pytest.mark.parametrize("error", [
    lambda: ProtocolError("order.batchDecrypt: answer is not JSON: '<html>502</html>'"),
    lambda: KeyError("decrypt_infos"),
], ids=["protocol-error", "our-bug"])
def test_forward_given_one_shop_failing_to_decrypt_exports_the_other_shops_orders_and_keeps_its_own(
        db: Database, tmp_path: Path, error: Callable[[], Exception]):
    h, _ = _two_shops(db, tmp_path)
    real = h.shop.decrypt
    h.shop.decrypt = _raising(error)  # type: ignore[method-assign]
    report = h.stage("forward")
    assert report.ok
    assert _exported(h) == Counter({"7201": 1, "7202": 1})  # the other shop's orders, in this run
    sos = _supplier_orders(db)
    assert [(sos[p].state, sos[p].faults, sos[p].batch_id) for p in ("7101", "7102")] == [("pending", 1, None)] * 2
    assert "not exported" in (sos["7101"].last_error or "")
    assert "decrypt_infos" not in (sos["7101"].last_error or "")  # an unexpected error's text is not recorded
    assert _order_states(db)["7101"] == ("routed", None)  # not held as an incomplete address: nothing is wrong
    h.stage("forward")
    assert _exported(h) == Counter({"7201": 1, "7202": 1})  # still waiting for its backoff
    h.shop.decrypt = real  # type: ignore[method-assign]
    with _later(2):
        h.stage("forward")
    assert _exported(h) == Counter({"7101": 1, "7102": 1, "7201": 1, "7202": 1})  # each exported once
    sos = _supplier_orders(db)
    assert {(so.state, so.faults) for so in sos.values()} == {("placed", 0)}
    assert {st for st, _ in _order_states(db).values()} == {"placed"}


def test_forward_given_a_busy_shop_exports_the_others_and_its_orders_in_the_next_batch_without_a_fault(
        db: Database, tmp_path: Path):
    h, _ = _two_shops(db, tmp_path)
    real = h.shop.decrypt
    h.shop.decrypt = _raising(transient)  # type: ignore[method-assign]
    h.stage("forward")
    assert _exported(h) == Counter({"7201": 1, "7202": 1})
    sos = _supplier_orders(db)
    assert (sos["7101"].state, sos["7101"].faults) == ("pending", 0)  # the shop's trouble, not the order's
    h.shop.decrypt = real  # type: ignore[method-assign]
    h.stage("forward")
    assert _exported(h) == Counter({"7101": 1, "7102": 1, "7201": 1, "7202": 1})


def test_forward_given_one_order_whose_row_cannot_be_built_exports_the_others_and_holds_it_after_repeated_faults(
        db: Database, tmp_path: Path):
    h, _ = _two_shops(db, tmp_path)
    with db.begin() as s:  # a line the export cannot read: the middle order of the batch
        so = s.scalar(select(SupplierOrder).join(Order, Order.id == SupplierOrder.order_id)
                      .where(Order.platform_order_id == "7102"))
        assert so is not None
        s.execute(update(SupplierOrder).where(SupplierOrder.id == so.id)
                  .values(lines=[{**ln, "quantity": "two"} for ln in so.lines]))
    h.stage("forward")
    assert _exported(h) == Counter({"7101": 1, "7201": 1, "7202": 1})
    with db.read() as s:
        assert s.scalar(select(ExportBatch.state)) == "written"  # the batch did not stay half-written
    minutes = 0.0
    for faults in range(2, forward.MAX_FAULTS + 1):
        minutes += forward.fault_wait(faults - 1).total_seconds() / 60 + 0.1
        with _later(minutes):
            h.stage("forward")
        assert _supplier_orders(db)["7102"].faults == (faults if faults < forward.MAX_FAULTS else 0)
    assert _order_states(db)["7102"] == ("held", "supplier_rejected")  # set aside for a person, with an alert
    with db.read() as s:
        detail = s.scalar(select(Hold.detail).where(Hold.released_at.is_(None)))
    assert detail is not None and "acme" in detail and f"{forward.MAX_FAULTS} times" in detail
    assert _exported(h) == Counter({"7101": 1, "7201": 1, "7202": 1})  # never exported half-filled
    assert _supplier_orders(db)["7102"].state == "pending"  # not lost: exported once a person releases it


def test_forward_given_an_interrupted_batch_that_cannot_be_written_again_still_exports_new_orders(
        db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    h, other = _two_shops(db, tmp_path)
    adapter = h.rt.suppliers["acme"]
    real_write = adapter.write_batch

    def crash(batch):
        raise OSError("disk full")

    monkeypatch.setattr(adapter, "write_batch", crash)
    assert not h.stage("forward").ok  # batch 1 (all four orders) stays ``writing``
    monkeypatch.setattr(adapter, "write_batch", real_write)
    h.rt.receivers = ReceiverPool()  # a restart after the crash: the receivers decrypted before are gone
    real_decrypt = h.shop.decrypt
    h.shop.decrypt = _raising(lambda: ProtocolError("answer is not JSON"))  # type: ignore[method-assign]
    other.put(make_order("7203", clock.now()))
    h.stage("pull")
    h.stage("route")
    assert not h.stage("forward").ok  # batch 1 still cannot be written: reported ...
    assert _exported(h) == Counter({"7203": 1})  # ... but the new order went out
    h.shop.decrypt = real_decrypt  # type: ignore[method-assign]
    assert h.stage("forward").ok
    assert _exported(h) == Counter({"7101": 1, "7102": 1, "7201": 1, "7202": 1, "7203": 1})
    with db.read() as s:
        assert set(s.scalars(select(ExportBatch.state))) == {"written"}


def test_forward_given_one_refunded_order_whose_cancellation_row_cannot_be_built_cancels_the_others_and_alerts_it(
        db: Database, tmp_path: Path):
    h, _ = _two_shops(db, tmp_path)
    h.stage("forward")
    assert _exported(h) == Counter({"7101": 1, "7102": 1, "7201": 1, "7202": 1})
    with db.begin() as s:  # the buyers were refunded after the file went out (as react_to_stops records it)
        s.execute(update(SupplierOrder).values(cancel_state="requested"))
        so = s.scalar(select(SupplierOrder).join(Order, Order.id == SupplierOrder.order_id)
                      .where(Order.platform_order_id == "7102"))
        assert so is not None
        s.execute(update(SupplierOrder).where(SupplierOrder.id == so.id)
                  .values(lines=[{k: v for k, v in ln.items() if k != "quantity"} for ln in so.lines]))
    assert h.stage("forward").ok
    cancelled = Counter(r["订单号"] for r in h.exported_rows("acme") if "cancel" in r["_file"])
    assert cancelled == Counter({"7101": 1, "7201": 1, "7202": 1})  # the file went out for the others
    sos = _supplier_orders(db)
    assert sos["7102"].cancel_state == "too_late"  # a person is told (cancel_too_late names the order)
    assert "tell the supplier yourself" in (sos["7102"].cancel_detail or "")
    assert {sos[p].cancel_state for p in ("7101", "7201", "7202")} == {"notified"}
    h.stage("forward")
    assert Counter(r["订单号"] for r in h.exported_rows("acme") if "cancel" in r["_file"]) == cancelled  # once


def test_forward_given_nothing_to_export_or_cancel_reads_once_and_takes_no_lease(db: Database, tmp_path: Path):
    """The stage runs every few seconds and a batch is due every few minutes: an idle run costs one read."""
    h = build(db, tmp_path)
    h.shop.put(make_order("7301", _ago(30)))
    h.stage("pull")
    h.stage("route")
    adapter = h.rt.suppliers["acme"]
    assert forward.forward_file_supplier(h.rt, "acme", adapter) == 1  # work: the lease and the batch
    before = db.statements.count
    assert forward.forward_file_supplier(h.rt, "acme", adapter) == 0
    assert db.statements.count - before <= 2  # BEGIN and one SELECT: no lease written, nothing else read
    with db.begin() as s:  # a cancellation to pass on is work again, even with nothing pending
        s.execute(update(SupplierOrder).values(cancel_state="requested"))
    forward.forward_file_supplier(h.rt, "acme", adapter)
    assert [r["_file"] for r in h.exported_rows("acme")][-1].endswith("-cancel.xlsx")

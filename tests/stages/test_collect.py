"""collect (file suppliers): one reply file that makes the import fail never holds up the files after it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from syncd import clock
from syncd.domain import InboxFile, ParsedInbox
from syncd.errors import ProtocolError
from syncd.store.db import Database
from syncd.store.models import InboxFileRecord, Order, Shipment
from tests.fakes import make_order
from tests.stages.harness import Harness, build

PIDS = ("4101", "4102", "4103")


@pytest.fixture
def h(db: Database, tmp_path: Path) -> Harness:
    h = build(db, tmp_path)
    for i, pid in enumerate(PIDS):
        h.shop.put(make_order(pid, clock.now() - timedelta(minutes=20 - i)))
    h.cycle()
    for age, (name, pid) in zip((300, 200, 100), (("a.csv", "4101"), ("b.csv", "4102"), ("c.csv", "4103")),
                                strict=True):
        h.reply("acme", name, [(pid, "中通", f"ZT{pid}0000")], age=age)
    return h


def _tracked(db: Database) -> dict[str, str]:
    with db.read() as s:
        return dict(s.execute(select(Order.platform_order_id, Shipment.tracking_no)
                              .join(Shipment, Shipment.order_id == Order.id)).all())


@pytest.mark.parametrize("error", [ProtocolError("b.csv: sheet is not a worksheet"), KeyError("订单号")],
                         ids=["protocol", "unexpected"])
def test_collect_given_the_middle_file_fails_to_import_imports_the_others_and_rejects_it_with_the_reason(
        h: Harness, db: Database, error: Exception):
    adapter = h.rt.suppliers["acme"]
    real = adapter.parse_inbox

    def parse(file: InboxFile) -> ParsedInbox:
        if file.name == "b.csv":
            raise error
        return real(file)

    adapter.parse_inbox = parse  # type: ignore[method-assign]
    h.stage("collect")
    assert _tracked(db) == {"4101": "ZT41010000", "4103": "ZT41030000"}
    assert sorted(p.name for p in h.inbox("acme").iterdir() if p.is_file()) == []
    assert (h.inbox("acme") / "rejected" / "b.csv").exists()
    with db.read() as s:
        (reason,) = s.scalars(select(InboxFileRecord.file_error).where(InboxFileRecord.file_name == "b.csv"))
    assert reason is not None and reason.startswith(f"could not be imported: {type(error).__name__}")
    h.stage("collect")  # nothing left to do; nothing recorded twice
    with db.read() as s:
        assert len(list(s.scalars(select(InboxFileRecord.id)))) == 3
    assert len(_tracked(db)) == 2

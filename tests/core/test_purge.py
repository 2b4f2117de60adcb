"""syncd purge: supplier files past retention through each adapter, and old callbacks_seen rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from syncd.purge import purge
from syncd.store.models import CallbackSeen

NOW = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


@dataclass
class Gone:
    path: str
    size: int
    modified_at: datetime


class FakeFileSupplier:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[datetime, bool]] = []
        self.fail = fail

    def purge_files(self, now: datetime, dry_run: bool = False) -> list[Gone]:
        self.calls.append((now, dry_run))
        if self.fail:
            raise PermissionError(13, "Permission denied")
        return [Gone("/data/suppliers/acme/outbox/a.xlsx", 10, now - timedelta(days=40))]


def seed_callbacks(db) -> None:
    with db.begin() as s:
        s.add_all([CallbackSeen(source="supplier:acme", event_id="old", at=NOW - timedelta(days=31)),
                   CallbackSeen(source="supplier:acme", event_id="recent", at=NOW - timedelta(days=29))])


def test_purge_deletes_callback_ids_older_than_30_days_and_asks_each_file_supplier(db):
    seed_callbacks(db)
    acme = FakeFileSupplier()
    report = purge({"acme": acme, "api": object()}, db, NOW)
    assert acme.calls == [(NOW, False)]
    assert [(sid, f.path) for sid, f in report.files] == [("acme", "/data/suppliers/acme/outbox/a.xlsx")]
    assert report.callbacks == 1
    with db.read() as s:
        assert list(s.scalars(select(CallbackSeen.event_id))) == ["recent"]


def test_dry_run_counts_and_deletes_nothing(db):
    seed_callbacks(db)
    acme = FakeFileSupplier()
    report = purge({"acme": acme}, db, NOW, dry_run=True)
    assert acme.calls == [(NOW, True)] and report.callbacks == 1
    with db.read() as s:
        assert sorted(s.scalars(select(CallbackSeen.event_id))) == ["old", "recent"]


def test_one_supplier_failing_is_reported_and_the_rest_goes_on(db):
    seed_callbacks(db)
    report = purge({"bad": FakeFileSupplier(fail=True), "acme": FakeFileSupplier()}, db, NOW)
    assert report.failures == [("bad", "Permission denied")]
    assert [sid for sid, _ in report.files] == ["acme"] and report.callbacks == 1


def test_dropfolder_adapter_is_recognised_as_keeping_files():
    from adapters.dropfolder.adapter import DropFolderSupplier
    from syncd.purge import RetainsFiles

    assert issubclass(DropFolderSupplier, RetainsFiles)

"""syncd purge: supplier files past retention through each adapter, and old callbacks_seen rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from syncd.purge import purge
from syncd.store.models import CallbackSeen, InboxFileRecord

NOW = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


@dataclass
class Gone:
    path: str
    size: int
    modified_at: datetime


class FakeFileSupplier:
    retention_days = 30.0

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


def test_dropfolder_adapter_is_recognised_as_keeping_files(tmp_path):
    from syncd.adapters.dropfolder import DropFolderConfig, create
    from syncd.purge import RetainsFiles
    from syncd.registry import AdapterContext

    config = DropFolderConfig.model_validate({"id": "acme", "kind": "file", "outbox_dir": "o", "inbox_dir": "i",
                                              "retention_days": 7})
    adapter = create(config, AdapterContext(http=None, tokens=None, data_dir=tmp_path))  # type: ignore[arg-type]
    assert isinstance(adapter, RetainsFiles) and adapter.retention_days == 7


def test_rejected_rows_recorded_for_old_files_are_emptied_and_the_record_kept(db):
    raw = [{"row_no": 2, "reason": "unknown order", "raw": {"收件人": "张三", "电话": "13800138000"}}]
    with db.begin() as s:
        for name, days in (("old.csv", 31), ("new.csv", 29)):
            s.add(InboxFileRecord(supplier_id="acme", file_name=name, sha256=name.ljust(64, "0"), rows_ok=0,
                                  rows_rejected=1, file_error=None, errors=raw,
                                  processed_at=NOW - timedelta(days=days)))
        s.add(InboxFileRecord(supplier_id="other", file_name="o.csv", sha256="o" * 64, rows_ok=0, rows_rejected=1,
                              file_error=None, errors=raw, processed_at=NOW - timedelta(days=90)))
    assert purge({"acme": FakeFileSupplier()}, db, NOW, dry_run=True).file_records == 1
    assert purge({"acme": FakeFileSupplier()}, db, NOW).file_records == 1
    assert purge({"acme": FakeFileSupplier()}, db, NOW).file_records == 0  # done once
    with db.read() as s:
        kept = {r.file_name: r.errors for r in s.scalars(select(InboxFileRecord))}
    assert kept == {"old.csv": [], "new.csv": raw, "o.csv": raw}  # "other" is not a configured file supplier


def test_cli_purge_dry_run_lists_old_supplier_files_and_keeps_them_then_purge_deletes(tmp_path, monkeypatch, capsys):
    import os
    import shutil

    from syncd.cli import main
    from tests.core.test_config_loader import SANDBOX

    cfg = tmp_path / "config"
    shutil.copytree(SANDBOX, cfg)
    monkeypatch.setenv("SYNCD_CONFIG_DIR", str(cfg))
    monkeypatch.setenv("SYNCD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SYNCD_SANDBOX_URL", "http://127.0.0.1:9")
    assert main(["db", "upgrade"]) == 0
    outbox = tmp_path / "data" / "suppliers" / "yiwu-goods" / "outbox"
    outbox.mkdir(parents=True)
    old, new = outbox / "old\n.xlsx", outbox / "new.xlsx"
    for path, days in ((old, 45), (new, 1)):
        path.write_bytes(b"x")
        t = datetime.now(UTC).timestamp() - days * 86_400
        os.utime(path, (t, t))
    capsys.readouterr()
    assert main(["purge", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would delete yiwu-goods: " in out and "old\\n.xlsx" in out and "new.xlsx" not in out
    assert "would delete 1 supplier file(s)" in out
    assert old.exists()
    assert main(["purge"]) == 0
    assert "deleted 1 supplier file(s)" in capsys.readouterr().out
    assert not old.exists() and new.exists()

"""purge_files: outbox, processed and rejected files past retention_days go; the inbox is never touched."""

from __future__ import annotations

import os
from datetime import timedelta

from .conftest import NOW

DAY = 86_400


def age(path, days: float) -> None:
    t = NOW.timestamp() - days * DAY
    os.utime(path, (t, t), follow_symlinks=False)


def make(folder, name: str, days: float):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"x")
    age(path, days)
    return path


def test_files_older_than_retention_are_deleted_and_newer_ones_kept(adapter):
    old_out = make(adapter.outbox_dir, "acme-b1.xlsx", 31)
    new_out = make(adapter.outbox_dir, "acme-b2.xlsx", 29)
    old_done = make(adapter.inbox_dir / "processed", "r.csv", 40)
    old_report = make(adapter.inbox_dir / "rejected", "x.xlsx.reason.txt", 40)
    waiting = make(adapter.inbox_dir, "waiting.csv", 400)
    gone = adapter.purge_files(NOW)
    assert sorted(p.path for p in gone) == sorted(map(str, (old_out, old_done, old_report)))
    assert not old_out.exists() and not old_done.exists() and not old_report.exists()
    assert new_out.exists() and waiting.exists()


def test_dry_run_lists_without_deleting(adapter):
    old = make(adapter.outbox_dir, "acme-b1.xlsx", 31)
    [entry] = adapter.purge_files(NOW, dry_run=True)
    assert entry.path == str(old) and entry.size == 1
    assert entry.modified_at == NOW - timedelta(days=31)
    assert old.exists()


def test_retention_days_comes_from_the_config(make_adapter):
    adapter = make_adapter(retention_days=7)
    old = make(adapter.outbox_dir, "a.xlsx", 8)
    assert [p.path for p in adapter.purge_files(NOW)] == [str(old)]


def test_links_are_never_followed_nor_deleted_and_linked_folders_are_skipped(adapter, tmp_path):
    outside = tmp_path / "outside"
    target = make(outside, "precious.csv", 100)
    link = adapter.outbox_dir / "link.xlsx"
    link.symlink_to(target)
    age(link, 100)
    (adapter.inbox_dir / "processed").symlink_to(outside)
    assert adapter.purge_files(NOW) == []
    assert target.exists() and link.is_symlink()

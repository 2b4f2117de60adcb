"""list_inbox: only complete reply files, oldest first, with their content hash."""

from __future__ import annotations

import hashlib
import os

import pytest

from .conftest import NOW

SETTLE = 10  # the default settle_seconds


def drop(adapter, name: str, content: bytes = b"x", age: float = 60) -> None:
    path = adapter.inbox_dir / name
    path.write_bytes(content)
    mtime = NOW.timestamp() - age
    os.utime(path, (mtime, mtime))


def names(adapter) -> list[str]:
    return [f.name for f in adapter.list_inbox(NOW)]


def test_complete_file_is_listed_with_sha256_size_and_path(adapter):
    drop(adapter, "reply.csv", b"order,tracking\n")
    [f] = adapter.list_inbox(NOW)
    assert f.name == "reply.csv"
    assert f.path == str(adapter.inbox_dir / "reply.csv")
    assert f.sha256 == hashlib.sha256(b"order,tracking\n").hexdigest()
    assert f.size == len(b"order,tracking\n")


def test_file_modified_within_settle_seconds_is_not_listed_yet(adapter):
    drop(adapter, "writing.xlsx", age=SETTLE - 1)
    drop(adapter, "done.xlsx", age=SETTLE)
    assert names(adapter) == ["done.xlsx"]


def test_settle_seconds_comes_from_the_config(make_adapter):
    adapter = make_adapter(settle_seconds=120)
    drop(adapter, "a.csv", age=119)
    assert names(adapter) == []
    drop(adapter, "a.csv", age=120)
    assert names(adapter) == ["a.csv"]


def test_files_are_sorted_by_mtime_then_name(adapter):
    drop(adapter, "c.csv", age=100)
    drop(adapter, "b.csv", age=300)
    drop(adapter, "a.csv", age=100)
    assert names(adapter) == ["b.csv", "a.csv", "c.csv"]


@pytest.mark.parametrize("name", ["R.CSV", "回单.Xlsx", "tracking 1122.xlsx"])
def test_suffix_in_any_case_is_listed(adapter, name):
    drop(adapter, name)
    assert names(adapter) == [name]


@pytest.mark.parametrize("name", [
    ".hidden.csv", "~$reply.xlsx", "reply.csv.tmp", "reply.xlsx.part", "reply.csv.crdownload",
    "reply.xls", "reply.txt", "reply",
])
def test_hidden_lock_partial_and_other_files_are_not_listed(adapter, name):
    drop(adapter, name)
    assert names(adapter) == []


def test_empty_file_is_not_listed(adapter):
    drop(adapter, "empty.csv", b"")
    assert names(adapter) == []


def test_subfolders_and_their_files_are_not_listed(adapter):
    (adapter.inbox_dir / "processed").mkdir()
    drop(adapter, "processed/old.csv")
    (adapter.inbox_dir / "folder.csv").mkdir()
    assert names(adapter) == []


def test_outbox_temporary_name_would_not_be_listed(adapter):
    drop(adapter, ".acme-20261122-170000-b000042.xlsx.tmp")
    assert names(adapter) == []


def test_symlink_is_listed_by_its_own_identity_without_being_opened(adapter, tmp_path):
    outside = tmp_path / "outside.csv"
    outside.write_bytes(b"order,tracking\n")
    link = adapter.inbox_dir / "reply.csv"
    link.symlink_to(outside)
    old = NOW.timestamp() - 60
    os.utime(link, (old, old), follow_symlinks=False)
    [f] = adapter.list_inbox(NOW)
    assert f.name == "reply.csv" and f.size == 0
    assert f.sha256 != hashlib.sha256(b"order,tracking\n").hexdigest()
    assert "symbolic link" in adapter.parse_inbox(f).file_error


def test_folder_named_like_a_reply_file_is_skipped(adapter):
    (adapter.inbox_dir / "old.csv").mkdir()
    assert names(adapter) == []

"""finish_inbox: move to processed/ or rejected/, errors.csv beside it, safe to call again."""

from __future__ import annotations

import csv
import io
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

from syncd.adapters.dropfolder import inbox
from syncd.domain import RowError

HEADER = ["订单号", "快递公司", "快递单号"]
MOVED_AT = datetime(2026, 11, 22, 9, 5, 7, tzinfo=UTC)


def read_errors(path: Path) -> list[list[str]]:
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_file_without_errors_moves_to_processed_without_errors_csv(adapter, write_csv):
    f = write_csv([HEADER, ["1", "中通", "75123456789012"]])
    parsed = adapter.parse_inbox(f)
    new_path = adapter.finish_inbox(f, parsed.errors, parsed.file_error)
    assert new_path == str(adapter.inbox_dir / "processed" / "reply.csv")
    assert Path(new_path).is_file()
    assert not (adapter.inbox_dir / "reply.csv").exists()
    assert sorted(p.name for p in (adapter.inbox_dir / "processed").iterdir()) == ["reply.csv"]


def test_rejected_rows_are_written_to_errors_csv_with_row_reason_and_original_columns(adapter, write_csv):
    f = write_csv([[*HEADER, "备注"], ["1", "中通", "75123456789012", ""], ["", "中通", "75123456789013", "补发"],
                   ["3", "火星快递", "7.73061E+14", ""]])
    parsed = adapter.parse_inbox(f)
    new_path = adapter.finish_inbox(f, parsed.errors, parsed.file_error)
    assert Path(new_path).parent.name == "processed"
    rows = read_errors(Path(new_path + ".errors.csv"))
    assert rows[0] == ["行号", "原因", "订单号", "快递公司", "快递单号", "备注"]
    assert rows[1] == ["3", "empty order number", "", "中通", "75123456789013", "补发"]
    assert rows[2][0] == "4"
    assert "scientific notation" in rows[2][1] and "unknown carrier '火星快递'" in rows[2][1]
    assert rows[2][2:] == ["3", "火星快递", "7.73061E+14", ""]
    assert len(rows) == 3


def test_file_error_moves_to_rejected_with_the_reason(adapter, write_csv):
    f = write_csv([["no", "header"], ["1", "2"]])
    parsed = adapter.parse_inbox(f)
    new_path = adapter.finish_inbox(f, parsed.errors, parsed.file_error)
    assert new_path == str(adapter.inbox_dir / "rejected" / "reply.csv")
    rows = read_errors(Path(new_path + ".errors.csv"))
    assert rows[0] == ["行号", "原因"]
    assert rows[1][0] == ""
    assert rows[1][1].startswith("no header row found")


def test_name_already_taken_gets_a_utc_timestamp_prefix(adapter, write_csv):
    first = write_csv([HEADER, ["1", "中通", "75123456789012"]])
    adapter.finish_inbox(first, [], None)
    second = write_csv([HEADER, ["2", "中通", "75123456789013"]])
    new_path = inbox.finish_inbox(adapter.inbox_dir, second, [], None, MOVED_AT)
    assert Path(new_path).name == "20261122T090507Z-reply.csv"
    third = write_csv([HEADER, ["3", "中通", "75123456789014"]])
    assert Path(inbox.finish_inbox(adapter.inbox_dir, third, [], None, MOVED_AT)).name == "20261122T090507Z-2-reply.csv"
    assert (adapter.inbox_dir / "processed" / "reply.csv").read_bytes().endswith(b"75123456789012\r\n")


def test_calling_again_after_the_move_returns_the_same_path_without_error(adapter, write_csv):
    f = write_csv([HEADER, ["", "中通", "75123456789013"]])
    parsed = adapter.parse_inbox(f)
    first = adapter.finish_inbox(f, parsed.errors, parsed.file_error)
    assert adapter.finish_inbox(f, parsed.errors, parsed.file_error) == first
    assert sorted(p.name for p in (adapter.inbox_dir / "processed").iterdir()) == ["reply.csv", "reply.csv.errors.csv"]


def test_crash_between_move_and_errors_csv_is_finished_by_the_next_call(adapter, write_csv):
    f = write_csv([HEADER, ["", "中通", "75123456789013"]])
    parsed = adapter.parse_inbox(f)
    moved = Path(adapter.finish_inbox(f, parsed.errors, parsed.file_error))
    Path(str(moved) + ".errors.csv").unlink()  # as if the daemon died right after the move
    assert adapter.finish_inbox(f, parsed.errors, parsed.file_error) == str(moved)
    assert read_errors(Path(str(moved) + ".errors.csv"))[1][:2] == ["2", "empty order number"]


def test_calling_again_finds_a_copy_moved_under_a_timestamped_name(adapter, write_csv):
    adapter.finish_inbox(write_csv([HEADER, ["1", "中通", "75123456789012"]]), [], None)
    f = write_csv([HEADER, ["2", "中通", "75123456789013"]])
    moved = inbox.finish_inbox(adapter.inbox_dir, f, [], None, MOVED_AT)
    assert adapter.finish_inbox(f, [], None) == moved


def test_file_changed_since_it_was_read_stays_in_the_inbox(adapter, write_csv):
    f = write_csv([HEADER, ["1", "中通", "75123456789012"]])
    (adapter.inbox_dir / "reply.csv").write_text("订单号,快递公司,快递单号\n1,中通,75123456789099\n")
    assert adapter.finish_inbox(f, [], None) == f.path
    assert (adapter.inbox_dir / "reply.csv").is_file()
    assert not any((adapter.inbox_dir / "processed").iterdir())


def test_file_gone_without_a_moved_copy_does_not_raise(adapter, write_csv):
    f = write_csv([HEADER, ["1", "中通", "75123456789012"]])
    (adapter.inbox_dir / "reply.csv").unlink()
    assert adapter.finish_inbox(f, [], None) == str(adapter.inbox_dir / "processed" / "reply.csv")


def test_errors_csv_defuses_values_excel_would_run_as_formulas(adapter, write_csv):
    f = write_csv([[*HEADER, "备注"], ["", "中通", "75123456789013", "=HYPERLINK(\"http://x\")"]])
    parsed = adapter.parse_inbox(f)
    moved = adapter.finish_inbox(f, parsed.errors, None)
    assert read_errors(Path(moved + ".errors.csv"))[1][5] == "'=HYPERLINK(\"http://x\")"


def test_finished_files_are_not_listed_again(adapter, write_csv):
    from .conftest import NOW

    f = write_csv([HEADER, ["", "中通", "75123456789013"]])
    parsed = adapter.parse_inbox(f)
    adapter.finish_inbox(f, parsed.errors, parsed.file_error)
    assert adapter.list_inbox(NOW) == []


def test_row_errors_passed_by_the_caller_are_written_as_given(adapter, write_csv):
    f = write_csv([HEADER, ["1", "中通", "75123456789012"]])
    errors = [RowError(row_no=9, reason="order 1 was never sent to this supplier", raw={"订单号": "1"})]
    moved = adapter.finish_inbox(f, errors, None)
    assert read_errors(Path(moved + ".errors.csv")) == [["行号", "原因", "订单号"],
                                                       ["9", "order 1 was never sent to this supplier", "1"]]


def test_file_moved_by_another_worker_during_the_move_is_found_there(adapter, write_csv, monkeypatch):
    f = write_csv([HEADER, ["", "中通", "75123456789013"]])
    parsed = adapter.parse_inbox(f)
    real_replace = inbox.os.replace
    raced = []

    def other_worker_first(src, dest):
        real_replace(src, dest)
        if not raced:  # the other worker wins the race, so ours finds nothing to move
            raced.append(src)
            raise FileNotFoundError(src)

    monkeypatch.setattr(inbox.os, "replace", other_worker_first)
    moved = adapter.finish_inbox(f, parsed.errors, None)
    assert [str(p) for p in raced] == [f.path]
    assert moved == str(adapter.inbox_dir / "processed" / "reply.csv")
    assert Path(moved + ".errors.csv").is_file()


def test_rejected_file_gets_a_reason_txt_beside_it(adapter, write_csv):
    f = write_csv([["a", "b"], ["1", "2"]])
    parsed = adapter.parse_inbox(f)
    new_path = Path(adapter.finish_inbox(f, parsed.errors, parsed.file_error))
    reason = new_path.with_name(new_path.name + ".reason.txt").read_text(encoding="utf-8-sig")
    assert "reply.csv" in reason and parsed.file_error in reason


def test_processed_file_and_its_reports_are_0600_in_a_0700_folder_whatever_the_umask(adapter, write_csv):
    f = write_csv([HEADER, ["1", "火星快递", "75123456789012"]])
    os.chmod(f.path, 0o644)
    old = os.umask(0o022)
    try:
        parsed = adapter.parse_inbox(f)
        new_path = Path(adapter.finish_inbox(f, parsed.errors, parsed.file_error))
    finally:
        os.umask(old)
    assert stat.S_IMODE(new_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(str(new_path) + ".errors.csv").stat().st_mode) == 0o600
    assert stat.S_IMODE(new_path.parent.stat().st_mode) == 0o700


def test_moved_file_is_dated_when_it_was_moved_so_retention_counts_from_then(adapter, write_csv):
    f = write_csv([HEADER, ["1", "中通", "75123456789012"]])  # written long ago (SETTLED)
    new_path = Path(adapter.finish_inbox(f, [], None))
    assert new_path.stat().st_mtime >= datetime.now(UTC).timestamp() - 60


def test_link_planted_at_the_errors_csv_name_is_replaced_not_followed(adapter, write_csv, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    processed = adapter.inbox_dir / "processed"
    processed.mkdir()
    (processed / ".reply.csv.errors.csv.tmp").symlink_to(victim)
    (processed / "reply.csv.errors.csv").symlink_to(victim)
    f = write_csv([HEADER, ["1", "火星快递", "75123456789012"]])
    parsed = adapter.parse_inbox(f)
    adapter.finish_inbox(f, parsed.errors, parsed.file_error)
    assert victim.read_text() == "keep me"
    assert not (processed / "reply.csv.errors.csv").is_symlink()

"""Fixtures of the drop-folder tests: a config, an adapter on tmp_path, and writers of reply files.

Reply files are generated in tmp_path in the encodings and layouts suppliers really send.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest

from syncd.adapters.dropfolder import DropFolderConfig, DropFolderSupplier, create
from syncd.domain import InboxFile
from syncd.registry import AdapterContext

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)  # 17:00 in Shanghai
SETTLED = NOW.timestamp() - 3600  # mtime of a reply file that is complete


def config(**overrides: Any) -> DropFolderConfig:
    data: dict[str, Any] = {"id": "acme", "kind": "file", "outbox_dir": "outbox", "inbox_dir": "inbox"}
    data.update(overrides)
    return DropFolderConfig.model_validate(data)


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[AdapterContext]:
    with httpx.Client() as http:
        yield AdapterContext(http=http, tokens=None, data_dir=tmp_path)  # type: ignore[arg-type]


@pytest.fixture
def make_adapter(ctx: AdapterContext) -> Callable[..., DropFolderSupplier]:
    def make(**overrides: Any) -> DropFolderSupplier:
        return create(config(**overrides), ctx)

    return make


@pytest.fixture
def adapter(make_adapter: Callable[..., DropFolderSupplier]) -> DropFolderSupplier:
    return make_adapter()


def inbox_file(path: Path) -> InboxFile:
    data = path.read_bytes()
    return InboxFile(name=path.name, path=str(path), sha256=hashlib.sha256(data).hexdigest(), size=len(data))


@pytest.fixture
def write_csv(adapter: DropFolderSupplier) -> Callable[..., InboxFile]:
    """Write rows as a CSV reply in the inbox (settled) and return it as an InboxFile."""

    def write(rows: Sequence[Sequence[str]], name: str = "reply.csv", encoding: str = "utf-8-sig",
              delimiter: str = ",") -> InboxFile:
        buf = io.StringIO(newline="")
        csv.writer(buf, delimiter=delimiter).writerows(rows)
        path = adapter.inbox_dir / name
        path.write_bytes(buf.getvalue().encode(encoding))
        os.utime(path, (SETTLED, SETTLED))
        return inbox_file(path)

    return write


@pytest.fixture
def write_xlsx(adapter: DropFolderSupplier) -> Callable[..., InboxFile]:
    """Write sheets (lists of rows; values keep their Python type) as an .xlsx reply in the inbox."""

    def write(*sheets: Sequence[Sequence[Any]], name: str = "reply.xlsx") -> InboxFile:
        wb = openpyxl.Workbook()
        wb.remove(wb.active)
        for i, rows in enumerate(sheets):
            ws = wb.create_sheet(f"Sheet{i + 1}")
            for row in rows:
                ws.append(list(row))
        path = adapter.inbox_dir / name
        wb.save(path)
        os.utime(path, (SETTLED, SETTLED))
        return inbox_file(path)

    return write

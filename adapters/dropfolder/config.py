"""Configuration of a drop-folder supplier (``kind: file``): folders, file format, columns, schedule."""

from __future__ import annotations

import re
from datetime import time
from pathlib import PurePath
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, field_validator, model_validator

from syncd.config.models import StrictModel, SupplierConfigBase, parse_hhmm
from syncd.sheets.limits import InboxLimits

OutboxField = Literal[
    "order_no", "sub_order_no", "receiver_name", "receiver_phone", "province", "city", "district",
    "address", "supplier_sku", "title", "spec", "quantity", "remark", "shop", "paid_at",
]
OUTBOX_FIELDS: tuple[str, ...] = get_args(OutboxField)

DEFAULT_COLUMNS: tuple[tuple[str, OutboxField], ...] = (
    ("订单号", "order_no"),
    ("收件人", "receiver_name"),
    ("电话", "receiver_phone"),
    ("地址", "address"),
    ("商品编码", "supplier_sku"),
    ("商品名称", "title"),
    ("规格", "spec"),
    ("数量", "quantity"),
    ("备注", "remark"),
)
_DEFAULT_BY_HEADER: dict[str, OutboxField] = dict(DEFAULT_COLUMNS)


class Column(StrictModel):
    """One column of the outbox sheet: the header the supplier sees and the OutboxRow field under it.

    In YAML either ``{header: 手机, field: receiver_phone}`` or, for one of the default headers,
    just the header (``- 订单号``).
    """

    header: Annotated[str, Field(min_length=1, max_length=100)]
    field: OutboxField

    @model_validator(mode="before")
    @classmethod
    def _plain_header(cls, data: Any) -> Any:
        if isinstance(data, str):
            header = data.strip()
            if header not in _DEFAULT_BY_HEADER:
                known = ", ".join(_DEFAULT_BY_HEADER)
                raise ValueError(
                    f"a plain header must be one of the default headers ({known}), found {data!r}; "
                    "otherwise write {header: ..., field: ...}"
                )
            return {"header": header, "field": _DEFAULT_BY_HEADER[header]}
        return data

    @field_validator("header")
    @classmethod
    def _header_text(cls, v: str) -> str:
        v = v.strip()
        if not v or any(ch in v for ch in "\r\n\t"):
            raise ValueError(f"expected a one-line, non-blank header, found {v!r}")
        return v


def _default_columns() -> list[Column]:
    return [Column(header=h, field=f) for h, f in DEFAULT_COLUMNS]


class Schedule(StrictModel):
    """When a new outbox batch is due: every ``interval_minutes``, and at each cutoff (Asia/Shanghai)."""

    interval_minutes: Annotated[float, Field(gt=0)] | None = 30
    cutoffs: list[str] = Field(default_factory=list)

    @field_validator("cutoffs")
    @classmethod
    def _cutoffs(cls, v: list[str]) -> list[str]:
        times = {parse_hhmm(item) for item in v}
        return [t.strftime("%H:%M") for t in sorted(times)]

    @model_validator(mode="after")
    def _something_triggers(self) -> Schedule:
        if self.interval_minutes is None and not self.cutoffs:
            raise ValueError("expected interval_minutes or at least one cutoff, found neither")
        return self

    def cutoff_times(self) -> list[time]:
        """The cutoffs as times of day (Asia/Shanghai), sorted."""
        return [parse_hhmm(c) for c in self.cutoffs]


def _mode(value: Any, needed: int, what: str) -> int:
    """A permission mode from YAML: ``0640`` (read by YAML as octal), ``"0640"`` or ``"640"``."""
    if isinstance(value, str):
        text = value.strip().lower().removeprefix("0o")
        if not re.fullmatch(r"[0-7]{3,4}", text):
            raise ValueError(f"expected an octal {what} mode such as 0600, found {value!r}")
        value = int(text, 8)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0o777:
        raise ValueError(f"expected an octal {what} mode such as 0600, found {value!r}")
    if value & needed != needed:
        raise ValueError(f"expected a {what} mode that lets syncd itself use it ({needed:04o}), found {value:04o}")
    return value


_SAFE_PREFIX = re.compile(r"[^/\\\x00-\x1f:*?\"<>|]*")


class DropFolderConfig(SupplierConfigBase):
    """A supplier without an API: orders go out as spreadsheets, tracking numbers come back as files."""

    kind: Literal["file"]
    outbox_dir: Annotated[str, Field(min_length=1)]
    """Where batch files are written; relative to the data directory unless absolute."""
    inbox_dir: Annotated[str, Field(min_length=1)]
    """Where the supplier drops reply files; relative to the data directory unless absolute."""
    format: Literal["xlsx", "csv"] = "xlsx"
    encoding: Literal["utf-8-sig", "gbk"] = "utf-8-sig"
    """CSV only. ``gbk`` is written with the gb18030 codec (a superset: no character fails)."""
    columns: list[Column] = Field(default_factory=_default_columns)
    schedule: Schedule = Field(default_factory=Schedule)
    settle_seconds: Annotated[float, Field(ge=0, le=3600)] = 10
    """A reply file modified more recently than this is still being written and is not read yet."""
    file_prefix: str = ""
    """Batch file names start with this instead of the supplier id (see :attr:`prefix`)."""
    limits: InboxLimits = Field(default_factory=InboxLimits)
    """Bounds on each reply file; a file over one goes to ``rejected/`` with ``<name>.reason.txt``."""
    file_mode: int = 0o600
    """Mode of every file syncd writes in the folders; 0640/0660 when the supplier reads them as a group."""
    dir_mode: int = 0o700
    """Mode of every folder syncd creates there (outbox, inbox, processed, rejected)."""
    retention_days: Annotated[float, Field(gt=0, le=3650)] = 30
    """Outbox, processed and rejected files older than this are deleted (``syncd purge``); they hold
    names, phones and addresses."""

    @field_validator("file_mode", mode="before")
    @classmethod
    def _file_mode(cls, v: Any) -> int:
        return _mode(v, 0o600, "file")

    @field_validator("dir_mode", mode="before")
    @classmethod
    def _dir_mode(cls, v: Any) -> int:
        return _mode(v, 0o700, "folder")

    @field_validator("columns")
    @classmethod
    def _columns(cls, v: list[Column]) -> list[Column]:
        if not v:
            raise ValueError("expected at least one column, found none")
        seen: set[str] = set()
        for col in v:
            if col.header in seen:
                raise ValueError(f"expected each header once, found {col.header!r} twice")
            seen.add(col.header)
        if not any(col.field == "order_no" for col in v):
            raise ValueError("expected a column with field order_no (the supplier quotes it back), found none")
        return v

    @field_validator("file_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not _SAFE_PREFIX.fullmatch(v) or v.startswith("."):
            raise ValueError(f"expected a file-name prefix without path separators or a leading dot, found {v!r}")
        return v

    @model_validator(mode="after")
    def _distinct_dirs(self) -> DropFolderConfig:
        if PurePath(self.outbox_dir) == PurePath(self.inbox_dir):
            raise ValueError(
                f"outbox_dir and inbox_dir must be different folders, found {self.outbox_dir!r} for both"
            )
        return self

    @property
    def prefix(self) -> str:
        """The batch file-name prefix: ``file_prefix``, or the supplier id."""
        return self.file_prefix or self.id

    def header_of(self, field: str) -> str | None:
        """The configured header of an outbox field, if the sheet has one."""
        return next((c.header for c in self.columns if c.field == field), None)


__all__ = [
    "DEFAULT_COLUMNS", "OUTBOX_FIELDS", "Column", "DropFolderConfig", "InboxLimits", "OutboxField", "Schedule",
]

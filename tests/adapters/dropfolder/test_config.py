"""DropFolderConfig validation and the plugin / factory wiring."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from syncd.adapters.dropfolder import PLUGIN, Column, DropFolderConfig, DropFolderSupplier, create
from syncd.adapters.dropfolder.config import DEFAULT_COLUMNS
from syncd.errors import ConfigError
from syncd.protocols import FileSupplierAdapter
from syncd.registry import AdapterContext

from .conftest import config


def test_minimal_config_gets_default_columns_schedule_and_format():
    cfg = config()
    assert [(c.header, c.field) for c in cfg.columns] == list(DEFAULT_COLUMNS)
    assert cfg.schedule.interval_minutes == 30
    assert cfg.schedule.cutoffs == []
    assert (cfg.format, cfg.encoding, cfg.settle_seconds) == ("xlsx", "utf-8-sig", 10)


def test_plain_default_header_string_becomes_its_column():
    cfg = config(columns=["订单号", " 数量 ", {"header": "手机", "field": "receiver_phone"}])
    assert cfg.columns == [Column(header="订单号", field="order_no"), Column(header="数量", field="quantity"),
                           Column(header="手机", field="receiver_phone")]


def test_plain_header_string_not_among_defaults_is_rejected():
    with pytest.raises(ValidationError, match="a plain header must be one of the default headers"):
        config(columns=["订单号", "手机"])


def test_column_with_unknown_field_is_rejected():
    with pytest.raises(ValidationError, match=r"columns\.1\.field"):
        config(columns=["订单号", {"header": "价格", "field": "price"}])


@pytest.mark.parametrize("overrides", [
    {"outbx_dir": "x"},
    {"schedule": {"interval_minutes": 5, "cutof": ["10:00"]}},
    {"columns": [{"header": "订单号", "field": "order_no", "width": 20}]},
])
def test_unknown_key_anywhere_is_rejected(overrides):
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        config(**overrides)


@pytest.mark.parametrize("cutoff", ["25:00", "10:60", "1000", "noon", ""])
def test_cutoff_not_hhmm_is_rejected(cutoff):
    with pytest.raises(ValidationError, match="expected a time of day as HH:MM"):
        config(schedule={"cutoffs": [cutoff]})


def test_cutoffs_are_normalised_sorted_and_unique():
    cfg = config(schedule={"cutoffs": ["16:00", "9:30", "09:30"]})
    assert cfg.schedule.cutoffs == ["09:30", "16:00"]


def test_schedule_without_interval_or_cutoffs_is_rejected():
    with pytest.raises(ValidationError, match="expected interval_minutes or at least one cutoff"):
        config(schedule={"interval_minutes": None})


def test_columns_without_order_no_are_rejected():
    with pytest.raises(ValidationError, match="field order_no"):
        config(columns=["收件人", "地址"])


def test_same_header_twice_is_rejected():
    with pytest.raises(ValidationError, match="'订单号' twice"):
        config(columns=["订单号", {"header": "订单号", "field": "sub_order_no"}])


def test_same_outbox_and_inbox_dir_is_rejected():
    with pytest.raises(ValidationError, match="must be different folders"):
        config(outbox_dir="files/", inbox_dir="files")


@pytest.mark.parametrize("kind", ["api", "1688", "FILE"])
def test_kind_other_than_file_is_rejected(kind):
    with pytest.raises(ValidationError, match="kind"):
        config(kind=kind)


@pytest.mark.parametrize("prefix", ["../x", "a/b", ".hidden", "a:b"])
def test_file_prefix_with_path_characters_is_rejected(prefix):
    with pytest.raises(ValidationError, match="file-name prefix"):
        config(file_prefix=prefix)


def test_file_prefix_defaults_to_supplier_id():
    assert config().prefix == "acme"
    assert config(file_prefix="ACME订单").prefix == "ACME订单"


def test_factory_resolves_relative_dirs_against_data_dir_and_creates_them(ctx: AdapterContext, tmp_path: Path):
    adapter = create(config(outbox_dir="acme/out", inbox_dir="acme/in"), ctx)
    assert adapter.outbox_dir == tmp_path / "acme/out"
    assert adapter.inbox_dir == tmp_path / "acme/in"
    assert adapter.outbox_dir.is_dir() and adapter.inbox_dir.is_dir()


def test_factory_keeps_absolute_dirs(ctx: AdapterContext, tmp_path: Path):
    out, inbox = tmp_path / "abs" / "o", tmp_path / "abs" / "i"
    adapter = create(config(outbox_dir=str(out), inbox_dir=str(inbox)), ctx)
    assert (adapter.outbox_dir, adapter.inbox_dir) == (out, inbox)


def test_factory_when_folder_cannot_be_created_raises_config_error(ctx: AdapterContext, tmp_path: Path):
    (tmp_path / "blocker").write_text("a file, not a folder")
    with pytest.raises(ConfigError, match="supplier acme: outbox_dir: cannot create folder"):
        create(config(outbox_dir="blocker/out"), ctx)


def test_factory_when_dirs_resolve_to_one_folder_raises_config_error(ctx: AdapterContext, tmp_path: Path):
    with pytest.raises(ConfigError, match="inbox_dir: must differ from outbox_dir"):
        create(config(outbox_dir="files", inbox_dir=str(tmp_path / "files")), ctx)


def test_plugin_registers_kind_file_whose_factory_builds_a_file_supplier(ctx: AdapterContext):
    assert PLUGIN.kind == "file"
    assert PLUGIN.config_model is DropFolderConfig
    adapter = PLUGIN.factory(PLUGIN.config_model.model_validate(
        {"id": "acme", "kind": "file", "outbox_dir": "o", "inbox_dir": "i"}), ctx)
    assert isinstance(adapter, DropFolderSupplier)
    assert isinstance(adapter, FileSupplierAdapter)
    assert adapter.kind == "file"


def test_limits_modes_and_retention_have_safe_defaults():
    cfg = config()
    assert (cfg.file_mode, cfg.dir_mode, cfg.retention_days) == (0o600, 0o700, 30)
    assert cfg.limits.max_file_mb == 20 and cfg.limits.max_rows == 20_000 and cfg.limits.max_error_rows == 1000


def test_limits_are_overridable_per_supplier_and_unknown_limit_keys_are_rejected():
    assert config(limits={"max_rows": 50_000}).limits.max_rows == 50_000
    with pytest.raises(ValidationError, match="max_rowz"):
        config(limits={"max_rowz": 1})


@pytest.mark.parametrize(("given", "mode"), [(0o640, 0o640), ("0660", 0o660), ("640", 0o640), ("0o600", 0o600)])
def test_file_mode_accepts_yaml_octal_and_strings(given, mode):
    assert config(file_mode=given).file_mode == mode


@pytest.mark.parametrize("given", ["0400", "rw-r-----", 0o1777, "0999", True])
def test_file_mode_that_syncd_cannot_use_or_is_not_octal_is_rejected(given):
    with pytest.raises(ValidationError, match="file mode"):
        config(file_mode=given)


def test_dir_mode_without_owner_search_is_rejected():
    with pytest.raises(ValidationError, match="folder mode"):
        config(dir_mode="0600")


def test_template_validates_with_its_commented_retention_modes_and_limits_switched_on():
    import re

    import yaml

    template = Path(__file__).resolve().parents[3] / "config" / "templates" / "suppliers" / "dropfolder.yaml"
    text = template.read_text(encoding="utf-8")
    on = re.sub(r"(?m)^# ((?:file_mode|dir_mode|retention_days|limits):|  max_)", r"\1", text)
    cfg = DropFolderConfig.model_validate({"id": "acme", **yaml.safe_load(on)})
    assert (cfg.file_mode, cfg.dir_mode, cfg.retention_days) == (0o600, 0o700, 30)
    assert cfg.limits == DropFolderConfig.model_validate({"id": "acme", **yaml.safe_load(text)}).limits

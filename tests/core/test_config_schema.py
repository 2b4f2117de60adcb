"""``syncd config schema``: JSON Schema of every config file, which the templates' modelines point at."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from syncd.cli import main

TEMPLATES = Path(__file__).resolve().parents[2] / "config" / "templates"
_MODELINE = "# yaml-language-server: $schema="


@pytest.fixture
def written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    """The templates, with the schemas written by the command into their default place (<config>/schema)."""
    cfg = tmp_path / "config"
    shutil.copytree(TEMPLATES, cfg)
    monkeypatch.setenv("SYNCD_CONFIG_DIR", str(cfg))
    assert main(["config", "schema"]) == 0
    assert str(cfg / "schema" / "shop.schema.json") in capsys.readouterr().out
    return cfg


def _validator(yaml_file: Path) -> Draft202012Validator:
    """The validator an editor uses for ``yaml_file``: the schema its modeline names, relative to the file."""
    first = yaml_file.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith(_MODELINE), yaml_file
    schema = json.loads((yaml_file.parent / first.removeprefix(_MODELINE)).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_config_schema_given_the_templates_every_template_is_valid_under_its_modeline_schema(written: Path):
    files = sorted(written.glob("*.yaml")) + sorted(written.glob("*/*.yaml"))
    assert len(files) == 10
    for f in files:
        data = yaml.safe_load(f.read_text(encoding="utf-8"))
        assert [e.message for e in _validator(f).iter_errors(data)] == [], f


@pytest.mark.parametrize(("rel", "bad"), [
    ("shops/taobao.yaml", {"pull": {"window_minuts": 30}}),
    ("suppliers/dropfolder.yaml", {"kind": "fax"}),
    ("syncd.yaml", {"batch_size": 0}),
    ("alerts.yaml", {"channels": [{"kind": "dingtalk", "acess_token": "x"}]}),
    ("routes.yaml", {"routes": [{"sku": "A", "supplier": "x", "supplier_sku": "B", "multipler": 2}]}),
])
def test_config_schema_given_a_typo_or_wrong_value_the_editor_flags_it(written: Path, rel: str, bad: dict[str, object]):
    f = written / rel
    data = yaml.safe_load(f.read_text(encoding="utf-8")) | bad
    assert list(_validator(f).iter_errors(data))


def test_config_schema_given_a_shop_file_without_id_is_valid_the_file_name_is_the_id(written: Path):
    f = written / "shops" / "pdd.yaml"
    data = yaml.safe_load(f.read_text(encoding="utf-8"))
    assert "id" not in data and not list(_validator(f).iter_errors(data))


def test_config_schema_given_an_unwritable_folder_says_so_without_a_traceback(tmp_path: Path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    assert main(["config", "schema", "--out", str(blocker / "schema")]) == 1
    assert capsys.readouterr().err.startswith(f"syncd: cannot write the schemas into {blocker / 'schema'}")

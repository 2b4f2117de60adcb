"""The config directory holds only what syncd reads: a misspelt file or folder is an error with a suggestion."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from syncd.config.loader import load_config
from syncd.errors import ConfigErrors

SANDBOX = Path(__file__).resolve().parents[2] / "config" / "sandbox"
ENV = {"SYNCD_SANDBOX_URL": "http://127.0.0.1:1"}


@pytest.fixture
def cfg_dir(tmp_path: Path) -> Path:
    d = tmp_path / "config"
    shutil.copytree(SANDBOX, d)
    return d


def _errors(d: Path) -> list[str]:
    with pytest.raises(ConfigErrors) as exc:
        load_config(d, env=ENV)
    return [str(e) for e in exc.value.errors]


def test_load_given_misspelt_top_level_files_names_each_with_the_file_meant(cfg_dir: Path):
    (cfg_dir / "routes.yaml").rename(cfg_dir / "route.yaml")
    (cfg_dir / "alerts.yaml").rename(cfg_dir / "alert.yaml")
    errs = _errors(cfg_dir)
    assert "route.yaml: (top): unknown file, syncd does not read it; did you mean 'routes.yaml'?" in errs
    assert "alert.yaml: (top): unknown file, syncd does not read it; did you mean 'alerts.yaml'?" in errs


def test_load_given_a_renamed_suppliers_folder_is_an_error_and_routes_still_need_their_supplier(cfg_dir: Path):
    (cfg_dir / "suppliers").rename(cfg_dir / "supplier")
    errs = _errors(cfg_dir)
    assert "supplier/: (top): unknown folder, syncd does not read it; did you mean 'suppliers/'?" in errs
    # without a suppliers/ folder every route leads nowhere: said once per supplier, not silently skipped
    assert any(e.startswith("routes.yaml: routes[0].supplier: supplier ") and "has no file in suppliers/" in e
               for e in errs)


def test_load_given_yml_files_reads_them_like_yaml(cfg_dir: Path):
    for name in ("tracking", "alerts", "routes", "syncd"):
        (cfg_dir / f"{name}.yaml").rename(cfg_dir / f"{name}.yml")
    (cfg_dir / "syncd.yml").write_text("batch_size: 7\n", encoding="utf-8")
    cfg = load_config(cfg_dir, env=ENV)
    assert cfg.global_.batch_size == 7 and cfg.tracking is not None and cfg.routes and cfg.channels


def test_load_given_both_yaml_and_yml_of_one_file_refuses_to_guess(cfg_dir: Path):
    shutil.copy(cfg_dir / "alerts.yaml", cfg_dir / "alerts.yml")
    assert "alerts.yml: (top): alerts.yaml exists too: keep one of the two files" in _errors(cfg_dir)


def test_load_given_a_yml_syncd_file_with_an_error_names_that_file(cfg_dir: Path):
    (cfg_dir / "syncd.yaml").rename(cfg_dir / "syncd.yml")
    (cfg_dir / "syncd.yml").write_text("batch_sise: 7\n", encoding="utf-8")
    assert _errors(cfg_dir) == ["syncd.yml: batch_sise: unknown key (typo?); did you mean 'batch_size'?"]


def test_load_given_stray_files_in_shops_or_a_subfolder_names_them(cfg_dir: Path):
    (cfg_dir / "shops" / "taobao.json").write_text("{}", encoding="utf-8")
    (cfg_dir / "suppliers" / "old").mkdir()
    errs = _errors(cfg_dir)
    assert "shops/taobao.json: (top): not read: files in shops/ must end in .yaml or .yml" in errs
    assert any(e.startswith("suppliers/old/: (top): a folder inside suppliers/ is not read") for e in errs)


def test_load_given_hidden_files_backups_notes_and_the_schema_folder_ignores_them(cfg_dir: Path):
    (cfg_dir / ".env").write_text("X=1\n", encoding="utf-8")
    (cfg_dir / "routes.yaml~").write_text("", encoding="utf-8")
    (cfg_dir / "README.md").write_text("notes", encoding="utf-8")
    (cfg_dir / "schema").mkdir()
    (cfg_dir / "shops" / ".pdd.yaml.swp").write_text("", encoding="utf-8")
    assert load_config(cfg_dir, env=ENV).shops


def test_load_given_an_unknown_key_suggests_the_closest_key_of_that_model(cfg_dir: Path):
    shop = cfg_dir / "shops" / "pdd-demo.yaml"
    shop.write_text(shop.read_text(encoding="utf-8") + "pull:\n  overlap_minute: 3\n", encoding="utf-8")
    (cfg_dir / "syncd.yaml").write_text("retry:\n  atempts: 2\nzzz: 1\n", encoding="utf-8")
    errs = _errors(cfg_dir)
    assert "shops/pdd-demo.yaml: pull.overlap_minute: unknown key (typo?); did you mean 'overlap_minutes'?" in errs
    assert "syncd.yaml: retry.atempts: unknown key (typo?); did you mean 'attempts'?" in errs
    assert "syncd.yaml: zzz: unknown key (typo?)" in errs  # nothing close: no guess


def test_load_given_routes_naming_one_missing_supplier_says_it_once(cfg_dir: Path):
    lines = ["sku,supplier,supplier_sku"] + [f"S{i},acme,Y{i}" for i in range(500)]
    (cfg_dir / "routes.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    errs = _errors(cfg_dir)
    assert errs == ["routes.csv: line 2.supplier: supplier 'acme' has no file in suppliers/ "
                    "(and 499 more route(s) name it)"]


@pytest.mark.parametrize(("name", "message"), [
    ("routes.xls", "syncd reads the routes table only as routes.csv or routes.xlsx: save it as one of them"),
    ("routes.txt", "syncd reads the routes table only as routes.csv or routes.xlsx: save it as one of them"),
    ("alerts.yaml.txt", "unknown file, syncd does not read it; did you mean 'alerts.yaml'?"),
])
def test_load_given_configuration_saved_in_a_form_not_read_says_so_though_notes_are_ignored(
        cfg_dir: Path, name: str, message: str):
    (cfg_dir / "notes.txt").write_text("my notes", encoding="utf-8")
    (cfg_dir / name).write_bytes(b"x")
    assert _errors(cfg_dir) == [f"{name}: (top): {message}"]


def test_load_given_an_unreadable_file_reports_it_with_the_others(cfg_dir: Path, monkeypatch: pytest.MonkeyPatch):
    real = Path.read_text

    def read_text(self: Path, *args: object, **kwargs: object) -> str:
        if self.name == "alerts.yaml":
            raise PermissionError(13, "Permission denied")
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", read_text)
    (cfg_dir / "route.yaml").write_text("routes: []\n", encoding="utf-8")
    errs = _errors(cfg_dir)
    assert "alerts.yaml: (top): cannot read the file: Permission denied" in errs and len(errs) == 2


def test_load_given_a_broken_link_in_shops_says_it_cannot_be_read(cfg_dir: Path):
    (cfg_dir / "shops" / "jd.yaml").symlink_to(cfg_dir / "nowhere.yaml")
    assert _errors(cfg_dir) == ["shops/jd.yaml: (top): cannot read the file: No such file or directory"]


@pytest.mark.parametrize("name", ["alerts.yaml", "routes.csv"])
def test_load_given_a_broken_link_at_the_top_is_not_skipped(cfg_dir: Path, name: str):
    (cfg_dir / name).unlink(missing_ok=True)
    (cfg_dir / name).symlink_to(cfg_dir / "nowhere")
    assert _errors(cfg_dir) == [f"{name}: (top): cannot read the file: No such file or directory"]

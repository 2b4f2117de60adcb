"""check-config speaks the operator's language: each silent mistake of issue 17 named in Chinese."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd import i18n
from syncd.cli import EXIT_CHECK_FAILED, main
from syncd.sandboxrun import sandbox_config_dir


@pytest.fixture
def conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    dest = tmp_path / "config"
    shutil.copytree(sandbox_config_dir(), dest)
    monkeypatch.setenv("SYNCD_LANG", "zh-CN")
    with i18n.use("zh-CN"):
        yield dest


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


MISTAKES = {
    "route.yaml": (lambda c: (c / "routes.yaml").rename(c / "route.yaml"),
                   "route.yaml: (top): 不认识的文件，syncd 不会读取它；是不是想写 'routes.yaml'？"),
    "alert.yaml": (lambda c: (c / "alerts.yaml").rename(c / "alert.yaml"),
                   "alert.yaml: (top): 不认识的文件，syncd 不会读取它；是不是想写 'alerts.yaml'？"),
    "supplier/": (lambda c: (c / "suppliers").rename(c / "supplier"),
                  "supplier/: (top): 不认识的文件夹，syncd 不会读取它；是不是想写 'suppliers/'？"),
    "unknown key": (lambda c: (c / "syncd.yaml").write_text("languag: zh-CN\n", encoding="utf-8"),
                    "syncd.yaml: languag: 不认识的配置项（写错了？）；是不是想写 'language'？"),
    "mode": (lambda c: _append(c / "shops" / "pdd-demo.yaml", "mode: shadw\n"),
             "shops/pdd-demo.yaml: mode: 只能是 'live' or 'shadow'，实际是 'shadw'"),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_check_config_given_a_silent_mistake_names_it_in_chinese(conf: Path, capsys, mistake: str):
    make, said = MISTAKES[mistake]
    make(conf)
    with pytest.raises(SystemExit) as stop:
        main(["--config", str(conf), "check-config"])
    assert stop.value.code == EXIT_CHECK_FAILED
    assert said in capsys.readouterr().err


def test_check_config_given_suppliers_misnamed_still_checks_the_routes_suppliers(conf: Path, capsys):
    (conf / "suppliers").rename(conf / "supplier")
    with pytest.raises(SystemExit) as stop:
        main(["--config", str(conf), "check-config"])
    assert stop.value.code == EXIT_CHECK_FAILED
    err = capsys.readouterr().err
    assert "供应商 'gz-apparel' 在 suppliers/ 里没有对应的文件（另有 5 条路由也写了它）" in err


def test_check_config_given_a_wrong_setting_says_what_is_expected_in_chinese(conf: Path, capsys, monkeypatch):
    monkeypatch.setenv("SYNCD_LOG_FORMAT", "jsn")
    monkeypatch.setenv("SYNCD_LOG_FROMAT", "json")
    with pytest.raises(SystemExit) as stop:
        main(["--config", str(conf), "check-config"])
    assert stop.value.code == EXIT_CHECK_FAILED
    err = capsys.readouterr().err
    assert "environment: SYNCD_LOG_FORMAT: 只能是 'text' or 'json'，实际是 'jsn'" in err
    assert "environment: SYNCD_LOG_FROMAT: syncd 没有这个设置；是不是想写 SYNCD_LOG_FORMAT？" in err

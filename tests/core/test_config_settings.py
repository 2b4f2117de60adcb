"""SYNCD_* settings: a wrong or misspelt variable is one clear line, at start and in check-config."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from syncd.cli import main
from syncd.errors import ConfigErrors
from syncd.settings import load_settings
from tests.core.test_config_loader import SANDBOX


def _errors(env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigErrors) as exc:
        load_settings(env)
    return [str(e) for e in exc.value.errors]


def test_load_settings_given_a_wrong_log_format_says_what_is_expected():
    assert _errors({"SYNCD_LOG_FORMAT": "jsn"}) == [
        "environment: SYNCD_LOG_FORMAT: expected 'text' or 'json', found 'jsn'"]


def test_load_settings_given_an_unknown_log_level_refuses_it_and_any_case_is_fine():
    assert _errors({"SYNCD_LOG_LEVEL": "verbose"}) == [
        "environment: SYNCD_LOG_LEVEL: expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL, found 'verbose'"]
    assert load_settings({"SYNCD_LOG_LEVEL": "debug"}).log_level == "DEBUG"


def test_load_settings_given_several_problems_lists_each_and_a_port_out_of_range():
    errs = _errors({"SYNCD_ADMIN_PORT": "70000", "SYNCD_LOG_FORMAT": "xml", "SYNCD_LOG_FROMAT": "json"})
    assert "environment: SYNCD_LOG_FROMAT: not a setting syncd reads; did you mean SYNCD_LOG_FORMAT?" in errs
    assert any(e.startswith("environment: SYNCD_ADMIN_PORT: ") and "65535" in e for e in errs)
    assert any(e.startswith("environment: SYNCD_LOG_FORMAT: ") for e in errs) and len(errs) == 3


def test_load_settings_given_a_bad_database_url_or_key_never_echoes_the_value():
    [err] = _errors({"SYNCD_DATABASE_URL": "postgres//u:hunter2@db/x"})
    assert err.startswith("environment: SYNCD_DATABASE_URL: expected a database URL such as ")
    assert "hunter2" not in err


def test_load_settings_leaves_other_syncd_variables_alone():
    env = {"SYNCD_SANDBOX_URL": "http://x", "SYNCD_TEST_POSTGRES_URL": "postgresql://x", "SYNCD_LANG": "zh-CN"}
    assert load_settings(env).log_format == "text"


def test_main_given_a_wrong_setting_prints_one_line_not_a_traceback(monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.setenv("SYNCD_LOG_FORMAT", "jsn")
    assert main(["status"]) == 6  # EXIT_CHECK_FAILED
    err = capsys.readouterr().err.splitlines()
    assert err == ["environment: SYNCD_LOG_FORMAT: expected 'text' or 'json', found 'jsn'",
                   "1 configuration problem(s) in the SYNCD_* environment variables"]


def test_check_config_lists_setting_problems_with_the_files_problems(tmp_path: Path, monkeypatch, capsys):
    cfg = tmp_path / "config"
    shutil.copytree(SANDBOX, cfg)
    (cfg / "route.yaml").write_text("routes: []\n", encoding="utf-8")
    monkeypatch.setenv("SYNCD_SANDBOX_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SYNCD_CONFIG_DIR", str(cfg))
    monkeypatch.setenv("SYNCD_LOG_LEVEL", "loud")
    with pytest.raises(SystemExit) as exc:
        main(["check-config"])
    assert exc.value.code == 6  # EXIT_CHECK_FAILED
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("environment: SYNCD_LOG_LEVEL: expected one of DEBUG")
    assert "route.yaml: (top): unknown file, syncd does not read it; did you mean 'routes.yaml'?" in err
    assert err[-1].startswith("2 configuration problem(s)")

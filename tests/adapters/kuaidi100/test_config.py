"""tracking.yaml for Kuaidi100: defaults, the subscribe-mode requirements, the plugin, the template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from syncd.adapters.kuaidi100 import PLUGIN, Kuaidi100Config, Kuaidi100Provider
from syncd.config.loader import _pydantic_errors
from syncd.registry import AdapterContext
from tests.adapters.kuaidi100.conftest import KEY, SALT, make_config

TEMPLATE = Path(__file__).resolve().parents[3] / "config" / "templates" / "tracking.yaml"


def _errors(**changes: Any) -> list[str]:
    with pytest.raises(ValidationError) as info:
        make_config(**changes)
    return [str(e) for e in _pydantic_errors("tracking.yaml", info.value)]


def test_defaults_poll_with_resultv2_4_on_the_official_host() -> None:
    cfg = make_config(salt=None)
    assert (cfg.base_url, cfg.resultv2, cfg.mode, cfg.daily_query_budget) == (
        "https://poll.kuaidi100.com", 4, "poll", 2000)
    assert cfg.callback_base_url is None and cfg.remote_provinces == [] and cfg.salt is None


def test_base_url_and_callback_base_url_lose_their_trailing_slash() -> None:
    cfg = make_config(base_url="http://127.0.0.1:8080/kuaidi100/", mode="subscribe",
                      callback_base_url="https://syncd.example.com/")
    assert cfg.base_url == "http://127.0.0.1:8080/kuaidi100"
    assert cfg.callback_base_url == "https://syncd.example.com"


def test_subscribe_mode_without_callback_base_url_and_salt_names_both() -> None:
    assert _errors(mode="subscribe", salt=None) == [
        "tracking.yaml: (top): Value error, mode 'subscribe' needs callback_base_url and salt, found none"]


def test_a_too_long_salt_is_refused_without_showing_it() -> None:
    errors = _errors(salt="S" * 33)
    assert errors == ["tracking.yaml: (top): Value error, salt: expected 1 to 32 characters, found 33"]


def test_a_numeric_key_is_taken_as_text_so_no_error_can_echo_it() -> None:
    assert make_config(key=1234567).key.get_secret_value() == "1234567"


def test_unknown_keys_a_bad_resultv2_and_a_non_http_base_url_are_each_reported() -> None:
    errors = _errors(resultv2=3, base_url="ftp://x", callbak_base_url="https://a")
    assert "tracking.yaml: callbak_base_url: unknown key (typo?)" in errors
    assert any(e.startswith("tracking.yaml: resultv2: expected 0, 1, 4 or 8") for e in errors)
    assert any(e.startswith("tracking.yaml: base_url: Value error, expected an http(s) URL") for e in errors)


def test_repr_of_the_config_hides_key_and_salt() -> None:
    text = repr(make_config())
    assert KEY not in text and SALT not in text


def test_plugin_builds_the_provider_from_its_config(ctx: AdapterContext) -> None:
    assert PLUGIN.kind == "kuaidi100" and PLUGIN.config_model is Kuaidi100Config
    provider = PLUGIN.factory(make_config(), ctx)
    assert isinstance(provider, Kuaidi100Provider) and provider.name == "kuaidi100"


def test_plugin_refuses_another_config_model(ctx: AdapterContext) -> None:
    with pytest.raises(TypeError, match="Kuaidi100Config"):
        PLUGIN.factory({"provider": "kuaidi100"}, ctx)


def test_the_template_is_a_valid_config_once_its_secrets_are_filled_in() -> None:
    raw = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    assert raw["key"] == "${KUAIDI100_KEY}" and raw["salt"] == "${KUAIDI100_SALT}"
    cfg = Kuaidi100Config.model_validate({**raw, "key": "k", "salt": "s"})
    assert (cfg.provider, cfg.mode, cfg.daily_query_budget) == ("kuaidi100", "poll", 2000)

"""The Taobao shop file model and the plugin entry."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from syncd.adapters.sandbox.taobao_seed import (
    SANDBOX_TAOBAO_APP_KEY,
    SANDBOX_TAOBAO_APP_SECRET,
    SANDBOX_TAOBAO_REFRESH,
    SANDBOX_TAOBAO_SESSION,
)
from syncd.adapters.taobao import PLUGIN, TaobaoAdapter, TaobaoShopConfig
from syncd.adapters.taobao.config import TRADE_FIELDS
from syncd.protocols import StorefrontAdapter
from syncd.registry import AdapterContext
from tests.adapters.taobao.conftest import REFRESH, SECRET, SESSION, make_config

CONFIG = Path(__file__).resolve().parents[3] / "config"


def test_config_given_minimal_file_takes_the_defaults() -> None:
    config = make_config()

    assert config.base_url == "https://eco.taobao.com/router/rest"
    assert config.sign_method == "hmac-sha256"
    assert (config.decrypt_batch, config.carrier_cache_hours, config.can_refresh) == (20, 24, False)
    assert config.fullinfo_fields == config.list_fields == TRADE_FIELDS
    assert config.refresh_token is None


def test_config_given_expiry_without_zone_reads_it_as_shanghai_time() -> None:
    config = make_config(session_expires_at="2026-01-31 08:00:00")

    assert config.session_expires_at == datetime(2026, 1, 31, 0, 0, tzinfo=UTC)


def test_config_given_refreshable_session_needs_no_expiry() -> None:
    config = make_config(can_refresh=True, refresh_token=REFRESH, session_expires_at=None)

    assert config.refresh_token is not None and config.refresh_token.get_secret_value() == REFRESH


@pytest.mark.parametrize(("changes", "where"), [
    ({"session_expires_at": None}, "session_expires_at is missing"),
    ({"can_refresh": True}, "refresh_token is missing"),
    ({"sign_method": "sha1"}, "sign_method"),
    ({"decrypt_batch": 21}, "decrypt_batch"),
    ({"decrypt_batch": 0}, "decrypt_batch"),
    ({"carrier_cache_hours": 0}, "carrier_cache_hours"),
    ({"fullinfo_fields": "tid,status"}, "type, modified, orders"),
    ({"list_fields": "status,modified,orders"}, "including tid, type"),
    # without type a cash-on-delivery trade cannot be told from a prepaid one (issue 15.2)
    ({"list_fields": "tid,status,modified,orders"}, "including type"),
    ({"app_key": "12 34"}, "app_key"),
    ({"sesion": "typo"}, "sesion"),
    ({"rate_limits": {"taobao.trade.fullinfo.get": 0}}, "rate_limits"),
])
def test_config_given_invalid_value_raises_naming_it(changes: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError, match=where):
        make_config(**changes)


def test_config_repr_and_dump_never_show_the_secrets() -> None:
    config = make_config(can_refresh=True, refresh_token=REFRESH)

    shown = repr(config) + str(config.model_dump())
    assert SECRET not in shown and SESSION not in shown and REFRESH not in shown


def test_config_rate_for_prefers_the_shop_override() -> None:
    config = make_config(rate_limits={"taobao.trade.fullinfo.get": 2.5})

    assert config.rate_for("taobao.trade.fullinfo.get", 20) == 2.5
    assert config.rate_for("taobao.top.oaid.decrypt", 5) == 5


def test_plugin_given_config_builds_a_storefront_adapter(ctx: AdapterContext) -> None:
    assert PLUGIN.platform == "taobao"
    assert PLUGIN.config_model is TaobaoShopConfig

    adapter = PLUGIN.factory(make_config(), ctx)

    assert isinstance(adapter, TaobaoAdapter)
    assert isinstance(adapter, StorefrontAdapter)
    assert adapter.platform == "taobao"
    assert adapter.max_window.total_seconds() == 24 * 3600  # TOP accepts a day


def test_plugin_given_another_platform_config_raises_type_error(ctx: AdapterContext) -> None:
    with pytest.raises(TypeError, match="TaobaoShopConfig"):
        PLUGIN.factory(object(), ctx)


def _yaml_shop(path: Path) -> dict[str, Any]:
    """A shop file as the loader would give it: ``${NAME:-default}`` → default, ``${NAME}`` → a stand-in."""
    text = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", path.read_text(encoding="utf-8"))
    text = re.sub(r"\$\{[A-Z_]+\}", "stand-in-value", text)
    data: dict[str, Any] = yaml.safe_load(text)
    data.setdefault("id", path.stem)
    return data


@pytest.mark.parametrize("path", [CONFIG / "sandbox" / "shops" / "taobao-demo.yaml",
                                  CONFIG / "templates" / "shops" / "taobao.yaml"])
def test_shipped_shop_files_validate(path: Path) -> None:
    config = TaobaoShopConfig.model_validate(_yaml_shop(path))

    assert config.platform == "taobao" and config.pull.window_minutes == 24 * 60


def test_sandbox_shop_file_holds_the_simulators_credentials() -> None:
    config = TaobaoShopConfig.model_validate(_yaml_shop(CONFIG / "sandbox" / "shops" / "taobao-demo.yaml"))

    assert config.base_url == "http://127.0.0.1:8765/taobao"
    assert config.app_key == SANDBOX_TAOBAO_APP_KEY
    assert config.app_secret.get_secret_value() == SANDBOX_TAOBAO_APP_SECRET
    assert config.session.get_secret_value() == SANDBOX_TAOBAO_SESSION
    assert config.refresh_token is not None and config.refresh_token.get_secret_value() == SANDBOX_TAOBAO_REFRESH
    assert config.can_refresh

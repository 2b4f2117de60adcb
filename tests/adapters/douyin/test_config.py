"""The Douyin shop file model and the plugin entry."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from syncd.adapters.douyin import PLUGIN, DouyinAdapter, DouyinShopConfig
from syncd.protocols import StorefrontAdapter
from syncd.registry import AdapterContext
from tests.adapters.douyin.conftest import SECRET, make_config


def test_config_given_minimal_self_grant_file_takes_the_defaults() -> None:
    config = make_config()

    assert config.auth.grant == "self"
    assert config.base_url == "https://openapi-fxg.jinritemai.com"
    assert (config.decrypt_batch, config.carrier_cache_hours, config.refresh_before_minutes) == (50, 24, 50)
    assert config.test_shop is False


@pytest.mark.parametrize(("changes", "where"), [
    ({"auth": {"grant": "token", "access_token": "a"}}, "refresh_token"),
    ({"auth": {"grant": "token"}}, "access_token and refresh_token"),
    ({"shop_id": None}, "shop_id"),
    ({"refresh_before_minutes": 60}, "refresh_before_minutes"),
    ({"decrypt_batch": 51}, "decrypt_batch"),
    ({"decrypt_batch": 0}, "decrypt_batch"),
    ({"app_key": "abc123"}, "app_key"),
    ({"carrier_cache_hours": 0}, "carrier_cache_hours"),
    ({"app_sercet": "typo"}, "app_sercet"),
    ({"auth": {"grant": "self", "token": "x"}}, "token"),
])
def test_config_given_invalid_value_raises_naming_it(changes: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError, match=where):
        make_config(**changes)


def test_config_given_token_grant_with_both_tokens_needs_no_shop_id() -> None:
    config = make_config(shop_id=None, auth={"grant": "token", "access_token": "a", "refresh_token": "r"})

    assert config.auth.refresh_token is not None
    assert config.auth.refresh_token.get_secret_value() == "r"


def test_config_repr_and_dump_never_show_the_secrets() -> None:
    config = make_config(shop_id=None, auth={"grant": "token", "access_token": "acc-tok-xyz",
                                             "refresh_token": "ref-tok-xyz"})

    shown = repr(config) + str(config.model_dump())
    assert SECRET not in shown and "acc-tok-xyz" not in shown and "ref-tok-xyz" not in shown


def test_plugin_given_config_builds_a_storefront_adapter(ctx: AdapterContext) -> None:
    assert PLUGIN.platform == "douyin"
    assert PLUGIN.config_model is DouyinShopConfig

    adapter = PLUGIN.factory(make_config(), ctx)

    assert isinstance(adapter, DouyinAdapter)
    assert isinstance(adapter, StorefrontAdapter)
    assert adapter.platform == "douyin"

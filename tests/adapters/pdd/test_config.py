"""The Pinduoduo shop file model and the plugin entry."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from syncd.adapters.pdd import PLUGIN, PddAdapter, PddShopConfig
from syncd.protocols import StorefrontAdapter
from syncd.registry import AdapterContext
from tests.adapters.pdd.conftest import SECRET, make_config


def test_config_given_a_minimal_file_takes_the_defaults() -> None:
    config = make_config()

    assert config.base_url == "https://gw-api.pinduoduo.com/api/router"
    assert (config.decrypt_batch, config.carrier_cache_hours, config.refresh_before_minutes) == (100, 24, 60)
    assert (config.paging, config.refund_after_sales_status, config.error_actions) == ("backward", 1, {})
    assert config.pull.window_minutes == 30


def test_config_given_pull_without_window_takes_30_minutes_and_keeps_the_rest() -> None:
    config = make_config(pull={"overlap_minutes": 3, "lag_seconds": 180})

    assert (config.pull.window_minutes, config.pull.overlap_minutes, config.pull.lag_seconds) == (30, 3, 180)


def test_config_given_a_router_url_with_a_trailing_slash_drops_it() -> None:
    assert make_config(base_url="http://127.0.0.1:8765/pdd/").base_url == "http://127.0.0.1:8765/pdd"


@pytest.mark.parametrize(("changes", "where"), [
    ({"pull": {"window_minutes": 31}}, "Pinduoduo lists at most 30 minutes per call, found 31"),
    ({"decrypt_batch": 101}, "decrypt_batch"),
    ({"decrypt_batch": 0}, "decrypt_batch"),
    ({"client_id": ""}, "client_id"),
    ({"client_id": "has space"}, "client_id"),
    ({"carrier_cache_hours": 0}, "carrier_cache_hours"),
    ({"paging": "forward"}, "paging"),
    ({"client_secert": "typo"}, "client_secert"),
    ({"auth": {"access_token": "a"}}, "refresh_token"),
    ({"auth": {"access_token": "a", "refresh_token": "r", "code": "c"}}, "code"),
    ({"base_url": "gw-api.pinduoduo.com"}, "base_url"),
])
def test_config_given_an_invalid_value_raises_naming_it(changes: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError, match=where):
        make_config(**changes)


def test_config_without_auth_is_valid_until_a_token_is_needed() -> None:
    assert make_config(auth=None).auth is None


def test_config_repr_and_dump_never_show_the_secrets() -> None:
    config = make_config(auth={"access_token": "acc-tok-xyz", "refresh_token": "ref-tok-xyz"})

    shown = repr(config) + str(config.model_dump()) + config.model_dump_json()
    assert SECRET not in shown and "acc-tok-xyz" not in shown and "ref-tok-xyz" not in shown


def test_plugin_given_config_builds_a_storefront_adapter(ctx: AdapterContext) -> None:
    assert PLUGIN.platform == "pdd"
    assert PLUGIN.config_model is PddShopConfig

    adapter = PLUGIN.factory(make_config(), ctx)

    assert isinstance(adapter, PddAdapter)
    assert isinstance(adapter, StorefrontAdapter)
    assert adapter.platform == "pdd"
    assert adapter.max_window.total_seconds() == 1800


def test_plugin_given_another_config_refuses_it(ctx: AdapterContext) -> None:
    with pytest.raises(TypeError, match="PddShopConfig"):
        PLUGIN.factory(object(), ctx)

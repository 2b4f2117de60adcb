"""The supplier file of a webhook supplier: defaults, and every wrong value refused with what was found."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from syncd.adapters.webhook import PLUGIN, WebhookSupplier
from syncd.adapters.webhook.config import WebhookSupplierConfig
from syncd.protocols import ApiSupplierAdapter
from syncd.registry import AdapterContext
from tests.adapters.webhook.conftest import BASE, SECRET, make_config

TEMPLATE = Path(__file__).resolve().parents[3] / "config" / "templates" / "suppliers" / "webhook.yaml"


def test_defaults() -> None:
    config = make_config()

    assert config.tracking == "poll"
    assert config.stock is True
    assert config.timestamp_window_seconds == 300
    assert (config.paths.orders, config.paths.status, config.paths.stock, config.paths.cancel) == (
        "/orders", "/orders/{key}", "/stock", "/orders/{key}/cancel")
    assert config.signed_callback_path == "/callbacks/suppliers/acme"
    assert config.rate_limits == {}


def test_base_url_loses_its_trailing_slash_and_keeps_its_prefix() -> None:
    assert make_config(base_url=BASE + "/").base_url == BASE


def test_secret_never_shows_in_repr_or_dump() -> None:
    config = make_config()

    assert SECRET not in repr(config)
    assert SECRET not in str(config.model_dump())


@pytest.mark.parametrize(("changes", "field", "found"), [
    ({"base_url": "erp.example.com"}, "base_url", "erp.example.com"),
    ({"base_url": "https://erp.example.com/api?x=1"}, "base_url", "x=1"),
    ({"secret": "short"}, "secret", "5 characters"),
    ({"secret": " whsec_5f0c1a9e7d3b4c2a8e "}, "secret", "surrounding spaces"),
    ({"tracking": "both"}, "tracking", "both"),
    ({"timestamp_window_seconds": 5}, "timestamp_window_seconds", "5"),
    ({"paths": {"status": "/orders"}}, "paths", "{key} exactly once"),
    ({"paths": {"cancel": "/orders/{key}/{key}"}}, "paths", "{key} exactly once"),
    ({"paths": {"orders": "/orders/{key}"}}, "paths", "no {key}"),
    ({"paths": {"stock": "stock"}}, "paths.stock", "'stock'"),
    ({"paths": {"status": "/orders/{id}"}}, "paths.status", "no placeholder other than"),
    ({"paths": {"status": "/orders?key={key}"}}, "paths.status", "no query"),
    ({"paths": {"refund": "/refund"}}, "paths.refund", "Extra inputs"),
    ({"callback_path": "callbacks"}, "callback_path", "'callbacks'"),
    ({"rate_limits": {"orders": 2}}, "rate_limits.orders", "create"),
    ({"rate_limits": {"create": 0}}, "rate_limits.create", "greater than 0"),
    ({"token": "x"}, "token", "Extra inputs"),
])
def test_wrong_values_are_refused_naming_the_key_and_what_was_found(
        changes: dict[str, Any], field: str, found: str) -> None:
    with pytest.raises(ValidationError) as caught:
        make_config(**changes)

    text = str(caught.value)
    assert field in text
    assert found in text
    assert SECRET not in text


def test_callback_path_overrides_the_signed_path() -> None:
    assert make_config(callback_path="/syncd/callbacks/suppliers/acme").signed_callback_path == (
        "/syncd/callbacks/suppliers/acme")


def test_the_template_is_a_valid_supplier_file() -> None:
    raw = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    raw.update(id="acme", secret=SECRET)  # the loader fills ${ENV} and the id from the file name

    config = WebhookSupplierConfig.model_validate(raw)

    assert config.kind == "webhook"
    assert config.base_url == "https://erp.example.com/api/syncd"


def test_plugin_builds_an_api_supplier(ctx: AdapterContext) -> None:
    adapter = PLUGIN.factory(make_config(), ctx)

    assert PLUGIN.kind == "webhook"
    assert PLUGIN.config_model is WebhookSupplierConfig
    assert isinstance(adapter, WebhookSupplier)
    assert isinstance(adapter, ApiSupplierAdapter)


def test_plugin_refuses_another_config(ctx: AdapterContext) -> None:
    with pytest.raises(TypeError, match="WebhookSupplierConfig"):
        PLUGIN.factory(object(), ctx)

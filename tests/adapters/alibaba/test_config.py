"""The supplier file of a 1688 supplier: defaults, secrets, template fields, the token pair."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from syncd.adapters.alibaba import PLUGIN, AlibabaAdapter
from syncd.adapters.alibaba.config import AlibabaSupplierConfig
from syncd.registry import AdapterContext
from tests.adapters.alibaba.conftest import SECRET, make_config


def test_defaults_are_the_public_gateway_saleproxy_and_manual_payment() -> None:
    config = make_config()

    assert (config.base_url, config.flow, config.payment) == ("https://gw.open.1688.com", "saleproxy", "manual")
    assert SECRET not in repr(config) and "configured-refresh-1" not in repr(config)


def test_an_unknown_key_is_an_error() -> None:
    with pytest.raises(ValidationError, match="extra"):
        make_config(flw="general")


def test_access_token_without_refresh_token_is_refused() -> None:
    with pytest.raises(ValidationError, match="refresh_token"):
        make_config(access_token="a", refresh_token=None)


@pytest.mark.parametrize("template", ["{phone}", "{platform", "{receiver.name}"])
def test_message_template_with_an_unknown_or_broken_field_is_refused(template: str) -> None:
    with pytest.raises(ValidationError, match="message_template"):
        make_config(message_template=template)


def test_message_template_with_known_fields_is_kept() -> None:
    assert make_config(message_template="{platform} {platform_order_id} {remark}").message_template


def test_flow_and_payment_accept_only_their_values() -> None:
    with pytest.raises(ValidationError):
        make_config(flow="cross")
    with pytest.raises(ValidationError):
        make_config(payment="auto")


def test_tracking_source_defaults_to_auto_and_accepts_only_its_values() -> None:
    assert make_config().tracking_source == "auto"
    assert make_config(tracking_source="both").tracking_source == "both"
    with pytest.raises(ValidationError, match="tracking_source"):
        make_config(tracking_source="kuaidi1000")


def test_plugin_builds_the_adapter_for_kind_1688(ctx: AdapterContext) -> None:
    assert PLUGIN.kind == "1688" and PLUGIN.config_model is AlibabaSupplierConfig
    assert isinstance(PLUGIN.factory(make_config(), ctx), AlibabaAdapter)
    with pytest.raises(TypeError):
        PLUGIN.factory(object(), ctx)


def test_the_commented_template_is_a_valid_supplier_file() -> None:
    import yaml

    template = Path(__file__).resolve().parents[3] / "config" / "templates" / "suppliers" / "1688.yaml"
    raw = yaml.safe_load(template.read_text(encoding="utf-8"))
    assert raw["app_secret"] == "${ALI1688_APP_SECRET}"  # a reference to the environment, not a secret
    raw.update(id="yiwu-1688", app_secret=SECRET, refresh_token="r")  # what the loader fills in

    config = AlibabaSupplierConfig.model_validate(raw)

    assert (config.kind, config.flow, config.payment) == ("1688", "saleproxy", "manual")

"""Taobao / Tmall (淘宝开放平台 TOP) storefront adapter: config, signing, client, session, mapping, adapter."""

from __future__ import annotations

from typing import Any

from syncd.adapters.taobao.adapter import TaobaoAdapter
from syncd.adapters.taobao.config import TaobaoShopConfig
from syncd.registry import AdapterContext, StorefrontPlugin


def _factory(config: Any, ctx: AdapterContext) -> TaobaoAdapter:
    if not isinstance(config, TaobaoShopConfig):
        raise TypeError(f"taobao adapter needs a TaobaoShopConfig, got {type(config).__name__}")
    return TaobaoAdapter(config, ctx)


PLUGIN = StorefrontPlugin(platform="taobao", config_model=TaobaoShopConfig, factory=_factory)

__all__ = ["PLUGIN", "TaobaoAdapter", "TaobaoShopConfig"]

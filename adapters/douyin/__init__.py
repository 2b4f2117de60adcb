"""Douyin Shop (抖店 / doudian) storefront adapter: config, client, mapping, adapter."""

from __future__ import annotations

from typing import Any

from syncd.adapters.douyin.adapter import DouyinAdapter
from syncd.adapters.douyin.config import DouyinShopConfig
from syncd.registry import AdapterContext, StorefrontPlugin


def _factory(config: Any, ctx: AdapterContext) -> DouyinAdapter:
    if not isinstance(config, DouyinShopConfig):
        raise TypeError(f"douyin adapter needs a DouyinShopConfig, got {type(config).__name__}")
    return DouyinAdapter(config, ctx)


PLUGIN = StorefrontPlugin(platform="douyin", config_model=DouyinShopConfig, factory=_factory)

__all__ = ["PLUGIN", "DouyinAdapter", "DouyinShopConfig"]

"""Pinduoduo (拼多多) storefront adapter: config, client, mapping, adapter."""

from __future__ import annotations

from typing import Any

from syncd.adapters.pdd.adapter import PddAdapter
from syncd.adapters.pdd.config import PddShopConfig
from syncd.registry import AdapterContext, StorefrontPlugin


def _factory(config: Any, ctx: AdapterContext) -> PddAdapter:
    if not isinstance(config, PddShopConfig):
        raise TypeError(f"pdd adapter needs a PddShopConfig, got {type(config).__name__}")
    return PddAdapter(config, ctx)


PLUGIN = StorefrontPlugin(platform="pdd", config_model=PddShopConfig, factory=_factory)

__all__ = ["PLUGIN", "PddAdapter", "PddShopConfig"]

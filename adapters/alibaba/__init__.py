"""1688 (阿里巴巴1688) dropship supplier adapter: config, signing, client, tokens, mapping, adapter."""

from __future__ import annotations

from typing import Any

from syncd.adapters.alibaba.adapter import AlibabaAdapter
from syncd.adapters.alibaba.config import AlibabaSupplierConfig
from syncd.registry import AdapterContext, SupplierPlugin


def _factory(config: Any, ctx: AdapterContext) -> AlibabaAdapter:
    if not isinstance(config, AlibabaSupplierConfig):
        raise TypeError(f"1688 adapter needs an AlibabaSupplierConfig, got {type(config).__name__}")
    return AlibabaAdapter(config, ctx)


PLUGIN = SupplierPlugin(kind="1688", config_model=AlibabaSupplierConfig, factory=_factory)

__all__ = ["PLUGIN", "AlibabaAdapter", "AlibabaSupplierConfig"]

"""Kuaidi100 (快递100) tracking provider: config, signing, client, error table, mapping, provider."""

from __future__ import annotations

from typing import Any

from syncd.adapters.kuaidi100.adapter import Kuaidi100Provider
from syncd.adapters.kuaidi100.config import Kuaidi100Config
from syncd.registry import AdapterContext, TrackingPlugin


def _factory(config: Any, ctx: AdapterContext) -> Kuaidi100Provider:
    if not isinstance(config, Kuaidi100Config):
        raise TypeError(f"kuaidi100 provider needs a Kuaidi100Config, got {type(config).__name__}")
    return Kuaidi100Provider(config, ctx)


PLUGIN = TrackingPlugin(kind="kuaidi100", config_model=Kuaidi100Config, factory=_factory)

__all__ = ["PLUGIN", "Kuaidi100Config", "Kuaidi100Provider"]

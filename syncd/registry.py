"""From a config ``platform:`` / ``kind:`` name to the adapter's config model and factory.

The core never imports a concrete adapter; :func:`load_builtin` imports :mod:`adapters.builtin`,
which registers the built-in ones (a third-party package calls :func:`register_storefront` itself).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from syncd.config.models import ShopConfigBase, StrictModel, SupplierConfigBase
from syncd.http import CallStats
from syncd.protocols import (
    AlertSink,
    ApiSupplierAdapter,
    FileSupplierAdapter,
    StorefrontAdapter,
    TokenStore,
    TrackingProvider,
)
from syncd.ratelimit import RateLimiter
from syncd.retry import RetryPolicy


@dataclass
class AdapterContext:
    """What the core hands every adapter: shared HTTP client, token store, data dir, retry policy."""

    http: httpx.Client
    tokens: TokenStore
    data_dir: Path
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    stats: CallStats = field(default_factory=CallStats)
    limiter: RateLimiter = field(default_factory=RateLimiter)


@dataclass(frozen=True)
class StorefrontPlugin:
    platform: str
    config_model: type[ShopConfigBase]
    factory: Callable[[Any, AdapterContext], StorefrontAdapter]


@dataclass(frozen=True)
class SupplierPlugin:
    kind: str
    config_model: type[SupplierConfigBase]
    factory: Callable[[Any, AdapterContext], FileSupplierAdapter | ApiSupplierAdapter]


@dataclass(frozen=True)
class TrackingPlugin:
    """A tracking provider (``tracking.yaml`` ``provider:``)."""

    kind: str
    config_model: type[StrictModel]
    factory: Callable[[Any, AdapterContext], TrackingProvider]


@dataclass(frozen=True)
class SinkPlugin:
    """An alert channel (``alerts.yaml`` ``channels: - kind:``)."""

    kind: str
    config_model: type[StrictModel]
    factory: Callable[[Any, AdapterContext], AlertSink]


STOREFRONTS: dict[str, StorefrontPlugin] = {}
SUPPLIERS: dict[str, SupplierPlugin] = {}
TRACKING: dict[str, TrackingPlugin] = {}
SINKS: dict[str, SinkPlugin] = {}


def register_storefront(plugin: StorefrontPlugin) -> None:
    STOREFRONTS[plugin.platform] = plugin


def register_supplier(plugin: SupplierPlugin) -> None:
    SUPPLIERS[plugin.kind] = plugin


def register_tracking(plugin: TrackingPlugin) -> None:
    TRACKING[plugin.kind] = plugin


def register_sink(plugin: SinkPlugin) -> None:
    SINKS[plugin.kind] = plugin


def load_builtin() -> None:
    """Register the adapters shipped in ``adapters/``."""
    importlib.import_module("syncd.adapters.builtin")

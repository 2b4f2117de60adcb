"""Signed JSON webhook supplier (``kind: webhook``): a supplier or warehouse with its own HTTP API.

The contract a supplier's developer implements is docs/webhook-supplier.md. ``config`` (model),
``signing`` (HMAC-SHA256, both directions), ``client`` (signed calls, envelope, retries), ``errors``
(the one 4xx table), ``mapping`` (JSON ↔ syncd models), ``adapter`` (the ApiSupplierAdapter).
"""

from __future__ import annotations

from typing import Any

from syncd.adapters.webhook.adapter import WebhookSupplier
from syncd.adapters.webhook.config import WebhookPaths, WebhookSupplierConfig
from syncd.registry import AdapterContext, SupplierPlugin


def _factory(config: Any, ctx: AdapterContext) -> WebhookSupplier:
    if not isinstance(config, WebhookSupplierConfig):
        raise TypeError(f"webhook supplier needs a WebhookSupplierConfig, got {type(config).__name__}")
    return WebhookSupplier(config, ctx)


PLUGIN = SupplierPlugin(kind="webhook", config_model=WebhookSupplierConfig, factory=_factory)

__all__ = ["PLUGIN", "WebhookPaths", "WebhookSupplier", "WebhookSupplierConfig"]

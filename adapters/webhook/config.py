"""Supplier file of a signed-JSON webhook supplier (``kind: webhook``): docs/webhook-supplier.md."""

from __future__ import annotations

import re
from typing import Annotated, Literal, get_args

from pydantic import Field, SecretStr, field_validator, model_validator

from syncd.config.models import StrictModel, SupplierConfigBase

Api = Literal["create", "status", "stock", "cancel"]
APIS: tuple[str, ...] = get_args(Api)
KEY = "{key}"  # where a path carries the order's idempotency key
MIN_SECRET = 16
_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/{}-]*$")


class WebhookPaths(StrictModel):
    """Where each endpoint lives below ``base_url``; ``{key}`` is the order's idempotency key."""

    orders: str = "/orders"
    status: str = "/orders/{key}"
    stock: str = "/stock"
    cancel: str = "/orders/{key}/cancel"

    @field_validator("orders", "status", "stock", "cancel")
    @classmethod
    def _path(cls, v: str) -> str:
        if not _PATH.fullmatch(v) or "//" in v or "?" in v:
            raise ValueError(f"expected a path starting with / (no query, no spaces), found {v!r}")
        if v.count("{") != v.count("}") or (v.count("{") and v.count(KEY) != v.count("{")):
            raise ValueError(f"expected no placeholder other than {KEY}, found {v!r}")
        return v

    @model_validator(mode="after")
    def _placeholders(self) -> WebhookPaths:
        for name in ("status", "cancel"):
            if getattr(self, name).count(KEY) != 1:
                raise ValueError(f"{name}: expected {KEY} exactly once, found {getattr(self, name)!r}")
        for name in ("orders", "stock"):
            if KEY in getattr(self, name):
                raise ValueError(f"{name}: expected no {KEY}, found {getattr(self, name)!r}")
        return self


class WebhookSupplierConfig(SupplierConfigBase):
    """A supplier (ERP, warehouse) with its own HTTP API speaking syncd's signed JSON contract."""

    kind: Literal["webhook"]
    base_url: str
    """The supplier's API root; each path below is appended to it (``https://erp.example.com/syncd``)."""
    secret: SecretStr
    """The shared HMAC-SHA256 secret of both directions; give it as ``${ENV_NAME}``."""
    tracking: Literal["poll", "push"] = "poll"
    """``poll``: syncd asks ``GET status`` for tracking; ``push``: the supplier POSTs callbacks to syncd
    (syncd still reads ``status`` now and then, to catch a callback that never arrived)."""
    stock: bool = True
    """Whether the supplier answers ``POST stock``; ``false``: syncd places orders without asking."""
    timestamp_window_seconds: Annotated[int, Field(ge=30, le=3600)] = 300
    """A signed request (either direction) older or newer than this is refused."""
    paths: WebhookPaths = WebhookPaths()
    callback_path: str | None = None
    """The path the supplier signs on callbacks; default ``/callbacks/suppliers/<id>``. Set it when a
    reverse proxy publishes syncd under another path (``/syncd/callbacks/suppliers/<id>``)."""
    stock_callback_path: str | None = None
    """The path the supplier signs on stock pushes; default the callback path + ``/stock``
    (``/callbacks/suppliers/<id>/stock``)."""
    rate_limits: dict[Api, Annotated[float, Field(gt=0, le=1000)]] = Field(default_factory=dict)
    """Calls per second per endpoint (create, status, stock, cancel); default 5 each."""

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", v):
            raise ValueError(f"expected an http(s) URL without query, found {v!r}")
        return v.rstrip("/")

    @field_validator("secret")
    @classmethod
    def _secret(cls, v: SecretStr) -> SecretStr:
        text = v.get_secret_value()
        if len(text) < MIN_SECRET or text != text.strip():
            raise ValueError(f"expected a secret of at least {MIN_SECRET} characters without surrounding "
                             f"spaces, found one of {len(text)} characters")
        return v

    @field_validator("callback_path", "stock_callback_path")
    @classmethod
    def _callback(cls, v: str | None) -> str | None:
        if v is not None and (not _PATH.fullmatch(v) or "{" in v):
            raise ValueError(f"expected a path starting with / (no query, no placeholder), found {v!r}")
        return v

    @property
    def signed_callback_path(self) -> str:
        """The path callbacks are signed over."""
        return self.callback_path or f"/callbacks/suppliers/{self.id}"

    @property
    def signed_stock_callback_path(self) -> str:
        """The path stock pushes are signed over."""
        return self.stock_callback_path or f"{self.signed_callback_path.rstrip('/')}/stock"


__all__ = ["APIS", "KEY", "Api", "WebhookPaths", "WebhookSupplierConfig"]

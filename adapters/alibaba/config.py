"""Supplier file of a 1688 supplier (``kind: "1688"``): reference/suppliers-tracking-alerts.md §A."""

from __future__ import annotations

import re
import string
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from syncd.config.models import StrictModel, SupplierConfigBase

ErrorAction = Literal["retry", "rate_limited", "refresh", "reauthorize", "fatal", "reject"]

# What a message_template may quote; never the receiver (the message is shown to the supplier in clear).
MESSAGE_FIELDS = frozenset({"platform", "platform_order_id", "shop_id", "key", "remark"})
MAX_MESSAGE = 500  # fastCreateOrder: message ≤ 500 characters (§A.4)

ProductApi = Literal["alibaba.cross.productInfo", "alibaba.product.simple.get", "alibaba.fenxiao.productInfo.get",
                     "product.search.queryProductDetail", "alibaba.product.get"]


class AlibabaProductSettings(StrictModel):
    """``products:`` in a 1688 supplier file: how stock and price per spec are read (reference/stock-and-price.md
    §4). What the reference marks unconfirmed is a setting here."""

    api: ProductApi = "alibaba.cross.productInfo"
    """The product-detail API the buyer's relationship allows: ``alibaba.cross.productInfo`` (needs a 铺货
    relation), ``alibaba.product.simple.get`` (suppliers bought from; a paid API), ``alibaba.fenxiao.productInfo.get``,
    ``product.search.queryProductDetail`` (cross-border 分销), ``alibaba.product.get``."""
    price_field: Literal["consignPrice", "price"] = "consignPrice"
    """Which price is the buyer's: ``consignPrice`` (分销/一件代发价) or ``price`` (报价); the other is the fallback."""
    price_unit: Literal["yuan", "fen"] = "yuan"
    """Unit of the product APIs' prices (not stated by 1688; the doc examples look like yuan)."""
    push_signed_path: str = ""
    """Message push signature: HMAC-SHA1(app_secret, this + the sorted ``key+value`` form fields). Unconfirmed;
    empty (the ``message`` field alone) unless 1688's console says otherwise."""
    push_window_seconds: Annotated[int, Field(ge=60, le=7 * 86_400)] = 3600
    """A message born (``gmtBorn``) longer ago than this is refused as stale; 1688 redelivers for a while."""


class AlibabaSupplierConfig(SupplierConfigBase):
    """One 1688 buyer account (the seller's) ordering from a 1688 supplier who dropships."""

    kind: Literal["1688"]
    base_url: str = "https://gw.open.1688.com"
    """The gateway; calls go to ``{base_url}/openapi/param2/1/{namespace}/{api}/{app_key}``."""
    app_key: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")]
    app_secret: SecretStr
    access_token: SecretStr | None = None
    refresh_token: SecretStr | None = None
    """The buyer's authorised pair, read only while syncd has none stored (then syncd keeps its own)."""
    flow: Literal["general", "saleproxy"] = "saleproxy"
    """fastCreateOrder ``flow``: ``saleproxy`` 代销 (dropshipping relationship), ``general`` 大市场."""
    payment: Literal["protocol_pay", "manual"] = "manual"
    """``protocol_pay``: syncd pays each new order with alibaba.trade.pay.protocolPay.preparePay (免密支付,
    must be enabled on the 1688 account); ``manual``: a person pays in 1688, syncd waits."""
    message_template: Annotated[str, Field(max_length=MAX_MESSAGE)] | None = None
    """Buyer message to the supplier, e.g. ``"{platform} {platform_order_id} {remark}"``; fields:
    platform, platform_order_id, shop_id, key, remark. Default: the order's remark."""
    refresh_before_minutes: Annotated[int, Field(ge=1, le=9 * 60)] = 60
    """Refresh the 10-hour access token this long before it expires."""
    rate_limits: dict[str, Annotated[float, Field(gt=0, le=1000)]] = Field(default_factory=dict)
    """Calls per second per API name (``alibaba.trade.get.buyerView: 2``); default 5 each."""
    flow_control_wait_seconds: Annotated[float, Field(gt=0, le=600)] = 10.0
    """After a flow-control answer (gw.Qos*FrequencyLimit) calls to this account pause this long, doubling
    while refusals follow each other (1688 publishes no quota; 10 s is what clients in the field use)."""
    tracking_source: Literal["auto", "supplier", "provider", "both"] = "auto"
    """How this supplier's parcels are followed: ``supplier`` (1688's own trace: free, the carrier's words, may
    lag), ``provider`` (tracking.yaml's provider, Kuaidi100), ``both`` (the two; at the same newest scan the
    provider's reading wins, a newer scan wins from either), ``auto`` (the provider when tracking.yaml is set up,
    else 1688's trace)."""
    products: AlibabaProductSettings = AlibabaProductSettings()
    """Reading stock and price per spec, and the product-change messages (issue 19)."""
    error_actions: dict[str, ErrorAction] = Field(default_factory=dict)
    """A 1688 error code (gateway ``error_code`` or business ``errorCode``/``code``) → what to do, ahead
    of the built-in table."""

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", v):
            raise ValueError(f"expected an http(s) URL without query, found {v!r}")
        return v.rstrip("/")

    @field_validator("message_template")
    @classmethod
    def _template(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(v) if name is not None}
        except ValueError as err:
            raise ValueError(f"expected a template like '{{platform}} {{platform_order_id}}', found {v!r} "
                             f"({err})") from err
        unknown = sorted(names - MESSAGE_FIELDS)
        if unknown:
            raise ValueError(f"expected fields among {', '.join(sorted(MESSAGE_FIELDS))}, found "
                             f"{', '.join(repr(n) for n in unknown)}")
        return v

    @model_validator(mode="after")
    def _pair(self) -> AlibabaSupplierConfig:
        if self.access_token is not None and self.refresh_token is None:
            raise ValueError("access_token needs refresh_token too: the access token lives 10 hours, "
                             "syncd renews it with the refresh token")
        return self


__all__ = ["MAX_MESSAGE", "MESSAGE_FIELDS", "AlibabaProductSettings", "AlibabaSupplierConfig", "ErrorAction",
           "ProductApi"]

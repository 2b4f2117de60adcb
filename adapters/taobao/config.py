"""Shop file of a Taobao / Tmall (TOP) storefront: reference/storefronts.md §3.1–3.3."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from syncd.clock import SHANGHAI
from syncd.config.models import ShopConfigBase, StrictModel

# Trade fields syncd reads (reference §3.4). The receiver fields and ``created`` together make TOP return
# the ``oaid``; ``orders`` gives the sub-orders with oid, outer ids, num, price, refund_status, invoice_no.
TRADE_FIELDS = ("tid,tid_str,status,type,created,pay_time,modified,consign_time,end_time,buyer_message,"
                "seller_memo,seller_flag,payment,post_fee,delivery_time,receiver_name,receiver_state,"
                "receiver_city,receiver_district,receiver_town,receiver_address,receiver_zip,receiver_mobile,"
                "receiver_phone,oaid,orders")
# type: a cash-on-delivery trade (type=cod) is recognised by it alone; without it a COD order would be forwarded
REQUIRED_FIELDS = ("tid", "status", "type", "modified", "orders")
OAID_FIELDS = ("receiver_name", "receiver_address", "created", "receiver_mobile", "receiver_phone")


class TaobaoCatalogSettings(StrictModel):
    """``catalog:`` of a Taobao shop file: how items are listed (adapters/taobao/items.py)."""

    page_size: Annotated[int, Field(ge=1, le=200)] = 200
    paging_depth: Annotated[int, Field(ge=200, le=100_000)] = 20_000
    """items.onsale.get refuses pages past ``page_no*page_size`` of 20 000 or 100 000 (the doc says both);
    a deeper shop is read in modified-time windows."""
    inventory: bool = False
    """Also list the items in the warehouse (taobao.items.inventory.get), as not on sale."""


class TaobaoShopConfig(ShopConfigBase):
    """One Taobao / Tmall shop: app credentials, the seller's session, and a few tuning knobs."""

    platform: Literal["taobao"]
    base_url: str = "https://eco.taobao.com/router/rest"
    app_key: Annotated[str, Field(pattern=r"^[0-9A-Za-z]+$")]
    app_secret: SecretStr
    session: SecretStr
    """The seller's access token (TOP calls it ``session``)."""
    refresh_token: SecretStr | None = None
    can_refresh: bool = False
    """Only service-market subscription apps (服务市场订购类) may refresh; others get fixed-duration sessions."""
    session_expires_at: datetime | None = None
    """When the configured session expires (a time without zone is Asia/Shanghai, as the back office shows
    it). Required when the session cannot be refreshed: syncd warns before it and stops the shop after it."""
    sign_method: Literal["md5", "hmac", "hmac-sha256"] = "hmac-sha256"
    decrypt_batch: Annotated[int, Field(ge=1, le=20)] = 20
    carrier_cache_hours: Annotated[float, Field(gt=0)] = 24
    fullinfo_fields: str = TRADE_FIELDS
    list_fields: str = TRADE_FIELDS
    catalog: TaobaoCatalogSettings = TaobaoCatalogSettings()
    refresh_before_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 60
    warn_before_hours: Annotated[float, Field(ge=0, le=30 * 24)] = 72
    """Log a warning this long before a session that cannot be refreshed expires."""

    @field_validator("session_expires_at", mode="after")
    @classmethod
    def _shanghai_when_naive(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            return v.replace(tzinfo=SHANGHAI)
        return v

    @field_validator("fullinfo_fields", "list_fields")
    @classmethod
    def _fields(cls, v: str) -> str:
        names = [f.strip() for f in v.split(",") if f.strip()]
        missing = [f for f in REQUIRED_FIELDS if f not in names]
        if missing:
            raise ValueError(f"expected a comma list of trade fields including {', '.join(missing)}, found {v!r}")
        return ",".join(names)

    @model_validator(mode="after")
    def _session_lifetime_known(self) -> TaobaoShopConfig:
        if self.can_refresh and self.refresh_token is None:
            raise ValueError("can_refresh is true but refresh_token is missing")
        if not self.can_refresh and self.session_expires_at is None:
            raise ValueError("session_expires_at is missing: a session that cannot be refreshed needs its expiry "
                             "(shown when the shop authorised the app), so that syncd can warn before it")
        return self

    def rate_for(self, method: str, default: float) -> float:
        """Calls per second allowed for ``method``: the shop's ``rate_limits`` override, else ``default``."""
        return self.rate_limits.get(method, default)


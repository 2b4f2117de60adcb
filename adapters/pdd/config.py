"""Shop file of a Pinduoduo (拼多多) storefront: reference/storefronts.md §2.1, §2.3, §2.4, §2.7."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator

from syncd.config.models import PullSettings, ShopConfigBase, StrictModel

MAX_WINDOW_MINUTES = 30  # pdd.order.number.list.increment.get and refund.list.increment.get: span ≤ 30 min

ErrorAction = Literal["retry", "rate_limited", "refresh", "reauthorize", "fatal", "reject"]


class PddAuth(StrictModel):
    """The shop's token pair, authorised once by the merchant's main account (§2.3).

    PDD has no self-issued tokens: the pair comes from the authorisation page (or a tool that did it),
    is given here once, and syncd keeps it fresh with ``pdd.pop.auth.token.refresh`` and stores the new
    pairs itself; this pair is read again only while nothing is stored.
    """

    access_token: SecretStr
    refresh_token: SecretStr


class PddCatalogSettings(StrictModel):
    """``catalog:`` of a Pinduoduo shop file: how goods are listed and priced (adapters/pdd/goods.py)."""

    page_size: Annotated[int, Field(ge=1, le=100)] = 100
    prices: Literal["detail", "information", "none"] = "detail"
    """Where SKU prices are read (the goods list has none): pdd.goods.detail.get (fen),
    pdd.goods.information.get (yuan), or not at all (no price guard for this shop)."""
    price_kind: Literal["group", "single"] = "group"
    """The price a buyer pays: 拼团价 (group) or 单买价 (single)."""


class PddShopConfig(ShopConfigBase):
    """One Pinduoduo shop: app credentials, its token pair, and a few tuning knobs."""

    platform: Literal["pdd"]
    pull: PullSettings = PullSettings(window_minutes=MAX_WINDOW_MINUTES)
    base_url: str = "https://gw-api.pinduoduo.com/api/router"
    """The router itself: every call is a POST to this URL, the API named by ``type``."""
    client_id: Annotated[str, Field(min_length=1, pattern=r"^\S+$")]
    client_secret: SecretStr
    auth: PddAuth | None = None
    """Without it, and with no pair stored by an earlier run, the shop stops with "authorise the shop"."""
    decrypt_batch: Annotated[int, Field(ge=1, le=100)] = 100
    carrier_cache_hours: Annotated[float, Field(gt=0)] = 24
    refresh_before_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 60
    """Refresh this long before the access token's ``expires_at``."""
    paging: Literal["backward", "has_next"] = "backward"
    """``backward``: read a window's last page first (the platform's advice, loses nothing when orders move
    while paging). ``has_next``: forward with ``use_has_next`` (faster, may miss an order that moved; the
    next window's overlap and the daily sweep pick it up)."""
    refund_after_sales_status: int = 1
    """The "all" value of pdd.refund.list.increment.get's required ``after_sales_status`` [unconfirmed]."""
    catalog: PddCatalogSettings = PddCatalogSettings()
    error_actions: dict[str, ErrorAction] = Field(default_factory=dict)
    """Platform ``error_code`` (or ``sub_code``) → what to do, ahead of the built-in table: most PDD codes
    are unpublished, so a newly seen one can be classified here without a release."""

    @field_validator("pull", mode="before")
    @classmethod
    def _window_within_the_platform_limit(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        minutes = value.get("window_minutes")
        if minutes is None:
            return {**value, "window_minutes": MAX_WINDOW_MINUTES}
        if isinstance(minutes, int) and not isinstance(minutes, bool) and minutes > MAX_WINDOW_MINUTES:
            raise ValueError(f"window_minutes: Pinduoduo lists at most {MAX_WINDOW_MINUTES} minutes per call, "
                             f"found {minutes}")
        return value

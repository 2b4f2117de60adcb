"""Shop file of a Douyin Shop (抖店) storefront: reference/storefronts.md §1.3."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, model_validator

from syncd.config.models import ShopConfigBase, StrictModel


class DouyinAuth(StrictModel):
    """How the shop gets its token pair.

    ``self``: a self-use app (自用型) mints its own token with ``token.create`` and the shop id.
    ``token``: a pair obtained elsewhere (tool app authorisation) is given here once; syncd then
    keeps it fresh with ``token.refresh`` and stores the new pairs itself.
    """

    grant: Literal["self", "token"] = "self"
    access_token: SecretStr | None = None
    refresh_token: SecretStr | None = None

    @model_validator(mode="after")
    def _pair_given_for_token_grant(self) -> DouyinAuth:
        if self.grant == "token":
            missing = [k for k in ("access_token", "refresh_token") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"grant 'token' needs {' and '.join(missing)}, found none")
        return self


class DouyinCatalogSettings(StrictModel):
    """``catalog:`` of a Douyin shop file: how products are listed and stock written (douyin/products.py)."""

    page_size: Annotated[int, Field(ge=1, le=100)] = 100
    paging_depth: Annotated[int, Field(ge=100, le=10_000)] = 10_000
    """product.listV2 answers at most ``page*size <= 10 000``; a deeper shop is read in update-time windows."""
    stock_api: Literal["multi", "single"] = "multi"
    """``multi``: sku.syncStockBatchMultiProducts, up to 50 SKUs a call; ``single``: sku.syncStock per SKU."""


class DouyinShopConfig(ShopConfigBase):
    """One Douyin Shop: app credentials, how tokens are obtained, and a few tuning knobs."""

    platform: Literal["douyin"]
    base_url: str = "https://openapi-fxg.jinritemai.com"
    app_key: Annotated[str, Field(pattern=r"^\d+$")]
    app_secret: SecretStr
    shop_id: str | None = None
    """The platform's shop id; ``token.create`` of a self-use app needs it."""
    auth: DouyinAuth = DouyinAuth()
    test_shop: bool = False
    decrypt_batch: Annotated[int, Field(ge=1, le=50)] = 50
    carrier_cache_hours: Annotated[float, Field(gt=0)] = 24
    catalog: DouyinCatalogSettings = DouyinCatalogSettings()
    refresh_before_minutes: Annotated[int, Field(ge=1, lt=60)] = 50
    """Refresh this long before the access token expires; a refresh earlier than the last hour
    returns the same pair unchanged, so the value must stay under 60."""

    @model_validator(mode="after")
    def _shop_id_for_self_grant(self) -> DouyinShopConfig:
        if self.auth.grant == "self" and not (self.shop_id or "").strip():
            raise ValueError("auth.grant 'self' needs shop_id (the Douyin shop id), found none")
        return self

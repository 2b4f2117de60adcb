"""Configuration models. Unknown keys are errors; secrets are SecretStr filled from ``${ENV}``."""

from __future__ import annotations

import re
from datetime import time
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from syncd import i18n


class StrictModel(BaseModel):
    """Base of every config model: a typo must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PullSettings(StrictModel):
    """How a shop's orders are listed."""

    # the widest listing window (the platform's own limit applies: Pinduoduo 30 minutes, Taobao a day); the pull
    # narrows windows to about pull.WINDOW_ENTRIES orders by itself
    window_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60)] = 7 * 24 * 60
    overlap_minutes: Annotated[int, Field(ge=0, le=120)] = 5
    lag_seconds: Annotated[int, Field(ge=0, le=3600)] = 60
    first_lookback_hours: Annotated[int, Field(ge=1, le=89 * 24)] = 72


# ---- stock and price (issue 19): the ``stock:`` blocks of shop, supplier and route files --------------------


Yuan = Annotated[Decimal, Field(ge=0, le=1_000_000, decimal_places=2)]


def fen(yuan: Decimal) -> int:
    """Yuan as typed in a config file → integer fen."""
    return int((yuan * 100).to_integral_value())


class StockBuffer(StrictModel):
    """What is held back from the supplier's figure (both given: the larger), and the most ever shown."""

    buffer: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    """Units kept back (absolute)."""
    buffer_percent: Annotated[float, Field(ge=0, le=100)] | None = None
    """Percent of the sellable figure kept back (rounded up)."""
    max: Annotated[int, Field(ge=0, le=100_000_000)] | None = None
    """Never show more than this."""
    min_margin: Yuan | None = None
    """Price guard: the least margin per sale (yuan) before an alert."""


class ShopStock(StockBuffer):
    """A shop file's ``stock:``: whether syncd keeps this shop's stock, and the shop's defaults."""

    enabled: bool = False
    share_percent: Annotated[float, Field(gt=0, le=100)] = 100
    """The part of what the suppliers can serve this shop shows (rounded down): shops selling the same SKU can
    split a thin stock (e.g. 60 and 40) instead of each showing all of it."""
    catalog_hours: Annotated[float, Field(gt=0, le=24 * 7)] = 6
    """How often the shop's product listing is read again (``syncd catalog sync SHOP`` reads it now)."""
    shipping: Yuan = Decimal(0)
    """Shipping the seller pays per sale (yuan), counted in the margin."""
    zero_on_low_margin: bool = False
    """Price guard: when the margin falls below min_margin, also set the SKU's stock to zero until a person
    decides (``syncd stock release``)."""


class SupplierStockSettings(StrictModel):
    """A supplier file's ``stock_sync:``."""

    read: bool = True
    """Ask an API supplier for stock and price on every stock pass (pushes and files are taken anyway)."""
    stale_hours: Annotated[float, Field(gt=0, le=24 * 90)] | None = None
    """A figure older than this is not trusted: the SKUs it serves are shown as zero until a new one comes."""


class ShopConfigBase(StrictModel):
    """What every storefront shop file has; each platform adds its own keys."""

    id: str
    platform: str
    name: str = ""
    enabled: bool = True
    mode: Literal["live", "shadow"] = "live"
    """``shadow``: pull and route for real, send nothing to suppliers and upload nothing to the shop; the orders
    wait on hold ``shadow`` and ``syncd shadow`` lists what would have been sent (docs/shadow.md)."""
    base_url: str
    pull: PullSettings = PullSettings()
    rate_limits: dict[str, Annotated[float, Field(gt=0, le=10_000)]] = {}
    """Calls per second per API for this shop (e.g. ``order.searchList: 5``); the adapter's published
    defaults apply to the others. syncd waits instead of letting the platform refuse."""
    commission_percent: Annotated[float, Field(ge=0, le=100)] | None = None
    """The platform's commission on what the buyer paid, in percent (``5`` or ``0.6``), for the margin reports
    (``syncd report``); not set: counted as no commission, and the report says the rate is missing."""
    stock: ShopStock = ShopStock()
    """Stock and price kept in step with the suppliers (issue 19, docs/stock.md); off unless enabled."""

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError(f"expected an http(s) URL, found {v!r}")
        return v.rstrip("/")


class SupplierConfigBase(StrictModel):
    """What every supplier file has; each kind adds its own keys."""

    id: str
    kind: str
    name: str = ""
    enabled: bool = True
    ship_within_hours: Annotated[float, Field(gt=0)] = 48
    shipping_fee: Annotated[float, Field(ge=0)] | None = None
    """Yuan the supplier charges per supplier order for freight, beside the routes' ``cost`` (reports only;
    an API supplier that states its own amount is taken at its word)."""
    stock_sync: SupplierStockSettings = SupplierStockSettings()
    """Stock figures from this supplier (issue 19, docs/stock.md); ``stock_sync``, not ``stock``: the webhook
    kind's ``stock`` says whether it answers the stock call."""


class StageIntervals(StrictModel):
    """Seconds between two runs of each stage."""

    pull: Annotated[float, Field(gt=0)] = 120
    route: Annotated[float, Field(gt=0)] = 30
    forward: Annotated[float, Field(gt=0)] = 60
    collect: Annotated[float, Field(gt=0)] = 60
    writeback: Annotated[float, Field(gt=0)] = 60
    reconcile: Annotated[float, Field(gt=0)] = 86400
    track: Annotated[float, Field(gt=0)] = 300
    watch: Annotated[float, Field(gt=0)] = 60
    stock: Annotated[float, Field(gt=0)] = 600
    """A full stock pass: suppliers read, every changed SKU written (issue 19)."""
    stock_due: Annotated[float, Field(gt=0)] = 5
    """How soon a pushed / dropped supplier change (a SKU at zero) reaches the storefronts."""


class RouteSettings(StrictModel):
    cool_off_minutes: Annotated[float, Field(ge=0, le=24 * 60)] = 0
    """Wait this long after payment before forwarding: buyers often cancel in the first minutes."""


class HttpSettings(StrictModel):
    timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 20
    max_connections: Annotated[int, Field(ge=1, le=200)] = 20


class RetrySettings(StrictModel):
    attempts: Annotated[int, Field(ge=1, le=20)] = 4
    max_seconds: Annotated[float, Field(gt=0, le=600)] = 30
    initial_wait: Annotated[float, Field(ge=0, le=60)] = 0.5
    max_wait: Annotated[float, Field(ge=0, le=300)] = 10


class GlobalConfig(StrictModel):
    """``syncd.yaml``."""

    intervals: StageIntervals = StageIntervals()
    route: RouteSettings = RouteSettings()
    http: HttpSettings = HttpSettings()
    retry: RetrySettings = RetrySettings()
    batch_size: Annotated[int, Field(ge=1, le=10_000)] = 500
    """Rows a stage claims per transaction."""
    reconcile_days: Annotated[float, Field(gt=0, le=89)] = 3
    """The reconciliation sweep compares the last this-many days with the platform."""
    supplier_poll_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = 10
    """How often an API supplier is asked about each open supplier order (payment, parcels)."""
    claim_seconds: Annotated[float, Field(ge=30, le=3600)] = 300
    """How long a replica keeps rows it claimed; a crashed replica's claims are taken over after this.
    Keep it above the HTTP timeout plus the retry budget."""
    language: Literal["zh-CN", "en"] = "zh-CN"
    """The language of alerts, the daily digest and other text a person reads (``SYNCD_LANG`` overrides it)."""
    timezone: str = "Asia/Shanghai"
    """The IANA time zone times are shown in (alerts, digest); the store keeps UTC whatever this says."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        i18n.zone(value)  # raises ValueError: "unknown time zone ..."
        return value


class Component(StrictModel):
    """One supplier SKU inside a bundle."""

    supplier_sku: Annotated[str, Field(min_length=1)]
    multiplier: Annotated[int, Field(ge=1, le=1000)] = 1


class Route(StrictModel):
    """Merchant SKU code → supplier SKU (``multiplier`` units per storefront unit: a 2-pack is 2).

    A bundle (one storefront SKU = several supplier SKUs) lists ``components`` instead of ``supplier_sku``.
    ``fallback_supplier`` (with ``fallback_sku``, default the same SKU) takes the line when the supplier
    says it lacks stock."""

    sku: Annotated[str, Field(min_length=1)]
    supplier: Annotated[str, Field(min_length=1)]
    supplier_sku: str = ""
    multiplier: Annotated[int, Field(ge=1, le=1000)] = 1
    cost: Annotated[float, Field(ge=0)] | None = None
    """Yuan the supplier charges per supplier unit (per storefront unit for a bundle), for the reports."""
    shipping_fee: Annotated[float, Field(ge=0)] | None = None
    """Yuan of freight per supplier order holding this SKU; wins over the supplier's ``shipping_fee``."""
    components: list[Component] = Field(default_factory=list)
    fallback_supplier: str | None = None
    fallback_sku: str | None = None
    stock: StockBuffer | None = None  # this route's buffer / cap / margin floor, over the shop's (issue 19)

    @model_validator(mode="after")
    def _parts(self) -> Route:
        if bool(self.supplier_sku) == bool(self.components):
            raise ValueError("give either supplier_sku or components (a bundle), not both and not neither")
        if self.fallback_supplier == self.supplier:
            raise ValueError("fallback_supplier must differ from supplier")
        if self.fallback_supplier is None and self.fallback_sku:
            raise ValueError("fallback_sku needs fallback_supplier")
        return self

    def parts(self) -> list[Component]:
        """The supplier SKUs one storefront unit takes, with their units."""
        return self.components or [Component(supplier_sku=self.supplier_sku, multiplier=self.multiplier)]


def parse_hhmm(v: str) -> time:
    m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", v.strip())
    if not m:
        raise ValueError(f"expected a time of day as HH:MM, found {v!r}")
    return time(int(m.group(1)), int(m.group(2)))

"""Sandbox values of the 1688 simulator: credentials, the default offer catalogue, carriers, time spellings.

The catalogue is keyed by supplier SKU exactly as routes write it (``offerId`` or ``offerId:specId``,
reference/suppliers-tracking-alerts.md §A.4: offerId a number, specId 32 hex characters); a simulator
takes another catalogue in the same shape.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

SANDBOX_1688_APP_KEY = "5500001"
SANDBOX_1688_APP_SECRET = "sandbox-1688-secret-not-for-production"  # noqa: S105 - a public sandbox value
SANDBOX_1688_ACCESS_TOKEN = "sandbox-1688-access-0001"  # noqa: S105 - a public sandbox value
SANDBOX_1688_REFRESH_TOKEN = "sandbox-1688-refresh-0001"  # noqa: S105 - a public sandbox value
SANDBOX_1688_MEMBER_ID = "b2b-2209000000001"
SANDBOX_1688_LOGIN = "沙盒买家"

_UTC8 = timezone(timedelta(hours=8))
_COMPACT = re.compile(r"^(\d{14})(\d{3})?([+-]\d{4})?$")


@dataclass
class Cargo:
    """One orderable item (an offer, or one spec of it) and its live stock."""

    offer_id: int
    spec_id: str  # "" for an offer without specs
    sku_id: int
    title: str
    spec: str
    price_fen: int
    stock: int
    min_quantity: int = 1

    @property
    def sku(self) -> str:
        return f"{self.offer_id}:{self.spec_id}" if self.spec_id else str(self.offer_id)


# supplier SKU → (title, spec, unit price in fen, stock)
DEFAULT_CATALOGUE: dict[str, tuple[str, str, int, int]] = {
    "610000001:a1b2c3d4e5f60718293a4b5c6d7e8f90": ("陶瓷马克杯", "颜色:白色", 850, 500),
    "610000001:b2c3d4e5f60718293a4b5c6d7e8f90a1": ("陶瓷马克杯", "颜色:黑色", 850, 300),
    "610000002:c3d4e5f60718293a4b5c6d7e8f90a1b2": ("运动水杯500ml", "颜色:蓝色;容量:500ml", 1200, 400),
    "610000003:d4e5f60718293a4b5c6d7e8f90a1b2c3": ("晴雨两用折叠伞", "颜色:黑色", 1990, 200),
    "610000004": ("免打孔挂钩10个装", "", 260, 1000),
    "610000005:e5f60718293a4b5c6d7e8f90a1b2c3d4": ("快充数据线1米", "长度:1米", 550, 800),
}

# (name as 1688 writes it, company code): names carry the bracketed suffix seen in the field (§A.6)
CARRIERS: tuple[tuple[str, str], ...] = (
    ("中通快递(ZTO)", "ZTO"), ("圆通速递(YTO)", "YTO"), ("韵达快递(YUNDA)", "YUNDA"), ("申通快递(STO)", "STO"),
)


def build_catalogue(spec: Mapping[str, Any] | None = None) -> dict[str, Cargo]:
    """Cargo by supplier SKU. ``spec``: SKU → ``(title, spec, price_fen, stock)`` or a dict of those names
    (plus ``min_quantity``); default :data:`DEFAULT_CATALOGUE`."""
    out: dict[str, Cargo] = {}
    for n, (sku, raw) in enumerate(sorted((spec or DEFAULT_CATALOGUE).items()), start=1):
        offer, _, spec_id = sku.partition(":")
        if not offer.isdigit():
            raise ValueError(f"catalogue key {sku!r} is not 'offerId' or 'offerId:specId'")
        values = dict(raw) if isinstance(raw, Mapping) else dict(zip(("title", "spec", "price_fen", "stock"), raw,
                                                                     strict=True))
        out[sku] = Cargo(offer_id=int(offer), spec_id=spec_id, sku_id=4_000_000_000 + n,
                         title=str(values.get("title", f"商品{offer}")), spec=str(values.get("spec", "")),
                         price_fen=int(values.get("price_fen", 1000)), stock=int(values.get("stock", 100)),
                         min_quantity=int(values.get("min_quantity", 1)))
    return out


def compact_time(ts: float) -> str:
    """Unix seconds → ``20180614101942000+0800`` (1688's own date spelling)."""
    local = datetime.fromtimestamp(ts, UTC).astimezone(_UTC8)
    return local.strftime("%Y%m%d%H%M%S") + f"{local.microsecond // 1000:03d}+0800"


def dash_time(ts: float) -> str:
    """Unix seconds → ``2018-07-24 21:55:33`` (naive Shanghai, the other spelling 1688 answers with)."""
    return datetime.fromtimestamp(ts, UTC).astimezone(_UTC8).strftime("%Y-%m-%d %H:%M:%S")


def parse_compact(value: str) -> float | None:
    """``yyyyMMddHHmmss[SSS][+0800]`` → Unix seconds; None when unreadable."""
    match = _COMPACT.match(value.strip())
    if not match:
        return None
    stamp, millis, zone = match.groups()
    try:
        base = datetime.strptime(stamp, "%Y%m%d%H%M%S")  # noqa: DTZ007 - the zone is applied below
        tz = datetime.strptime(zone, "%z").tzinfo if zone else _UTC8
    except ValueError:
        return None
    return base.replace(tzinfo=tz).timestamp() + int(millis or 0) / 1000

"""Douyin Shop (抖店) storefront: list, read, decrypt and ship orders (reference/storefronts.md §1)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from adapters.douyin.client import DouyinClient
from adapters.douyin.config import DouyinShopConfig
from adapters.douyin.mapping import carrier_table, map_order
from syncd import clock
from syncd.domain import OrderIn, Parcel, Receiver, ReceiverRef, RejectedRecord, ShipResult, Token, WindowResult
from syncd.errors import ProtocolError, RejectedError
from syncd.registry import AdapterContext

log = logging.getLogger("adapters.douyin")

PAGE_SIZE = 100  # the most order.searchList gives (20008)
PAGING_DEPTH = 50_000  # results one window can page through (20013); split the window beyond it
MAX_PAGES = PAGING_DEPTH // PAGE_SIZE
ALREADY_SHIPPED = "isv.business-failed:60110"
_FIELDS = ("name", "phone", "address")


def multipack_request_id(order_id: str, parcels: Sequence[Parcel]) -> str:
    """Idempotency key of one MultiPack call: the same parcels of an order give the same id (64 chars)."""
    text = "\n".join([order_id, *sorted(p.request_id for p in parcels)])
    return hashlib.sha256(text.encode()).hexdigest()


class DouyinAdapter:
    """:class:`syncd.protocols.StorefrontAdapter` for one Douyin shop."""

    platform: str = "douyin"
    max_window: timedelta = timedelta(hours=1)  # keeps a window well inside the paging depth

    def __init__(self, config: DouyinShopConfig, ctx: AdapterContext, client: DouyinClient | None = None) -> None:
        self._config = config
        self._client = client or DouyinClient(config, ctx)
        self._carriers: dict[str, str] | None = None
        self._carriers_at: datetime | None = None

    # ---- orders -------------------------------------------------------------------------------

    def list_orders(self, start: datetime, end: datetime) -> WindowResult:
        """Every order updated in the window, paged from 0 to the platform's total."""
        return self._window(clock.to_epoch(start), clock.to_epoch(end))

    def get_order(self, platform_order_id: str) -> OrderIn:
        """One order through ``order.orderDetail``."""
        data = self._client.call_object("order.orderDetail", {"shop_order_id": platform_order_id})
        detail = data.get("shop_order_detail")
        if not isinstance(detail, dict):
            raise ProtocolError(f"douyin order.orderDetail: no shop_order_detail for order {platform_order_id}")
        return map_order(detail)

    def _window(self, start: int, end: int) -> WindowResult:
        kept: dict[str, tuple[float, OrderIn | RejectedRecord]] = {}
        unkeyed: list[RejectedRecord] = []
        total, moved = self._page_through(start, end, kept, unkeyed)
        if total > PAGING_DEPTH:
            return self._split(start, end, total)
        if moved:
            # An order updated while we paged moves to the end (or out of the window) and shifts the
            # rest one place forward, onto pages already read: read the window once more.
            log.info("douyin shop %s: orders moved while paging; reading the window again", self._config.id)
            unkeyed.clear()
            self._page_through(start, end, kept, unkeyed)
        orders = [v for _, v in kept.values() if isinstance(v, OrderIn)]
        rejects = [v for _, v in kept.values() if isinstance(v, RejectedRecord)] + unkeyed
        return WindowResult(orders=orders, total=total, rejects=rejects)

    def _page_through(self, start: int, end: int, kept: dict[str, tuple[float, OrderIn | RejectedRecord]],
                      unkeyed: list[RejectedRecord]) -> tuple[int, bool]:
        """Page 0 until ``total``; returns the first page's total and whether orders moved meanwhile."""
        total: int | None = None
        moved = False
        page = 0
        while True:
            params = {"update_time_start": start, "update_time_end": end, "order_by": "update_time",
                      "order_asc": True, "size": PAGE_SIZE, "page": page}
            data = self._client.call_object("order.searchList", params)
            page_total = data.get("total")
            if not isinstance(page_total, int) or isinstance(page_total, bool) or page_total < 0:
                raise ProtocolError(f"douyin order.searchList: page {page} has no usable total")
            if total is None:
                total = page_total
                if total > PAGING_DEPTH:
                    return total, False
            moved = moved or page_total != total
            items = data.get("shop_order_list") or []
            if not isinstance(items, list):
                raise ProtocolError(f"douyin order.searchList: page {page} shop_order_list is not a list")
            for i, item in enumerate(items):
                moved = _take(kept, unkeyed, item, f"page {page} item {i}") or moved
            page += 1
            if page * PAGE_SIZE >= page_total or not items:
                return total, moved
            if page >= MAX_PAGES:
                raise ProtocolError(f"douyin order.searchList: paging did not end after {MAX_PAGES} pages")

    def _split(self, start: int, end: int, total: int) -> WindowResult:
        if end - start <= 1:
            raise ProtocolError(f"douyin order.searchList: {total} orders in one second exceed the paging depth")
        mid = (start + end) // 2
        log.info("douyin shop %s: %d orders in one window; splitting it", self._config.id, total)
        halves = [self._window(start, mid), self._window(mid, end)]
        newest: dict[str, OrderIn] = {}
        for order in (o for h in halves for o in h.orders):
            old = newest.get(order.platform_order_id)
            if old is None or order.updated_at >= old.updated_at:
                newest[order.platform_order_id] = order
        return WindowResult(orders=list(newest.values()), total=sum(h.total or 0 for h in halves),
                            rejects=[r for h in halves for r in h.rejects])

    # ---- receivers ----------------------------------------------------------------------------

    def decrypt(self, refs: Sequence[tuple[str, ReceiverRef]]) -> dict[str, Receiver | str]:
        """``order.batchDecrypt`` at most ``decrypt_batch`` texts a call; per order a Receiver or a reason."""
        wanted: dict[tuple[str, str], list[str]] = {}  # (order id, cipher text) → fields it fills
        for order_id, ref in refs:
            for name, cipher in zip(_FIELDS, (ref.name_cipher, ref.phone_cipher, ref.address_cipher), strict=True):
                if cipher:
                    wanted.setdefault((order_id, cipher), []).append(name)
        plain: dict[str, dict[str, str]] = {}
        failed: dict[str, list[str]] = {}
        virtual: set[str] = set()
        keys = list(wanted)
        for at in range(0, len(keys), self._config.decrypt_batch):
            chunk = keys[at:at + self._config.decrypt_batch]
            self._decrypt_chunk(chunk, wanted, plain, failed, virtual)
        out: dict[str, Receiver | str] = {}
        for order_id, ref in refs:
            if order_id in failed:
                out[order_id] = "; ".join(failed[order_id])
                continue
            got = plain.get(order_id, {})
            out[order_id] = Receiver(name=got.get("name", ""), phone=got.get("phone", ""),
                                     province=ref.province, city=ref.city, district=ref.district,
                                     street=ref.street, detail=got.get("address", ""),
                                     virtual_phone=order_id in virtual)
        return out

    def _decrypt_chunk(self, chunk: list[tuple[str, str]], wanted: dict[tuple[str, str], list[str]],
                       plain: dict[str, dict[str, str]], failed: dict[str, list[str]], virtual: set[str]) -> None:
        infos = [{"auth_id": order_id, "cipher_text": cipher} for order_id, cipher in chunk]
        try:
            data = self._client.call_object("order.batchDecrypt", {"cipher_infos": infos}, partial=True)
        except RejectedError as err:
            for order_id in dict.fromkeys(o for o, _ in chunk):
                failed.setdefault(order_id, []).append(f"decrypt refused: {err.platform_message or err.code}")
            return
        answers = data.get("decrypt_infos") or []
        if not isinstance(answers, list):
            raise ProtocolError("douyin order.batchDecrypt: decrypt_infos is not a list")
        pending = set(chunk)
        for item in answers:
            if not isinstance(item, dict):
                continue
            key = (str(item.get("auth_id", "")), str(item.get("cipher_text", "")))
            if key not in pending:
                continue
            pending.discard(key)
            order_id, fields = key[0], wanted[key]
            err_no, text = item.get("err_no") or 0, item.get("decrypt_text")
            if err_no != 0 or not isinstance(text, str):
                reason = str(item.get("err_msg") or "no text")[:200]
                failed.setdefault(order_id, []).append(
                    f"{'/'.join(fields)} not decrypted: {reason} (err_no {err_no})")
                continue
            for name in fields:
                plain.setdefault(order_id, {})[name] = text.strip()
            if "phone" in fields and item.get("is_virtual_tel") is True:
                virtual.add(order_id)  # "<main>-<extension>", passed on verbatim
        for order_id, cipher in sorted(pending):
            failed.setdefault(order_id, []).append(f"{'/'.join(wanted[(order_id, cipher)])} not decrypted: no answer")

    # ---- shipping -----------------------------------------------------------------------------

    def ship(self, platform_order_id: str, parcels: Sequence[Parcel], whole_order: bool) -> ShipResult:
        """``order.logisticsAdd`` for one parcel of a whole order, else ``order.logisticsAddMultiPack``."""
        if not parcels:
            raise ValueError(f"ship: no parcels for order {platform_order_id}")
        codes = [self._carrier_code(p.carrier) for p in parcels]
        try:
            if whole_order and len(parcels) == 1:
                self._client.call("order.logisticsAdd", {
                    "order_id": platform_order_id, "company_code": codes[0],
                    "logistics_code": parcels[0].tracking_no})
            else:
                self._client.call("order.logisticsAddMultiPack", {
                    "order_id": platform_order_id,
                    "request_id": multipack_request_id(platform_order_id, parcels),
                    "pack_list": [_pack(p, code) for p, code in zip(parcels, codes, strict=True)]})
        except RejectedError as err:
            if err.code != ALREADY_SHIPPED:
                raise
            return self._check_already_shipped(platform_order_id, parcels, err)
        return ShipResult()

    def _check_already_shipped(self, order_id: str, parcels: Sequence[Parcel], err: RejectedError) -> ShipResult:
        order = self.get_order(order_id)
        have = {_tracking_key(n) for n in order.shipped_tracking}
        ours = [p.tracking_no for p in parcels if _tracking_key(p.tracking_no) not in have]
        if not ours:
            log.info("douyin order %s: already shipped with the same tracking number(s)", order_id)
            return ShipResult(already_shipped=True)
        raise RejectedError(
            f"douyin order {order_id} was already shipped with a different tracking number "
            f"(platform has {', '.join(order.shipped_tracking) or 'none'}, ours {', '.join(ours)}): "
            "correct it in the Douyin Shop back office",
            code=err.code, platform_message=err.platform_message) from err

    def _carrier_code(self, internal: str) -> str:
        code = self._carrier_table().get(internal)
        if code is None:
            raise RejectedError(f"carrier {internal!r} is not in Douyin Shop's carrier list", code="carrier-unknown")
        return code

    def _carrier_table(self) -> dict[str, str]:
        now = clock.now()
        fresh = timedelta(hours=self._config.carrier_cache_hours)
        if self._carriers is None or self._carriers_at is None or now - self._carriers_at >= fresh:
            self._carriers = carrier_table(self._client.call("order.logisticsCompanyList", {}))
            self._carriers_at = now
        return self._carriers

    # ---- lifecycle ----------------------------------------------------------------------------

    def ensure_token(self) -> Token:
        """A usable access token, created or refreshed if needed."""
        return self._client.ensure_token()

    def close(self) -> None:
        """Nothing to release: the HTTP client belongs to the core."""


def _pack(parcel: Parcel, company_code: str) -> dict[str, Any]:
    if not parcel.lines:
        raise ValueError(f"ship: parcel {parcel.request_id} lists no order lines")
    return {
        "shipped_order_info": [{"shipped_order_id": line.platform_line_id, "shipped_num": line.quantity}
                               for line in parcel.lines],
        "logistics_code": parcel.tracking_no,
        "company_code": company_code,
    }


def _tracking_key(number: str) -> str:
    return number.strip().upper()


def _take(kept: dict[str, tuple[float, OrderIn | RejectedRecord]], unkeyed: list[RejectedRecord],
          item: Any, where: str) -> bool:
    """Keep the newest version of each order; True when the order was already there (it moved)."""
    key = _raw_order_id(item)
    entry: OrderIn | RejectedRecord
    try:
        if not isinstance(item, dict):
            raise ProtocolError(f"{where}: expected an object, found {type(item).__name__}")
        entry = map_order(item)
        stamp = entry.updated_at.timestamp()
    except ProtocolError as err:
        entry = RejectedRecord(key=key or where, reason=str(err), raw=item)
        if key is None:
            unkeyed.append(entry)
            return False
        raw_stamp = item.get("update_time") if isinstance(item, dict) else None
        stamp = float(raw_stamp) if isinstance(raw_stamp, int) and not isinstance(raw_stamp, bool) else -1.0
    assert key is not None  # map_order succeeded, so order_id was readable
    old = kept.get(key)
    if old is None or stamp >= old[0]:
        kept[key] = (stamp, entry)
    return old is not None


def _raw_order_id(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    value = item.get("order_id")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value.strip() if isinstance(value, str) and value.strip() else None

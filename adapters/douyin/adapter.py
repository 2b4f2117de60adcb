"""Douyin Shop (抖店) storefront: list, count, read, decrypt and ship orders; the refund stream (reference §1)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from syncd import clock
from syncd.adapters.common.cached import KeptTable
from syncd.adapters.common.catalog import StockFacade
from syncd.adapters.douyin.client import DouyinClient
from syncd.adapters.douyin.config import DouyinShopConfig
from syncd.adapters.douyin.listing import PAGE_SIZE, PAGING_DEPTH, Page, Read, WindowReader, page_of
from syncd.adapters.douyin.mapping import aftersale_id, carrier_table, map_aftersale, map_order
from syncd.adapters.douyin.products import DouyinStock
from syncd.domain import (
    OrderIn,
    Parcel,
    Receiver,
    ReceiverRef,
    RefundEvent,
    RefundWindow,
    RejectedRecord,
    ShipResult,
    Token,
    WindowResult,
)
from syncd.errors import ProtocolError, RejectedError
from syncd.protocols import SeenVersions
from syncd.registry import AdapterContext

log = logging.getLogger("syncd.adapters.douyin")

ALREADY_SHIPPED = "isv.business-failed:60110"
_FIELDS = ("name", "phone", "address")


def multipack_request_id(order_id: str, parcels: Sequence[Parcel]) -> str:
    """Idempotency key of one MultiPack call: the same parcels of an order give the same id (64 chars)."""
    text = "\n".join([order_id, *sorted(p.request_id for p in parcels)])
    return hashlib.sha256(text.encode()).hexdigest()


class DouyinAdapter(StockFacade):
    """:class:`syncd.protocols.StorefrontAdapter` and :class:`syncd.stockmodel.StorefrontStock` for one Douyin shop."""

    platform: str = "douyin"
    # the search takes any span; the pull's pace and count keep a window far inside the paging depth (and a
    # window beyond it is split), so a quiet shop's first look-back is one window
    max_window: timedelta = timedelta(days=7)

    def __init__(self, config: DouyinShopConfig, ctx: AdapterContext, client: DouyinClient | None = None) -> None:
        self._config = config
        self._client = client or DouyinClient(config, ctx)
        self._carriers: KeptTable[str] = KeptTable(
            lambda: carrier_table(self._client.call("order.logisticsCompanyList", {})),
            lambda: self._config.carrier_cache_hours)
        self._first: tuple[tuple[int, int], Page] | None = None  # the last count's first page (count_orders)
        self._orders = WindowReader("order.searchList", config.id, self._order_page, _read_order, _peek_order)
        self._refunds = WindowReader("afterSale.List", config.id, self._refund_page, _read_aftersale)
        self._init_stock(DouyinStock(config, self._client))

    # ---- orders -------------------------------------------------------------------------------

    def list_orders(self, start: datetime, end: datetime, seen: SeenVersions | None = None) -> WindowResult:
        """Every order updated in the window, paged from 0 to the platform's total; with ``seen``, an entry
        already stored in this version is counted, not mapped."""
        try:
            got = self._orders.read_window(clock.to_epoch(start), clock.to_epoch(end), seen)
        finally:
            self._first = None
        return WindowResult(orders=got.values, total=got.total, rejects=got.rejects, unchanged=got.unchanged)

    def list_orders_step(self, start: datetime, end: datetime, seen: SeenVersions | None = None) -> WindowResult:
        """At most one page of the window (``WindowReader.read_step``): its orders and, when that page did not
        reach ``end``, ``covered``, the moment before which everything was read. The pull reads a busy stretch
        this way, one call per hundred orders, holding one page at a time and needing no count beforehand."""
        got, reached = self._orders.read_step(clock.to_epoch(start), clock.to_epoch(end), seen)
        covered = None if reached >= clock.to_epoch(end) else clock.from_epoch(reached)
        return WindowResult(orders=got.values, total=got.total, rejects=got.rejects, unchanged=got.unchanged,
                            covered=covered)

    def count_orders(self, start: datetime, end: datetime) -> int:
        """The platform's ``total`` for the window: the window's first page (newest first), kept for
        :meth:`list_orders` of the same window, so a count followed by the read costs no call of its own."""
        a, b = clock.to_epoch(start), clock.to_epoch(end)
        self._first = None
        first = self._order_page(a, b, 0, True)
        if first.total < PAGING_DEPTH:
            self._first = ((a, b), first)
        return self._count(a, b, first.total)

    def get_order(self, platform_order_id: str) -> OrderIn:
        """One order through ``order.orderDetail``."""
        data = self._client.call_object("order.orderDetail", {"shop_order_id": platform_order_id})
        detail = data.get("shop_order_detail")
        if not isinstance(detail, dict):
            raise ProtocolError(f"douyin order.orderDetail: no shop_order_detail for order {platform_order_id}")
        return map_order(detail)

    def _search(self, start: int, end: int, page: int, size: int, newest_first: bool = False) -> Page:
        params = {"update_time_start": start, "update_time_end": end, "order_by": "update_time",
                  "order_asc": not newest_first, "size": size, "page": page}
        data = self._client.call_object("order.searchList", params)
        return page_of(data, "order.searchList", page, "shop_order_list")

    def _order_page(self, start: int, end: int, page: int, newest_first: bool) -> Page:
        if page == 0 and newest_first and self._first is not None and self._first[0] == (start, end):
            first, self._first = self._first[1], None  # read by the count just before: used once
            return first
        return self._search(start, end, page, PAGE_SIZE, newest_first)

    def _count(self, start: int, end: int, total: int | None = None) -> int:
        if total is None:
            total = self._search(start, end, 0, 1).total
        if total < PAGING_DEPTH or end - start <= 1:
            return total
        # Whether ``total`` stops at the paging depth is unconfirmed: count the halves instead. Both
        # ends of a window are inclusive on the platform, so the shared second is counted once.
        mid = (start + end) // 2
        return self._count(start, mid) + self._count(mid, end) - self._search(mid, mid, 0, 1).total

    # ---- refunds ------------------------------------------------------------------------------

    def list_refunds(self, start: datetime, end: datetime) -> RefundWindow:
        """Every after-sale updated in the window (``afterSale.List``), as refund events."""
        got = self._refunds.read_window(clock.to_epoch(start), clock.to_epoch(end))
        return RefundWindow(events=[e for events in got.values for e in events], rejects=got.rejects)

    def _refund_page(self, start: int, end: int, page: int, newest_first: bool) -> Page:
        params = {"update_start_time": start, "update_end_time": end,
                  "order_by": ["update_time desc" if newest_first else "update_time asc"],
                  "size": PAGE_SIZE, "page": page}
        data = self._client.call_object("afterSale.List", params)
        return page_of(data, "afterSale.List", page, "items")

    # ---- receivers ----------------------------------------------------------------------------

    @property
    def decrypt_orders_per_call(self) -> int:
        """Orders one ``order.batchDecrypt`` call takes: its cipher texts, three an order."""
        return max(1, self._config.decrypt_batch // 3)

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
        """``order.logisticsAdd`` for one parcel of a whole order, else ``order.logisticsAddMultiPack``.

        A parcel marked ``attempted`` (sent before, outcome unknown) on the logisticsAdd path is first
        checked on the order: already there → ``already_shipped`` without sending. MultiPack needs no
        such check: the same parcels carry the same ``request_id``, which the platform answers once.
        """
        if not parcels:
            raise ValueError(f"ship: no parcels for order {platform_order_id}")
        single = whole_order and len(parcels) == 1
        if single and any(p.attempted for p in parcels) and self._already_there(platform_order_id, parcels):
            # logisticsAdd has no idempotency key: a send with an unknown outcome is checked, never repeated.
            log.info("douyin order %s: earlier upload had arrived; not sending again", platform_order_id)
            return ShipResult(already_shipped=True)
        codes = [self._carrier_code(p.carrier) for p in parcels]
        try:
            if single:
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

    def _already_there(self, order_id: str, parcels: Sequence[Parcel]) -> bool:
        """Whether the platform already holds every tracking number of ``parcels`` (read back now)."""
        return not _missing_tracking(self.get_order(order_id), parcels)

    def _check_already_shipped(self, order_id: str, parcels: Sequence[Parcel], err: RejectedError) -> ShipResult:
        order = self.get_order(order_id)
        ours = _missing_tracking(order, parcels)
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
        return self._carriers.get()

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


def _missing_tracking(order: OrderIn, parcels: Sequence[Parcel]) -> list[str]:
    """Our tracking numbers the platform does not show on the order."""
    have = {_tracking_key(n) for n in order.shipped_tracking}
    return [p.tracking_no for p in parcels if _tracking_key(p.tracking_no) not in have]


def _read_order(item: Any, where: str) -> Read[OrderIn]:
    """One ``shop_order_list`` entry, or a reject keyed by its order id when it can be read."""
    key = _raw_order_id(item)
    try:
        if not isinstance(item, dict):
            raise ProtocolError(f"{where}: expected an object, found {type(item).__name__}")
        order = map_order(item)
    except ProtocolError as err:
        raw_stamp = item.get("update_time") if isinstance(item, dict) else None
        stamp = float(raw_stamp) if isinstance(raw_stamp, int) and not isinstance(raw_stamp, bool) else -1.0
        return Read(key, stamp, RejectedRecord(key=key or where, reason=str(err), raw=item))
    return Read(key, order.updated_at.timestamp(), order)


def _read_aftersale(item: Any, where: str) -> Read[list[RefundEvent]]:
    """One ``afterSale.List`` entry → its events, or a reject keyed by its after-sale id when readable."""
    key = aftersale_id(item)
    try:
        events = map_aftersale(item)
    except ProtocolError as err:
        return Read(key, -1.0, RejectedRecord(key=key or where, reason=f"{where}: {err}", raw=item))
    return Read(key, events[0].updated_at.timestamp(), events)


def _peek_order(item: Any) -> tuple[str, float] | None:
    """An entry's order id and ``update_time`` as :func:`map_order` reads them, when they are plainly there."""
    key = _raw_order_id(item)
    if key is None:
        return None
    stamp = item.get("update_time")
    return (key, float(stamp)) if isinstance(stamp, int) and not isinstance(stamp, bool) else None


def _raw_order_id(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    value = item.get("order_id")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value.strip() if isinstance(value, str) and value.strip() else None

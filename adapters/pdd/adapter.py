"""Pinduoduo (拼多多) storefront: list, read, decrypt and ship orders (reference/storefronts.md §2)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from syncd import clock
from syncd.adapters.common.cached import KeptTable
from syncd.adapters.common.catalog import StockFacade
from syncd.adapters.common.fields import whole
from syncd.adapters.pdd.client import PddClient
from syncd.adapters.pdd.config import MAX_WINDOW_MINUTES, PddShopConfig
from syncd.adapters.pdd.goods import PddStock
from syncd.adapters.pdd.listing import PAGE_SIZE, Fetch, read_backward, read_has_next, sub_windows
from syncd.adapters.pdd.mapping import (
    AWAITING_SHIPMENT,
    carrier_table,
    map_order,
    map_refund,
    parse_time,
    tracking_numbers,
)
from syncd.adapters.pdd.shipping import Shipper
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

log = logging.getLogger("syncd.adapters.pdd")

ORDERS_API = "pdd.order.number.list.increment.get"
REFUNDS_API = "pdd.refund.list.increment.get"
INFO_API = "pdd.order.information.get"
DECRYPT_API = "pdd.open.decrypt.batch"
COMPANIES_API = "pdd.logistics.companies.get"
ALL_ORDER_STATUS = 5  # order_status 5 = 全部
ALL_REFUND_STATUS = 5  # refund_status 5 = 全部
ALL_LUCKY = 0  # is_lucky_flag 0 = 全部 (抽奖 and not)
ALL_AFTER_SALES_TYPES = 1  # after_sales_type 1 = 全部
_FIELDS = ("name", "phone", "address")


class PddAdapter(StockFacade):
    """:class:`syncd.protocols.StorefrontAdapter` and :class:`syncd.stockmodel.StorefrontStock` for one
    Pinduoduo shop."""

    platform: str = "pdd"
    max_window: timedelta = timedelta(minutes=MAX_WINDOW_MINUTES)  # the platform refuses longer spans

    def __init__(self, config: PddShopConfig, ctx: AdapterContext, client: PddClient | None = None) -> None:
        self._config = config
        self._client = client or PddClient(config, ctx)
        self._carriers: KeptTable[int] = KeptTable(lambda: carrier_table(self._client.call(COMPANIES_API, {})),
                                                   lambda: self._config.carrier_cache_hours)
        self._first: dict[tuple[int, int], dict[str, Any]] = {}  # the last count's first pages (count_orders)
        self._shipper = Shipper(self._client, self._carrier_id, self.shipment_state)
        self._init_stock(PddStock(config, self._client))

    # ---- orders -------------------------------------------------------------------------------

    def list_orders(self, start: datetime, end: datetime, seen: SeenVersions | None = None) -> WindowResult:
        """Every order updated in the window, in spans of at most 30 minutes, the newest copy of each; with
        ``seen``, an entry already stored in this version is counted, not mapped."""
        kept: dict[str, tuple[float, OrderIn | RejectedRecord | None]] = {}  # None: unchanged, not mapped
        unkeyed: list[RejectedRecord] = []
        total: int | None = 0
        first, self._first = self._first, {}
        for a, b in sub_windows(clock.to_epoch(start), clock.to_epoch(end)):
            what = f"pdd {ORDERS_API} [{a}, {b}]"
            if self._config.paging == "has_next":
                items, count = read_has_next(self._orders_page(a, b), "order_sn_list", what), None
            else:
                items, count = read_backward(self._orders_page(a, b, first.pop((a, b), None)), "order_sn_list", what)
            total = None if total is None or count is None else total + count
            for where, item in items:
                _take(kept, unkeyed, item, where, seen)
        orders = [v for _, v in kept.values() if isinstance(v, OrderIn)]
        rejects = [v for _, v in kept.values() if isinstance(v, RejectedRecord)] + unkeyed
        unchanged = sum(1 for _, v in kept.values() if v is None)
        return WindowResult(orders=orders, total=total, rejects=rejects, unchanged=unchanged)

    def count_orders(self, start: datetime, end: datetime) -> int | None:
        """The platform's ``total_count`` of orders updated in the window (one call per 30 minutes): each span's
        first page, kept for :meth:`list_orders` of the same window (backward paging reads it first anyway), so a
        count followed by the read costs no call of its own."""
        total = 0
        self._first = {}
        for a, b in sub_windows(clock.to_epoch(start), clock.to_epoch(end)):
            data = self._orders_page(a, b)(1, PAGE_SIZE, False)
            if self._config.paging != "has_next":
                self._first[(a, b)] = data
            count = data.get("total_count")
            count = whole(count)
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise ProtocolError(f"pdd {ORDERS_API}: answer has no usable total_count")
            total += count
        return total

    def _orders_page(self, start: int, end: int, first: dict[str, Any] | None = None) -> Fetch:
        """One span's page fetcher; ``first``: its first page as a count read it just before, used once."""
        kept = [first] if first is not None else []

        def fetch(page: int, size: int, use_has_next: bool) -> dict[str, Any]:
            if kept and (page, size, use_has_next) == (1, PAGE_SIZE, False):
                return kept.pop()
            return self._client.call(ORDERS_API, {
                "start_updated_at": start, "end_updated_at": end, "order_status": ALL_ORDER_STATUS,
                "refund_status": ALL_REFUND_STATUS, "is_lucky_flag": ALL_LUCKY, "page": page, "page_size": size,
                "use_has_next": use_has_next})

        return fetch

    def get_order(self, platform_order_id: str) -> OrderIn:
        """One order through ``pdd.order.information.get``."""
        return map_order(self._order_info(platform_order_id))

    def _order_info(self, order_sn: str) -> dict[str, Any]:
        data = self._client.call(INFO_API, {"order_sn": order_sn})
        info = data.get("order_info")
        if not isinstance(info, dict):
            raise ProtocolError(f"pdd {INFO_API}: no order_info for order {order_sn}")
        return info

    def shipment_state(self, order_sn: str) -> tuple[bool, list[str]]:
        """(shipped on the platform, its tracking numbers: main then extra) read back now."""
        info = self._order_info(order_sn)
        status = info.get("order_status")
        shipped = str(status) != str(AWAITING_SHIPMENT) or bool(str(info.get("tracking_number") or "").strip())
        return shipped, tracking_numbers(info, f"order {order_sn}")

    # ---- refunds ------------------------------------------------------------------------------

    def list_refunds(self, start: datetime, end: datetime) -> RefundWindow:
        """``pdd.refund.list.increment.get`` over the window, every after-sale status and type."""
        kept: dict[str, tuple[datetime, RefundEvent]] = {}
        events: list[RefundEvent] = []
        rejects: list[RejectedRecord] = []
        for a, b in sub_windows(clock.to_epoch(start), clock.to_epoch(end)):
            items, _ = read_backward(self._refunds_page(a, b), "refund_list", f"pdd {REFUNDS_API} [{a}, {b}]")
            for where, item in items:
                try:
                    if not isinstance(item, dict):
                        raise ProtocolError(f"{where}: expected an object, found {type(item).__name__}")
                    event = map_refund(item)
                except ProtocolError as err:
                    key = str(item.get("id") or item.get("order_sn") or where) if isinstance(item, dict) else where
                    rejects.append(RejectedRecord(key=key, reason=str(err), raw=item))
                    continue
                ident = str(item.get("id") or "")
                if not ident:
                    events.append(event)
                elif ident not in kept or event.updated_at >= kept[ident][0]:
                    kept[ident] = (event.updated_at, event)
        return RefundWindow(events=events + [e for _, e in kept.values()], rejects=rejects)

    def _refunds_page(self, start: int, end: int) -> Fetch:
        def fetch(page: int, size: int, use_has_next: bool) -> dict[str, Any]:
            return self._client.call(REFUNDS_API, {
                "start_updated_at": start, "end_updated_at": end,
                "after_sales_status": self._config.refund_after_sales_status,
                "after_sales_type": ALL_AFTER_SALES_TYPES, "page": page, "page_size": size})

        return fetch

    # ---- receivers ----------------------------------------------------------------------------

    @property
    def decrypt_orders_per_call(self) -> int:
        """Orders one ``pdd.open.decrypt.batch`` call takes: its texts, three an order."""
        return max(1, self._config.decrypt_batch // 3)

    def decrypt(self, refs: Sequence[tuple[str, ReceiverRef]]) -> dict[str, Receiver | str]:
        """``pdd.open.decrypt.batch`` at most ``decrypt_batch`` texts a call; per order a Receiver or a reason."""
        wanted: dict[tuple[str, str], list[str]] = {}  # (order_sn, cipher text) → fields it fills
        for order_sn, ref in refs:
            for name, cipher in zip(_FIELDS, (ref.name_cipher, ref.phone_cipher, ref.address_cipher), strict=True):
                if cipher:
                    wanted.setdefault((order_sn, cipher), []).append(name)
        plain: dict[str, dict[str, str]] = {}
        failed: dict[str, list[str]] = {}
        virtual: set[str] = set()
        keys = list(wanted)
        for at in range(0, len(keys), self._config.decrypt_batch):
            self._decrypt_chunk(keys[at:at + self._config.decrypt_batch], wanted, plain, failed, virtual)
        out: dict[str, Receiver | str] = {}
        for order_sn, ref in refs:
            if order_sn in failed:
                out[order_sn] = "; ".join(failed[order_sn])
                continue
            got = plain.get(order_sn, {})
            out[order_sn] = Receiver(name=got.get("name", ""), phone=got.get("phone", ""), province=ref.province,
                                     city=ref.city, district=ref.district, street=ref.street,
                                     detail=got.get("address", ""), virtual_phone=order_sn in virtual)
        return out

    def _decrypt_chunk(self, chunk: list[tuple[str, str]], wanted: dict[tuple[str, str], list[str]],
                       plain: dict[str, dict[str, str]], failed: dict[str, list[str]], virtual: set[str]) -> None:
        data_list = [{"data_tag": order_sn, "encrypted_data": cipher} for order_sn, cipher in chunk]
        try:
            data = self._client.call(DECRYPT_API, {"data_list": data_list})
        except RejectedError as err:
            for order_sn in dict.fromkeys(o for o, _ in chunk):
                failed.setdefault(order_sn, []).append(f"decrypt refused: {err.platform_message or err.code}")
            return
        answers = data.get("data_decrypt_list") or []
        if not isinstance(answers, list):
            raise ProtocolError(f"pdd {DECRYPT_API}: data_decrypt_list is not a list")
        pending = set(chunk)
        for item in answers:
            if not isinstance(item, dict):
                continue
            key = (str(item.get("data_tag", "")), str(item.get("encrypted_data", "")))
            if key not in pending:
                continue
            pending.discard(key)
            order_sn, fields = key[0], wanted[key]
            code, text = item.get("error_code") or 0, item.get("decrypted_data")
            if code not in (0, "0") or not isinstance(text, str):
                reason = str(item.get("error_msg") or "no text")[:200]
                failed.setdefault(order_sn, []).append(
                    f"{'/'.join(fields)} not decrypted: {reason} (error_code {code})")
                continue
            text = text.strip()
            if "phone" in fields and (item.get("virtual_number_type") or item.get("virtual_identify_number")):
                virtual.add(order_sn)
                extension = str(item.get("virtual_identify_number") or "").strip()
                if extension and "-" not in text:
                    text = f"{text}-{extension}"  # main number and extension, as the courier dials them
            for name in fields:
                plain.setdefault(order_sn, {})[name] = text
        for order_sn, cipher in sorted(pending):
            failed.setdefault(order_sn, []).append(f"{'/'.join(wanted[(order_sn, cipher)])} not decrypted: no answer")

    # ---- shipping -----------------------------------------------------------------------------

    def ship(self, platform_order_id: str, parcels: Sequence[Parcel], whole_order: bool) -> ShipResult:
        """The first parcel through ``pdd.logistics.online.send``, the others as extra parcels."""
        return self._shipper.ship(platform_order_id, parcels, whole_order)

    def _carrier_id(self, internal: str) -> int:
        ident = self._carriers.get().get(internal)
        if ident is None:
            raise RejectedError(f"carrier {internal!r} is not in Pinduoduo's carrier list (or not available)",
                                code="carrier-unknown")
        return ident

    # ---- lifecycle ----------------------------------------------------------------------------

    def ensure_token(self) -> Token:
        """A usable access token, refreshed if needed."""
        return self._client.ensure_token()

    def close(self) -> None:
        """Nothing to release: the HTTP client belongs to the core."""


def _take(kept: dict[str, tuple[float, OrderIn | RejectedRecord | None]], unkeyed: list[RejectedRecord],
          item: Any, where: str, seen: SeenVersions | None = None) -> None:
    """Keep the newest version of each order; an unreadable one is kept as a reject under its order_sn, one
    ``seen`` reports stored in this version as None (not mapped)."""
    raw_key = item.get("order_sn") if isinstance(item, dict) else None
    if isinstance(raw_key, int) and not isinstance(raw_key, bool):
        raw_key = str(raw_key)
    key = raw_key.strip() if isinstance(raw_key, str) and raw_key.strip() else None
    entry: OrderIn | RejectedRecord | None
    if seen is not None and key is not None and isinstance(item, dict) and (
            stamped := _stamp(item, where)) is not None and seen.unchanged(key, stamped, item):
        old = kept.get(key)
        if old is None or stamped >= old[0]:
            kept[key] = (stamped, None)
        return
    try:
        if not isinstance(item, dict):
            raise ProtocolError(f"{where}: expected an object, found {type(item).__name__}")
        entry = map_order(item)
        stamp = entry.updated_at.timestamp()
    except ProtocolError as err:
        entry = RejectedRecord(key=key or where, reason=str(err), raw=item)
        if key is None:
            unkeyed.append(entry)
            return
        stamped = _stamp(item, where) if isinstance(item, dict) else None
        stamp = -1.0 if stamped is None else stamped
    assert key is not None  # map_order succeeded, so order_sn was readable
    old = kept.get(key)
    if old is None or stamp >= old[0]:
        kept[key] = (stamp, entry)


def _stamp(item: dict[str, Any], where: str) -> float | None:
    """The entry's ``updated_at`` as Unix seconds, read as :func:`map_order` reads it; None when unreadable."""
    try:
        when = parse_time(item.get("updated_at"), f"{where}: updated_at")
    except ProtocolError:
        return None
    return when.timestamp() if when else None

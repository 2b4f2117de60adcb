"""Taobao / Tmall (TOP) storefront: list, read, decrypt and ship trades (reference/storefronts.md §3)."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from syncd import jsoncodec
from syncd.adapters.common.cached import KeptTable
from syncd.adapters.common.catalog import StockFacade
from syncd.adapters.taobao.client import TaobaoClient
from syncd.adapters.taobao.config import TaobaoShopConfig
from syncd.adapters.taobao.items import TaobaoStock
from syncd.adapters.taobao.listing import DAY, WindowReader, spans
from syncd.adapters.taobao.mapping import (
    carrier_table,
    items,
    map_refund,
    map_trade,
    needs_detail,
    oaid_of,
    parse_time,
    trade_id,
)
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
from syncd.inflight import bounded_calls
from syncd.protocols import SeenVersions
from syncd.registry import AdapterContext

log = logging.getLogger("syncd.adapters.taobao")

LIST = "taobao.trades.sold.increment.get"
FULLINFO = "taobao.trade.fullinfo.get"
DECRYPT = "taobao.top.oaid.decrypt"
COMPANIES = "taobao.logistics.companies.get"
SHIP = "taobao.logistics.offline.send"
REFUNDS = "taobao.refunds.receive.get"
REFUND_FIELDS = "refund_id,tid,oid,status,refund_fee,modified,created,good_status,has_good_return,title,num"
# fullinfo answers kept per shop (a few KB each, encoded): re-reads come within the overlap and settling horizon
DETAIL_CACHE = 1000
DETAIL_IN_FLIGHT = 4  # fullinfo reads of one shop at once (syncd.inflight); the rate limiter spaces them
ALREADY_SHIPPED = ":B04"  # isv.logistics-{offline,online,dummy}-service-error:B04: shipped or closed already


def is_already_shipped(code: str | None) -> bool:
    """The B04 answer: the trade is already shipped (or closed) and cannot ship again."""
    return bool(code) and str(code).startswith("isv.logistics-") and str(code).endswith(ALREADY_SHIPPED)


class DetailCache:
    """The last ``taobao.trade.fullinfo.get`` answers of one shop, by trade and version (``modified``), stored
    encoded and bounded (oldest out first): a trade to ship is listed again and again within the window overlap
    and the settling read, unchanged, and TOP meters every call. Only the very version read is reused: any
    change to a trade moves its ``modified``."""

    def __init__(self, size: int = DETAIL_CACHE) -> None:
        self._size = size
        self._got: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._lock = threading.Lock()  # a window's details are read a few at once

    def get(self, tid: str, modified: Any) -> dict[str, Any] | None:
        with self._lock:
            got = self._got.get(tid)
        if got is None or not modified or got[0] != str(modified):
            return None
        raw = jsoncodec.loads(got[1])
        return raw if isinstance(raw, dict) else None

    def put(self, tid: str, raw: dict[str, Any]) -> None:
        modified = raw.get("modified")
        if not modified:
            return
        encoded = jsoncodec.dumps(raw)
        with self._lock:
            self._got.pop(tid, None)
            self._got[tid] = (str(modified), encoded)
            while len(self._got) > self._size:
                self._got.popitem(last=False)


class TaobaoAdapter(StockFacade):
    """:class:`syncd.protocols.StorefrontAdapter` and :class:`syncd.stockmodel.StorefrontStock` for one Taobao /
    Tmall shop."""

    platform: str = "taobao"
    # TOP accepts a day; its advice of 30 minutes is about paging depth, which the pull's pace and count keep small
    max_window: timedelta = DAY

    def __init__(self, config: TaobaoShopConfig, ctx: AdapterContext, client: TaobaoClient | None = None) -> None:
        self._config = config
        self._client = client or TaobaoClient(config, ctx)
        self._trades = WindowReader(self._client.call, LIST, "trades", "trade", config.list_fields, "tid", trade_id)
        self._refunds = WindowReader(self._client.call, REFUNDS, "refunds", "refund", REFUND_FIELDS, "refund_id",
                                     _refund_id)
        self._carriers: KeptTable[str] = KeptTable(self._read_carriers, lambda: self._config.carrier_cache_hours)
        self._details = DetailCache()
        self._init_stock(TaobaoStock(config, self._client))

    # ---- trades -------------------------------------------------------------------------------

    def list_orders(self, start: datetime, end: datetime, seen: SeenVersions | None = None) -> WindowResult:
        """Every trade modified in the window (30-minute sub-windows), the newest copy of each. ``seen`` is
        not used: what is stored is the trade's detail (fullinfo), not the listed entry ``seen`` would be
        asked about, so every entry is completed, mapped and compared when stored."""
        newest: dict[str, tuple[float, dict[str, Any]]] = {}
        rejects: list[RejectedRecord] = []
        total = 0
        for a, b in spans(start, end, self.max_window):
            found, count = self._trades.read(a, b)
            total += count
            for where, item in found:
                _keep_newest(newest, rejects, where, item)
        listed = [(tid, raw) for tid, (_, raw) in newest.items()]
        # the details a trade needs are read DETAIL_IN_FLIGHT at a time (one at a time, a gateway answering in
        # 0.25 s gives four of the 20 a second TOP allows); the trades keep their listed order
        done: dict[int, OrderIn | RejectedRecord] = dict(bounded_calls(
            listed, lambda item: self._complete(*item), limit=DETAIL_IN_FLIGHT, halt=lambda: False,
            name=f"taobao-detail-{self._config.id}"))
        orders: list[OrderIn] = []
        for i in range(len(listed)):
            entry = done[i]
            if isinstance(entry, OrderIn):
                orders.append(entry)
            else:
                rejects.append(entry)
        return WindowResult(orders=orders, total=total, rejects=rejects)

    def listing_rate(self) -> float:
        """Trades a second :meth:`list_orders` reads at most: each listed trade is completed by a fullinfo call
        (the list has no ``oaid``), at that API's budget; the pull sizes a scheduled run's windows by it."""
        return self._client.rate(FULLINFO)

    def count_orders(self, start: datetime, end: datetime) -> int | None:
        """TOP's own count of trades modified in the window: one call per day at most."""
        return sum(self._trades.count(a, b) for a, b in spans(start, end, DAY))

    def get_order(self, platform_order_id: str) -> OrderIn:
        """One trade through ``taobao.trade.fullinfo.get``."""
        return map_trade(self._fullinfo(platform_order_id))

    def _fullinfo(self, tid: str) -> dict[str, Any]:
        data = self._client.call(FULLINFO, {"tid": tid, "fields": self._config.fullinfo_fields,
                                            "include_oaid": True})
        trade = data.get("trade")
        if not isinstance(trade, dict):
            raise ProtocolError(f"taobao {FULLINFO}: no trade for tid {tid}")
        return trade

    def _complete(self, tid: str, raw: dict[str, Any]) -> OrderIn | RejectedRecord:
        """Map one listed trade, reading its details first only when the list lacks what syncd needs: the list
        gives no ``oaid`` (reference §3.4), which decrypting the receiver of a trade to ship needs. A trade
        listed again in the version whose details were read (the window overlap, the settling read) reuses
        them."""
        why = needs_detail(raw)
        if why is not None:
            known = self._details.get(tid, raw.get("modified"))
            if known is not None:
                raw, why = known, None
        if why is not None:
            log.debug("taobao trade %s: %s; reading its details", tid, why)
            try:
                raw = self._fullinfo(tid)
            except (RejectedError, ProtocolError) as err:
                return RejectedRecord(key=tid, reason=f"{why}, and its details could not be read: {err}", raw=raw)
            self._details.put(tid, raw)
        try:
            return map_trade(raw)
        except ProtocolError as err:
            return RejectedRecord(key=tid, reason=str(err), raw=raw)

    # ---- refunds ------------------------------------------------------------------------------

    def list_refunds(self, start: datetime, end: datetime) -> RefundWindow:
        """``taobao.refunds.receive.get``: every refund modified in the window, newest copy of each."""
        newest: dict[str, tuple[float, RefundEvent]] = {}
        rejects: list[RejectedRecord] = []
        for a, b in spans(start, end, DAY):
            found, _ = self._refunds.read(a, b)
            for where, item in found:
                try:
                    event = map_refund(item, where)
                except ProtocolError as err:
                    key = str(item.get("refund_id") or trade_id(item) or where) if isinstance(item, dict) else where
                    rejects.append(RejectedRecord(key=key, reason=str(err), raw=item))
                    continue
                key = str(event.raw.get("refund_id") or f"{event.platform_order_id}/{event.platform_line_id}")
                stamp = event.updated_at.timestamp()
                if key not in newest or stamp >= newest[key][0]:
                    newest[key] = (stamp, event)
        return RefundWindow(events=[e for _, e in newest.values()], rejects=rejects)

    # ---- receivers ----------------------------------------------------------------------------

    @property
    def decrypt_orders_per_call(self) -> int:
        """Trades one ``taobao.top.oaid.decrypt`` call takes."""
        return self._config.decrypt_batch

    def decrypt(self, refs: Sequence[tuple[str, ReceiverRef]]) -> dict[str, Receiver | str]:
        """``taobao.top.oaid.decrypt``, at most ``decrypt_batch`` (≤ 20) trades a call."""
        out: dict[str, Receiver | str] = {}
        wanted: list[tuple[str, str, ReceiverRef]] = []
        for tid, ref in refs:
            oaid = oaid_of(ref)
            if oaid:
                wanted.append((tid, oaid, ref))
            else:
                out[tid] = "no oaid listed for this trade: its receiver cannot be decrypted"
        size = self._config.decrypt_batch
        for at in range(0, len(wanted), size):
            out.update(self._decrypt_chunk(wanted[at:at + size]))
        return out

    def _decrypt_chunk(self, chunk: list[tuple[str, str, ReceiverRef]]) -> dict[str, Receiver | str]:
        query = [{"oaid": oaid, "tid": tid} for tid, oaid, _ in chunk]
        try:
            data = self._client.call(DECRYPT, {"query_list": query})
        except RejectedError as err:
            return {tid: f"decrypt refused: {err.platform_message or err.code}" for tid, _, _ in chunk}
        answers: dict[str, dict[str, Any]] = {}
        for item in items(data.get("receiver_list"), "receiver", f"taobao {DECRYPT}"):
            if isinstance(item, dict) and trade_id(item) is not None:
                answers[str(trade_id(item))] = item
        out: dict[str, Receiver | str] = {}
        for tid, oaid, ref in chunk:
            got = answers.get(tid)
            if got is None or (got.get("oaid") not in (None, "", oaid)):
                out[tid] = "receiver not decrypted: no answer for this trade"
            elif got.get("error_code") or got.get("error_msg"):
                out[tid] = f"receiver not decrypted: {str(got.get('error_msg') or got.get('error_code'))[:200]}"
            elif got.get("matched") is False or got.get("matched") == "false":
                out[tid] = "the oaid no longer matches the trade (the address changed): read the trade again"
            else:
                out[tid] = _receiver(got, ref)
        return out

    # ---- shipping -----------------------------------------------------------------------------

    def ship(self, platform_order_id: str, parcels: Sequence[Parcel], whole_order: bool) -> ShipResult:
        """``taobao.logistics.offline.send`` per parcel; split parcels carry ``is_split=1`` + ``sub_tid``.

        A parcel sent before with an unknown outcome (``attempted``) is looked for on the trade first and
        only sent when it is not there; a B04 answer (already shipped or closed) is accepted only when the
        trade carries our tracking number.
        """
        if not parcels:
            raise ValueError(f"ship: no parcels for trade {platform_order_id}")
        codes = [self._carrier_code(p.carrier) for p in parcels]
        split = not (whole_order and len(parcels) == 1)
        sub_tids = _sub_tids(platform_order_id, parcels) if split else [[] for _ in parcels]
        on_trade: set[str] | None = None
        if any(p.attempted for p in parcels):
            on_trade = self._tracking_on(platform_order_id)
        already = False
        for parcel, code, oids in zip(parcels, codes, sub_tids, strict=True):
            if parcel.attempted and on_trade is not None and _key(parcel.tracking_no) in on_trade:
                log.info("taobao trade %s: tracking number of an earlier attempt is already there", platform_order_id)
                already = True
                continue
            params: dict[str, Any] = {"tid": platform_order_id, "out_sid": parcel.tracking_no, "company_code": code}
            if split:
                params.update(is_split=1, sub_tid=",".join(oids))
            try:
                answer = self._client.call(SHIP, params)
            except RejectedError as err:
                if not is_already_shipped(err.code):
                    raise
                self._check_already_shipped(platform_order_id, parcel, err)
                already = True
                continue
            shipping = answer.get("shipping")
            if isinstance(shipping, dict) and shipping.get("is_success") in (False, "false"):
                raise RejectedError(f"taobao {SHIP}: trade {platform_order_id}: the platform answered is_success "
                                    "false", code="is_success-false")
        return ShipResult(already_shipped=already)

    def _tracking_on(self, tid: str) -> set[str]:
        return {_key(n) for n in self.get_order(tid).shipped_tracking}

    def _check_already_shipped(self, tid: str, parcel: Parcel, err: RejectedError) -> None:
        order = self.get_order(tid)
        if _key(parcel.tracking_no) in {_key(n) for n in order.shipped_tracking}:
            log.info("taobao trade %s: already shipped with the same tracking number", tid)
            return
        raise RejectedError(
            f"taobao trade {tid} is already shipped or closed ({order.platform_status}) without our tracking "
            f"number (platform has {', '.join(order.shipped_tracking) or 'none'}, ours {parcel.tracking_no}): "
            "correct it in the Taobao seller back office",
            code=err.code, platform_message=err.platform_message) from err

    def _carrier_code(self, internal: str) -> str:
        code = self._carrier_table().get(internal)
        if code is None:
            raise RejectedError(f"carrier {internal!r} is not in Taobao's carrier list", code="carrier-unknown")
        return code

    def _carrier_table(self) -> dict[str, str]:
        return self._carriers.get()

    def _read_carriers(self) -> dict[str, str]:
        data = self._client.call(COMPANIES, {"fields": "id,code,name,reg_mail_no"})
        return carrier_table(items(data.get("logistics_companies"), "logistics_company", f"taobao {COMPANIES}"))

    # ---- lifecycle ----------------------------------------------------------------------------

    def ensure_token(self) -> Token:
        """The usable session with its expiry (refreshed first where due and allowed)."""
        return self._client.ensure_token()

    def close(self) -> None:
        """Nothing to release: the HTTP client belongs to the core."""


def _keep_newest(newest: dict[str, tuple[float, dict[str, Any]]], rejects: list[RejectedRecord],
                 where: str, item: Any) -> None:
    tid = trade_id(item)
    if tid is None:
        rejects.append(RejectedRecord(key=where, reason=f"{where}: not a trade with a tid", raw=item))
        return
    try:
        modified = parse_time(item, "modified", f"trade {tid}")
    except ProtocolError:
        modified = None
    stamp = modified.timestamp() if modified is not None else -1.0
    if tid not in newest or stamp >= newest[tid][0]:
        newest[tid] = (stamp, item)


def _refund_id(item: Any) -> str | None:
    value = item.get("refund_id") if isinstance(item, dict) else None
    return str(value) if isinstance(value, int | str) and not isinstance(value, bool) and str(value) else None


def _sub_tids(tid: str, parcels: Sequence[Parcel]) -> list[list[str]]:
    """The ``sub_tid`` (oids) of each parcel. TOP ships whole sub-orders: one in two parcels is refused."""
    seen: dict[str, str] = {}
    out: list[list[str]] = []
    for parcel in parcels:
        oids = list(dict.fromkeys(line.platform_line_id for line in parcel.lines))
        if not oids:
            raise ValueError(f"ship: parcel {parcel.request_id} of trade {tid} lists no sub-orders")
        for oid in oids:
            if oid in seen:
                raise RejectedError(
                    f"taobao trade {tid}: sub-order {oid} is in two parcels ({seen[oid]} and {parcel.tracking_no}); "
                    "Taobao ships whole sub-orders: upload the extra tracking number in the seller back office",
                    code="sub-order-split")
            seen[oid] = parcel.tracking_no
        out.append(oids)
    return out


def _receiver(got: dict[str, Any], ref: ReceiverRef) -> Receiver:
    def text(key: str) -> str:
        value = got.get(key)
        return value.strip() if isinstance(value, str) else ""

    phone = text("mobile") or text("phone")
    virtual = got.get("privacy_protection") in (True, "true") or "-" in phone
    return Receiver(name=text("name"), phone=phone, province=text("state") or ref.province,
                    city=text("city") or ref.city, district=text("district") or ref.district,
                    street=text("town") or ref.street, detail=text("address_detail"), virtual_phone=virtual)


def _key(number: str) -> str:
    return number.strip().upper()


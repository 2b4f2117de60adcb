"""1688 payloads ↔ syncd's models: times, SKUs, address and cargo, status and parcels, traces.

reference/suppliers-tracking-alerts.md §A.4–A.6. Every reader takes the API name so that a malformed
answer fails with a ProtocolError naming the call and the field, never a KeyError.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from syncd import carriers, clock, trace_words
from syncd.adapters.alibaba.config import MAX_MESSAGE, AlibabaSupplierConfig
from syncd.adapters.common.fields import digits
from syncd.domain import (
    LogisticsState,
    PlacedOrder,
    Receiver,
    SupplierLine,
    SupplierOrderPhase,
    SupplierOrderRequest,
    SupplierParcel,
    TrackEvent,
    TrackResult,
)
from syncd.errors import ProtocolError, RejectedError

MAX_ADDRESS = 200  # fastCreateOrder addressParam.address ≤ 200 characters (§A.4)
UNPAID = "waitbuyerpay"

# baseInfo.status (§A.5) → phase. Parcels turn ACCEPTED into PARTIAL (1688 keeps waitsellersend until the
# last item is sent).
PHASES: dict[str, SupplierOrderPhase] = {
    "waitbuyerpay": SupplierOrderPhase.UNPAID,
    "waitsellerconfirm": SupplierOrderPhase.ACCEPTED,
    "waitbuyerconfirm": SupplierOrderPhase.ACCEPTED,
    "waitselleract": SupplierOrderPhase.ACCEPTED,
    "waitsellerpush": SupplierOrderPhase.ACCEPTED,
    "waitsellersend": SupplierOrderPhase.ACCEPTED,
    "exception": SupplierOrderPhase.ACCEPTED,
    "exceptionend": SupplierOrderPhase.ACCEPTED,
    "waitlogisticstakein": SupplierOrderPhase.SHIPPED,
    "waitbuyerreceive": SupplierOrderPhase.SHIPPED,
    "waitbuyersign": SupplierOrderPhase.SHIPPED,
    "signinsuccess": SupplierOrderPhase.SHIPPED,
    "signinfailed": SupplierOrderPhase.SHIPPED,
    "confirm_goods": SupplierOrderPhase.SHIPPED,
    "success": SupplierOrderPhase.SHIPPED,
    "cancel": SupplierOrderPhase.CANCELLED,
    "terminated": SupplierOrderPhase.CANCELLED,
}
NEVER_SHIPS = frozenset({"waitbuyerpay", "cancel", "terminated"})
NOT_SENT = frozenset({"waitsellersend"})  # paid; parcels (a partial shipment too) show in nativeLogistics

_UTC8 = timezone(timedelta(hours=8))
_COMPACT = re.compile(r"^(\d{14})(\d{3})?([+-]\d{4})?$")
_BRACKETS = re.compile(r"[(（][^()（）]*[)）]\s*$")
_SKU = re.compile(r"^(\d{1,19})(?::([A-Za-z0-9_-]{1,64}))?$")
_MILLIS = 10**11  # an epoch number above this is milliseconds


# ---- small readers -----------------------------------------------------------------------------------


def is_true(value: Any) -> bool:
    """1688's ``success``: a JSON boolean on most APIs, the string ``"true"`` on get.buyerView."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def text(value: Any) -> str:
    """A scalar as text ("" for None); numbers keep every digit (order ids are 18–19 digits)."""
    if value is None or isinstance(value, bool | dict | list):
        return ""
    return str(value).strip()


def parse_time(value: Any) -> datetime | None:
    """Any 1688 date spelling → aware UTC; None when absent. Raises ValueError for an unreadable value.

    ``20180614101942000+0800`` (and without millis / zone), ``2018-07-24 21:55:33`` (naive = Shanghai),
    ISO with an offset, epoch milliseconds or seconds (number or digits).
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a time: {value!r}")
    if isinstance(value, int | float):
        return clock.from_epoch(value / 1000 if value > _MILLIS else value)
    if not isinstance(value, str):
        raise ValueError(f"not a time: {type(value).__name__}")
    raw = value.strip()
    compact = _COMPACT.match(raw)
    if compact:
        stamp, millis, zone = compact.groups()
        local = datetime.strptime(stamp, "%Y%m%d%H%M%S")  # noqa: DTZ007 - the zone is applied just below
        local = local.replace(microsecond=int(millis or 0) * 1000)
        tz = datetime.strptime(zone, "%z").tzinfo if zone else clock.SHANGHAI
        return local.replace(tzinfo=tz).astimezone(UTC)
    if raw.isascii() and raw.isdigit():
        number = int(raw)
        return clock.from_epoch(number / 1000 if number > _MILLIS else number)
    parsed = datetime.fromisoformat(raw)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=clock.SHANGHAI)
    return parsed.astimezone(UTC)


def format_time(dt: datetime) -> str:
    """Aware time → ``yyyyMMddHHmmssSSS+0800`` (what 1688's date parameters read)."""
    local = clock.ensure_utc(dt).astimezone(_UTC8)
    return local.strftime("%Y%m%d%H%M%S") + f"{local.microsecond // 1000:03d}+0800"


def yuan_to_fen(value: Any) -> int | None:
    """Order-detail money (yuan, number or text) → fen; None when absent or unreadable."""
    if value is None or isinstance(value, bool) or value == "":
        return None
    try:
        return int((Decimal(str(value)) * 100).to_integral_value())
    except (InvalidOperation, ValueError):
        return None


def fen(value: Any) -> int | None:
    """Creation/preview money (already fen)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if (d := digits(value)) is not None:
        return int(d)
    return None


def objects(value: Any, api: str, where: str) -> list[dict[str, Any]]:
    """A list of objects (absent → []); anything else is a ProtocolError naming the field."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ProtocolError(f"1688 {api}: {where} is not a list of objects")
    return value


def obj(value: Any, api: str, where: str) -> dict[str, Any]:
    """An object, or a ProtocolError naming the field."""
    if not isinstance(value, dict):
        raise ProtocolError(f"1688 {api}: {where} is missing or not an object")
    return value


# ---- SKUs, address, cargo, message ---------------------------------------------------------------------


def parse_sku(sku: str) -> tuple[int, str | None]:
    """``"offerId"`` or ``"offerId:specId"`` → (offerId, specId); RejectedError for anything else."""
    match = _SKU.match(sku.strip())
    if not match:
        raise RejectedError(f"1688: supplier SKU {sku!r} is not 'offerId' or 'offerId:specId' (fix the route)",
                            code="bad-sku")
    return int(match.group(1)), match.group(2)


def sku_of(offer_id: Any, spec_id: Any) -> str:
    """The supplier SKU of a 1688 item: ``offerId:specId``, or ``offerId`` when it has no spec."""
    spec = text(spec_id)
    return f"{text(offer_id)}:{spec}" if spec else text(offer_id)


def cargo_list(lines: Sequence[SupplierLine]) -> list[dict[str, Any]]:
    """``cargoParamList``: one entry per (offerId, specId), quantities of repeated SKUs added up."""
    merged: dict[tuple[int, str | None], int] = {}
    for line in lines:
        if line.quantity < 1:
            raise RejectedError(f"1688: line {line.line_ref} has quantity {line.quantity}", code="bad-quantity")
        key = parse_sku(line.supplier_sku)
        merged[key] = merged.get(key, 0) + line.quantity
    out: list[dict[str, Any]] = []
    for (offer_id, spec_id), quantity in merged.items():
        cargo: dict[str, Any] = {"offerId": offer_id}
        if spec_id:
            cargo["specId"] = spec_id
        cargo["quantity"] = quantity
        out.append(cargo)
    return out


def address_param(receiver: Receiver) -> dict[str, Any]:
    """``addressParam`` as fastCreateOrder and preview read it (texts, no address codes)."""
    missing = [name for name, value in (("name", receiver.name), ("phone", receiver.phone),
                                        ("province", receiver.province), ("city", receiver.city),
                                        ("detail", receiver.detail)) if not value.strip()]
    if missing:
        raise RejectedError(f"1688: the receiver has no {', '.join(missing)}", code="address-incomplete")
    if len(receiver.detail) > MAX_ADDRESS:
        # Never cut an address short: a parcel sent to half an address is lost.
        raise RejectedError(f"1688: the detailed address has {len(receiver.detail)} characters, 1688 takes at "
                            f"most {MAX_ADDRESS}", code="address-too-long")
    return {"fullName": receiver.name.strip(), "mobile": receiver.phone.strip(),
            "provinceText": receiver.province.strip(), "cityText": receiver.city.strip(),
            "areaText": receiver.district.strip(), "townText": receiver.street.strip(),
            "address": receiver.detail.strip()}


def sensitive(receiver: Receiver) -> list[str]:
    """The receiver's strings an error message must never echo."""
    return [v for v in (receiver.name, receiver.phone, receiver.detail) if len(v.strip()) >= 2]


def message_for(config: AlibabaSupplierConfig, request: SupplierOrderRequest) -> str | None:
    """The buyer message (≤ 500 characters): the config template, or the order's remark."""
    if config.message_template is None:
        words = request.remark.strip()
    else:
        words = config.message_template.format(
            platform=request.platform, platform_order_id=request.platform_order_id, shop_id=request.shop_id,
            key=request.idempotency_key, remark=request.remark).strip()
    return words[:MAX_MESSAGE] or None


# ---- orders ------------------------------------------------------------------------------------------


def base_info(entry: Mapping[str, Any], api: str) -> dict[str, Any]:
    """``baseInfo`` of an order answer."""
    return obj(entry.get("baseInfo"), api, "baseInfo")


def order_id(base: Mapping[str, Any], api: str) -> str:
    """The 1688 order id (``idOfStr`` first: ``id`` can pass 2^53 in clients that read JSON as doubles)."""
    ref = text(base.get("idOfStr")) or text(base.get("id"))
    if not (ref.isascii() and ref.isdigit()):
        raise ProtocolError(f"1688 {api}: baseInfo has no usable order id")
    return ref


def status_of(base: Mapping[str, Any], api: str) -> str:
    status = base.get("status")
    if not isinstance(status, str) or not status.strip():
        raise ProtocolError(f"1688 {api}: baseInfo.status is missing")
    return status.strip().lower()


def placed_from(entry: Mapping[str, Any], api: str) -> PlacedOrder:
    """An order of getBuyerOrderList / get.buyerView as the core's PlacedOrder."""
    base = base_info(entry, api)
    return PlacedOrder(supplier_ref=order_id(base, api), paid=status_of(base, api) not in NEVER_SHIPS,
                       amount_fen=yuan_to_fen(base.get("totalAmount")))


def phase_of(status: str, api: str) -> SupplierOrderPhase:
    phase = PHASES.get(status)
    if phase is None:
        raise ProtocolError(f"1688 {api}: unknown order status {status!r}")
    return phase


def item_skus(items: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Order entry id (``subItemID``) → supplier SKU of each productItem."""
    out: dict[str, str] = {}
    for item in items:
        entry = text(item.get("subItemIDString")) or text(item.get("subItemID"))
        offer = text(item.get("productID"))
        if entry and offer:
            out[entry] = sku_of(offer, item.get("specId"))
    return out


def _ids(value: Any) -> list[str]:
    """``"1,2"`` / ``[1, 2]`` / ``1`` → ``["1", "2"]``."""
    if isinstance(value, list):
        return [t for t in (text(v) for v in value) if t]
    return [t.strip() for t in text(value).split(",") if t.strip()]


def _entries(info: Mapping[str, Any], native: Mapping[str, list[str]]) -> list[str]:
    goods = [text(g.get("tradeOrderItemId")) for g in info.get("logisticsOrderGoods") or [] if isinstance(g, dict)]
    goods = [g for g in goods if g]
    return goods or _ids(info.get("orderEntryIds")) or native.get(text(info.get("logisticsBillNo")), [])


def native_entries(native_logistics: Any) -> dict[str, list[str]]:
    """From get.buyerView ``nativeLogistics.logisticsItems``: tracking number → covered entry ids."""
    out: dict[str, list[str]] = {}
    if not isinstance(native_logistics, dict):
        return out
    for item in native_logistics.get("logisticsItems") or []:
        if isinstance(item, dict) and text(item.get("logisticsBillNo")):
            out[text(item.get("logisticsBillNo"))] = _ids(item.get("subItemIds"))
    return out


def carrier_of(name: str, code: str) -> str | None:
    """``中通快递(ZTO)`` → zhongtong: the name with its bracketed suffix stripped, then the code."""
    stripped = _BRACKETS.sub("", name).strip()
    return carriers.normalize(stripped) or carriers.normalize(name) or (carriers.normalize(code) if code else None)


def parcels_from(infos: Sequence[Mapping[str, Any]], skus: Mapping[str, str],
                 native: Mapping[str, list[str]], api: str) -> list[SupplierParcel]:
    """getLogisticsInfos.buyerView ``result[]`` → parcels; each covering the SKUs of its entries.

    ``line_refs`` are supplier SKUs (the core maps them to its lines); None when the parcel covers every
    item of the order or 1688 does not say which.
    """
    parcels: list[SupplierParcel] = []
    for info in infos:
        tracking = text(info.get("logisticsBillNo"))
        if not tracking:
            continue  # 无需物流 / self pick-up entries carry no number; nothing to follow
        if text(info.get("status")).upper() == "CANCEL":
            continue  # a logistics order the supplier withdrew
        name, code = text(info.get("logisticsCompanyName")), text(info.get("logisticsCompanyNo"))
        covered = [skus[e] for e in _entries(info, native) if e in skus]
        refs = sorted(set(covered)) if covered and set(covered) != set(skus.values()) else None
        try:
            sent = parse_time(info.get("gmtSystemSend")) or parse_time(info.get("deliveredTime"))
        except ValueError:
            sent = None  # a send time is nice to have; an odd spelling must not hide the parcel
        parcels.append(SupplierParcel(carrier=carrier_of(name, code), carrier_text=name or code,
                                      tracking_no=tracking, line_refs=refs, sent_at=sent))
    return parcels


# ---- traces ------------------------------------------------------------------------------------------


def step_state(remark: str) -> LogisticsState:
    """A trace step's state from its words: 1688 gives no step code, only the carrier's text, so trouble words
    are read before the step words (:mod:`syncd.trace_words`); a line without known words is in transit."""
    return trace_words.state_of(remark)


def trace_from(traces: Sequence[Mapping[str, Any]], tracking_no: str, api: str) -> TrackResult | None:
    """The trace of ``tracking_no`` among ``logisticsTrace[]``; None when 1688 has none for it."""
    chosen = [t for t in traces if text(t.get("logisticsBillNo")) == tracking_no.strip()]
    if not chosen and len(traces) == 1 and not text(traces[0].get("logisticsBillNo")):
        chosen = list(traces)  # a single trace without its number: the order's only parcel
    if not chosen:
        return None
    events: list[TrackEvent] = []
    for i, step in enumerate(objects(chosen[0].get("logisticsSteps"), api, "logisticsSteps")):
        remark = trace_words.mask_phones(text(step.get("remark")))
        try:
            at = parse_time(step.get("acceptTime"))
        except ValueError as err:
            raise ProtocolError(f"1688 {api}: logisticsSteps[{i}].acceptTime is not a time") from err
        if at is None:
            raise ProtocolError(f"1688 {api}: logisticsSteps[{i}] has no acceptTime")
        events.append(TrackEvent(at=at, state=step_state(remark), text=remark))
    events.sort(key=lambda e: e.at)
    state = events[-1].state if events else LogisticsState.NONE
    return TrackResult(state=state, events=events, provider_state=state.value, final=state.final)

"""Uploading tracking numbers to Pinduoduo: reference/storefronts.md §2.5, §4.3.

The first parcel is the order's shipment (``pdd.logistics.online.send``: the whole order becomes 已发货);
further parcels of a split order are extra parcels (``pdd.order.upload.extra.logistics``), which the
platform accepts only after the main shipment. PDD has no idempotency key, so nothing is sent blindly
twice: a parcel sent before with an unknown outcome (``attempted``) and every refusal are settled by reading
the order back (``pdd.order.information.get``) and looking for our tracking number. PDD refuses a first
shipment of an order already shipped, so a split order's first parcel goes straight out (a refusal shows
whether another parcel went first), and once this process has sent an order's main shipment its further
parcels go straight to the extra-parcel API: no read on the ordinary path.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Literal

from syncd.adapters.pdd.client import PddClient
from syncd.domain import Parcel, ShipResult
from syncd.errors import RejectedError

log = logging.getLogger("syncd.adapters.pdd")

SEND_API = "pdd.logistics.online.send"
EXTRA_API = "pdd.order.upload.extra.logistics"
REMEMBERED = 10_000  # orders per shop whose main shipment this process knows is out (order numbers only)

Outcome = Literal["sent", "present", "taken"]  # sent now / already on the order / main shipment is another's
State = Callable[[str], tuple[bool, list[str]]]  # order_sn → (shipped, tracking numbers on the order)


class Shipper:
    """Ships parcels of one shop's orders through its client."""

    def __init__(self, client: PddClient, carrier_id: Callable[[str], int], state: State) -> None:
        self._client = client
        self._carrier_id = carrier_id
        self._state = state
        self._main_sent: OrderedDict[str, None] = OrderedDict()  # orders whose main shipment is on the platform

    def _remember(self, order_sn: str) -> None:
        self._main_sent[order_sn] = None
        self._main_sent.move_to_end(order_sn)
        while len(self._main_sent) > REMEMBERED:
            self._main_sent.popitem(last=False)

    def ship(self, order_sn: str, parcels: Sequence[Parcel], whole_order: bool) -> ShipResult:
        """Report the parcels; ``already_shipped`` when every one was on the order before we sent anything."""
        if not parcels:
            raise ValueError(f"ship: no parcels for order {order_sn}")
        todo = [(p, self._carrier_id(p.carrier)) for p in parcels]
        shipped: bool | None = None  # not read: the first parcel goes straight out (a refusal is read back)
        if order_sn in self._main_sent and not whole_order and not any(p.attempted for p in parcels):
            shipped = True  # its main shipment went out from here: the rest are extra parcels
        elif any(p.attempted for p in parcels):  # an unknown outcome: what the order shows is not sent again
            shipped, numbers = self._state(order_sn)
            have = {_key(n) for n in numbers}
            todo = [(p, ident) for p, ident in todo if _key(p.tracking_no) not in have]
            if not todo:
                log.info("pdd order %s: every tracking number is on the order already", order_sn)
                return ShipResult(already_shipped=True)
            if shipped and whole_order:
                raise _different(order_sn, numbers, [p.tracking_no for p, _ in todo])
        outcomes: list[Outcome] = []
        if shipped is not True:
            parcel, ident = todo[0]
            outcome = self._send_first(order_sn, parcel, ident, whole_order)
            self._remember(order_sn)  # sent, present or another parcel's: the order is shipped either way
            outcomes.append(outcome)
            if outcome != "taken":
                todo = todo[1:]
        if todo:
            outcomes.append(self._send_extra(order_sn, todo))
        return ShipResult(already_shipped="sent" not in outcomes)

    def _send_first(self, order_sn: str, parcel: Parcel, ident: int, whole_order: bool) -> Outcome:
        try:
            answer = self._client.call(SEND_API, {"order_sn": order_sn, "logistics_id": ident,
                                                  "tracking_number": parcel.tracking_no})
        except RejectedError as err:
            shipped, numbers = self._state(order_sn)
            if _key(parcel.tracking_no) in {_key(n) for n in numbers}:
                log.info("pdd order %s: already shipped with our tracking number", order_sn)
                return "present"
            if not shipped:
                raise  # a refusal that is not about shipping twice
            if whole_order:
                raise _different(order_sn, numbers, [parcel.tracking_no], err) from err
            return "taken"  # another parcel of this split order went first: ours becomes an extra parcel
        _check(answer, "is_success", SEND_API, order_sn)
        return "sent"

    def _send_extra(self, order_sn: str, todo: list[tuple[Parcel, int]]) -> Outcome:
        tracks = [{"shipping_id": ident, "tracking_number": p.tracking_no} for p, ident in todo]
        try:
            answer = self._client.call(EXTRA_API, {"order_sn": order_sn, "extra_track_list": tracks})
        except RejectedError:
            _, numbers = self._state(order_sn)
            have = {_key(n) for n in numbers}
            if all(_key(p.tracking_no) in have for p, _ in todo):
                log.info("pdd order %s: the extra parcels are on the order already", order_sn)
                return "present"
            raise
        _check(answer, "success", EXTRA_API, order_sn)
        return "sent"


def _check(answer: dict[str, Any], key: str, api: str, order_sn: str) -> None:
    if answer.get(key) in (False, 0, "false"):
        raise RejectedError(f"pdd {api}: the platform answered {key}=false for order {order_sn}",
                            code=f"{key}-false")


def _different(order_sn: str, numbers: list[str], ours: list[str], err: RejectedError | None = None) -> RejectedError:
    return RejectedError(
        f"pdd order {order_sn} was already shipped with a different tracking number (platform has "
        f"{', '.join(numbers) or 'none'}, ours {', '.join(ours)}): correct it in the Pinduoduo merchant back office",
        code=err.code if err else "already-shipped", platform_message=err.platform_message if err else None)


def _key(number: str) -> str:
    return number.strip().upper()

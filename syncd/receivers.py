"""Receivers for the suppliers: decrypted in calls as full as the platform allows, kept in memory only, briefly.

Every supplier's run (a drop-folder export, an API supplier's placing) needs the receivers of its share of the
orders, and an order split between two suppliers needs its receiver in both runs. Decrypting each run's share on
its own sends calls far from full (four suppliers, each with the few orders routed since its last run). So when a
shop's receivers must be decrypted, the last call is filled with other orders of that shop already routed and
waiting for a supplier — never more than that call takes, so no call is added — and every receiver decrypted is
kept for :data:`KEPT_FOR`, for the runs that follow. Only in memory, never stored, and at most :data:`MAX_KEPT`
(oldest out first). A receiver is kept under its order and that order's ciphertexts: an address changed since
(new ciphertexts) is decrypted again. A failure (a reason instead of a receiver) is not kept. One shop's decrypt
runs one at a time, so a second supplier's run finds what the first one's call brought.

An adapter says how many orders one call takes with ``decrypt_orders_per_call`` (without it, nothing is added).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from syncd import clock, details
from syncd.domain import Receiver, ReceiverRef
from syncd.inflight import bounded_calls
from syncd.lifecycle import OrderState
from syncd.store.models import Order

if TYPE_CHECKING:
    from syncd.runtime import Runtime

KEPT_FOR = timedelta(minutes=5)  # a supplier's next run comes within seconds to minutes
MAX_KEPT = 5000
# shops decrypted at once for one batch of orders where their answers are slow (syncd.inflight): a shop whose API
# takes seconds then holds up only its own orders. An agency's supplier claim of 25 orders spans a dozen shops or
# more, each its own call on its own shop's budget: at 0.25 s an answer, four at a time kept the claim's checks
# waiting over a second for their receivers (docs/benchmarks.md, 2026-12-07 18:14).
SHOPS_IN_FLIGHT = 8
FILL_SCAN = 2000  # routed orders looked through for a call's filling (newest first): a backlog's worth

Key = tuple[str, str, str]  # (shop, platform order id, its receiver's ciphertexts)


def _key(shop_id: str, platform_order_id: str, receiver: dict[str, Any] | None) -> Key:
    ref = receiver or {}
    ciphers = "\x1f".join(str(ref.get(name) or "") for name in ("name_cipher", "phone_cipher", "address_cipher"))
    return shop_id, platform_order_id, ciphers


def _order_key(order: Order) -> Key:
    return _key(order.shop_id, order.platform_order_id, order.receiver)


class ReceiverPool:
    """Decrypted receivers of one daemon, by order and ciphertexts, for :data:`KEPT_FOR` (module doc)."""

    def __init__(self, kept_for: timedelta = KEPT_FOR, size: int = MAX_KEPT) -> None:
        self._kept_for = kept_for
        self._size = size
        self._kept: OrderedDict[Key, tuple[Receiver, datetime]] = OrderedDict()
        self._lock = threading.Lock()
        self._shops: dict[str, threading.Lock] = defaultdict(threading.Lock)

    def by_shop(self, rt: Runtime, orders: Sequence[Order], *, name: str
                ) -> Iterator[tuple[str, list[Order], dict[int, Receiver | str] | Exception]]:
        """The receivers of ``orders`` shop by shop, each shop as soon as its decryption answers (or what it failed
        with, for the caller to report on that shop's orders: a storefront that cannot decrypt now holds up only
        its own orders). Where the shops' answers are slow, up to :data:`SHOPS_IN_FLIGHT` shops are asked at once
        (:func:`syncd.inflight.bounded_calls`, under ``name``), so one shop answering in seconds delays no other
        shop's orders. A fault of the database or the machine is raised."""
        from syncd.stages.runner import stops_the_batch

        shops: dict[str, list[Order]] = defaultdict(list)
        for o in orders:
            shops[o.shop_id].append(o)
        ids = list(shops)

        def one(shop_id: str) -> dict[int, Receiver | str] | Exception:
            try:
                return self.decrypt(rt, shops[shop_id])
            except Exception as err:  # noqa: BLE001 - handed to the caller with the shop's orders
                return err

        for i, got in bounded_calls(ids, one, limit=SHOPS_IN_FLIGHT, halt=lambda: False, name=name):
            if isinstance(got, Exception) and stops_the_batch(got):
                raise got
            yield ids[i], shops[ids[i]], got

    def decrypt(self, rt: Runtime, orders: Sequence[Order]) -> dict[int, Receiver | str]:
        """Per order id: the decrypted receiver, or why there is none. A shop's failure to decrypt raises."""
        by_shop: dict[str, list[Order]] = defaultdict(list)
        for o in orders:
            by_shop[o.shop_id].append(o)
        out: dict[int, Receiver | str] = {}
        for shop_id, shop_orders in by_shop.items():
            adapter = rt.storefronts.get(shop_id)
            if adapter is None:
                for o in shop_orders:
                    out[o.id] = details.SHOP_NOT_CONFIGURED.format(shop=shop_id)
                continue
            with self._shop_lock(shop_id):
                missing = []
                for o in shop_orders:
                    kept = self._get(_order_key(o))
                    if kept is not None:
                        out[o.id] = kept
                    else:
                        missing.append(o)
                if not missing:
                    continue
                batch = missing + self._fill(rt, shop_id, missing, getattr(adapter, "decrypt_orders_per_call", 1))
                got = adapter.decrypt([(o.platform_order_id, ReceiverRef(**o.receiver)) for o in batch])
                for o in batch:
                    answer = got.get(o.platform_order_id)
                    if isinstance(answer, Receiver):
                        self._put(_order_key(o), answer)
                for o in missing:
                    out[o.id] = got.get(o.platform_order_id, details.NOTHING_RETURNED)
        return out

    def _fill(self, rt: Runtime, shop_id: str, missing: Sequence[Order], per_call: int) -> list[Order]:
        """Other routed orders of the shop, as many as the last call still takes, not kept already."""
        room = math.ceil(len(missing) / per_call) * per_call - len(missing) if per_call > 1 else 0
        if room <= 0:
            return []
        asked = {o.id for o in missing}
        fill: list[Order] = []
        with rt.db.read() as s:
            # the newest first: the older ones have more likely been decrypted already, for their own supplier
            routed = s.execute(select(Order.id, Order.platform_order_id, Order.receiver)
                               .where(Order.shop_id == shop_id, Order.state == OrderState.ROUTED)
                               .order_by(Order.id.desc()).limit(len(asked) + FILL_SCAN))
            for order_id, platform_order_id, receiver in routed:
                if (order_id not in asked and receiver
                        and self._get(_key(shop_id, platform_order_id, receiver)) is None):
                    fill.append(Order(id=order_id, shop_id=shop_id, platform_order_id=platform_order_id,
                                      receiver=receiver))
                    if len(fill) == room:
                        break
        return fill

    def _shop_lock(self, shop_id: str) -> threading.Lock:
        with self._lock:
            return self._shops[shop_id]

    def _get(self, key: Key) -> Receiver | None:
        with self._lock:
            got = self._kept.get(key)
            if got is None:
                return None
            if clock.now() - got[1] >= self._kept_for:
                del self._kept[key]
                return None
            return got[0]

    def _put(self, key: Key, receiver: Receiver) -> None:
        with self._lock:
            self._kept.pop(key, None)
            self._kept[key] = (receiver, clock.now())
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)

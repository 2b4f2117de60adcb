"""1688 product messages pushed to syncd once a product is followed: stock and price changes.

reference/stock-and-price.md §4.4. The push envelope and its signature are unconfirmed ([U]); what syncd
expects, as the 1688 message service documents it to integrators: a form POST with ``message`` (the JSON
text of ``{msgId, type, gmtBorn, data, userInfo}``) and ``_aop_signature`` = HMAC-SHA1(app_secret,
``products.push_signed_path`` + the sorted ``key+value`` strings of the other form fields), upper-case hex —
the same computation as a request signature (adapters/alibaba/signing.py) with the path a setting.

Verified before read: the signature (constant time), then ``gmtBorn`` within ``push_window_seconds``, then
``msgId`` not seen in that window (a replay is refused — 1688 redelivers a message whose answer failed with
the same ``msgId``, so such a redelivery is refused too and the scheduled stock read catches up). Types read:

* ``PRODUCT_PRODUCT_INVENTORY_CHANGE``: ``OfferInventoryChangeList[]`` of ``{offerId, offerOnSale, skuId,
  skuOnSale, quantity, bizTime}``; it names ``skuId``, the routes name ``specId``: the map from the detail
  reads translates, and an unknown ``skuId`` makes syncd read that offer once to learn it.
* ``FENXIAO_PRICE_CHANGE``, ``PRODUCT_PFT_OFFER_PRICE_MODIFY``, ``PRODUCT_RELATION_VIEW_PRODUCT_REPOST``,
  ``…_NEW_OR_MODIFY``: no figures in the message: the offer is read again (one call, not retried).
* ``PRODUCT_RELATION_VIEW_PRODUCT_EXPIRE`` / ``…_DELETE``, ``PRODUCT_PFT_OFFER_QUIT``: the offer and its known
  specs go to zero.

Any other type is accepted and ignored.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from syncd import clock
from syncd.adapters.alibaba.config import AlibabaSupplierConfig
from syncd.adapters.alibaba.mapping import parse_time, sku_of, text
from syncd.adapters.alibaba.products import ProductReader, gone, quantity
from syncd.adapters.alibaba.signing import SIGNATURE, sign
from syncd.adapters.common.replay import ReplayGuard
from syncd.errors import ProtocolError, RejectedError
from syncd.stockmodel import SupplierStock

log = logging.getLogger("syncd.adapters.alibaba")

INVENTORY = "PRODUCT_PRODUCT_INVENTORY_CHANGE"
REREAD = frozenset({"FENXIAO_PRICE_CHANGE", "PRODUCT_PFT_OFFER_PRICE_MODIFY", "PRODUCT_RELATION_VIEW_PRODUCT_REPOST",
                    "PRODUCT_RELATION_VIEW_PRODUCT_NEW_OR_MODIFY", "PRODUCT_RELATION_VIEW_PRODUCT_CHANGE"})
GONE = frozenset({"PRODUCT_RELATION_VIEW_PRODUCT_EXPIRE", "PRODUCT_RELATION_VIEW_PRODUCT_DELETE",
                  "PRODUCT_PFT_OFFER_QUIT"})
MAX_ENTRIES = 1000  # inventory entries one message may carry
MAX_OFFERS = 20  # offers one message may make syncd read again
_MAX_MESSAGE_BYTES = 256 * 1024


def _refuse(code: str, why: str) -> RejectedError:
    return RejectedError(f"1688 message refused: {why}", code=code)


def verify(config: AlibabaSupplierConfig, body: bytes) -> dict[str, str]:
    """The form fields of a genuinely signed push; RejectedError (``unsigned``, ``bad_signature``,
    ``malformed``) otherwise. The message never holds the signature or the secret."""
    if len(body) > _MAX_MESSAGE_BYTES:
        raise _refuse("malformed", f"body of {len(body)} bytes, over {_MAX_MESSAGE_BYTES}")
    try:
        form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20))
    except (UnicodeDecodeError, ValueError):
        raise _refuse("malformed", "body is not a UTF-8 form") from None
    given = form.get(SIGNATURE, "")
    if not given or "message" not in form:
        raise _refuse("unsigned", f"no {'message' if 'message' not in form else SIGNATURE} field")
    expected = sign(config.products.push_signed_path, form, config.app_secret.get_secret_value())
    if not hmac.compare_digest(given.strip().upper().encode("utf-8", "replace"), expected.encode()):
        raise _refuse("bad_signature", "the signature does not match the message under the app secret")
    return form


def read_message(form: Mapping[str, str]) -> dict[str, Any]:
    """The message object; RejectedError ``malformed`` naming what is wrong."""
    try:
        msg = json.loads(form["message"])
    except ValueError:
        raise _refuse("malformed", "message is not JSON") from None
    if not isinstance(msg, dict):
        raise _refuse("malformed", f"message is JSON {type(msg).__name__}, expected an object")
    if not text(msg.get("type")):
        raise _refuse("malformed", "message has no type")
    return msg


class MessageReader:
    """Verifies and reads the product messages of one 1688 supplier."""

    def __init__(self, config: AlibabaSupplierConfig, products: ProductReader) -> None:
        self._config = config
        self._products = products
        self._seen = ReplayGuard()

    def parse(self, headers: Mapping[str, str], body: bytes, now: datetime) -> list[SupplierStock]:
        """Figures a verified message carries or leads to; RejectedError naming why a message is refused."""
        form = verify(self._config, body)
        msg = read_message(form)
        window = self._config.products.push_window_seconds
        try:
            born = parse_time(msg.get("gmtBorn"))
        except (ValueError, OverflowError):
            born = None
        if born is None:
            raise _refuse("bad_timestamp", "gmtBorn is missing or not a time")
        now_s, born_s = clock.ensure_utc(now).timestamp(), born.timestamp()
        if abs(now_s - born_s) > window:
            raise _refuse("stale_timestamp", f"born {int(now_s - born_s)} s from now, outside the {window} s window")
        msg_id = text(msg.get("msgId"))[:128] or form[SIGNATURE]
        if not self._seen.first_time(msg_id, now_s, window):
            raise _refuse("replay", f"message {msg_id} was taken already")
        kind = text(msg.get("type"))
        data = msg.get("data")
        if not isinstance(data, dict):
            raise _refuse("malformed", f"{kind}: data is not an object")
        try:
            if kind == INVENTORY:
                return self._inventory(data, born)
            if kind in REREAD or kind in GONE:
                return self._offers(kind, data)
        except ProtocolError as err:
            raise _refuse("malformed", f"{kind}: {err}") from None
        return []

    def _inventory(self, data: Mapping[str, Any], born: datetime) -> list[SupplierStock]:
        entries = data.get("OfferInventoryChangeList")
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise ProtocolError("OfferInventoryChangeList is not a list of objects")
        if len(entries) > MAX_ENTRIES:
            raise ProtocolError(f"{len(entries)} entries, more than {MAX_ENTRIES}")
        out: list[SupplierStock] = []
        reread: set[str] = set()
        for i, entry in enumerate(entries):
            where = f"OfferInventoryChangeList[{i}]"
            offer_id = text(entry.get("offerId"))
            if not (offer_id.isascii() and offer_id.isdigit()):
                raise ProtocolError(f"{where}.offerId is missing or not a number")
            try:
                at = parse_time(entry.get("bizTime")) or born
            except (ValueError, OverflowError):
                raise ProtocolError(f"{where}.bizTime is not a time") from None
            sku_id = text(entry.get("skuId"))
            if not sku_id:
                amount = quantity(entry.get("offerOnSale"), f"{where}.offerOnSale")
                if amount is None:
                    raise ProtocolError(f"{where}: neither skuId nor offerOnSale")
                out.append(SupplierStock(offer_id, amount, observed_at=at))
                continue
            amount = quantity(entry.get("skuOnSale"), f"{where}.skuOnSale")
            if amount is None:
                raise ProtocolError(f"{where}.skuOnSale is missing")
            known = self._products.specs.spec_of(sku_id)
            if known is None and offer_id not in reread and len(reread) < MAX_OFFERS:
                reread.add(offer_id)  # learn the offer's skuId → specId map (one call)
                self._products.figures_of(offer_id)
                known = self._products.specs.spec_of(sku_id)
            if known is None:
                log.warning("1688 supplier %s: stock message for skuId %s of offer %s, which no detail read names; "
                            "the next stock read catches up", self._config.id, sku_id[:32], offer_id)
                continue
            out.append(SupplierStock(sku_of(known[0], known[1]), amount, observed_at=at))
        return out

    def _offers(self, kind: str, data: Mapping[str, Any]) -> list[SupplierStock]:
        raw = data.get("productIds", data.get("productId", data.get("offerId")))
        ids = [p.strip() for p in (raw.split(",") if isinstance(raw, str) else [text(raw)]) if p.strip()]
        if not ids or not all(p.isascii() and p.isdigit() for p in ids):
            raise ProtocolError("productIds is missing or not numbers")
        if len(ids) > MAX_OFFERS:
            raise ProtocolError(f"{len(ids)} products, more than {MAX_OFFERS}")
        out: list[SupplierStock] = []
        for offer_id in dict.fromkeys(ids):
            if kind in GONE:
                out += gone(offer_id, self._products.specs.specs_of(offer_id))
            else:
                out += self._products.figures_of(offer_id)
        return out


__all__ = ["GONE", "INVENTORY", "REREAD", "MessageReader", "read_message", "verify"]

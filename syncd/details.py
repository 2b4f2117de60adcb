"""Why an order is held, in the reader's language.

A hold's detail is stored in English, one spelling whatever the language (``--json``, logs and searches keep it),
and built from a template of this module (``RECEIVER_LACKS.format(fields=...)``). Where a person reads it
(``orders list``, ``orders show``, alerts, the demo) :func:`detail_text` recognises the template and renders its
translation with the same values; a value that is itself a known detail, or a receiver field, is translated too.
A detail no template matches (a platform's or a supplier's own words) is shown as it is.
"""

from __future__ import annotations

import re
from functools import cache

from syncd.domain import Receiver
from syncd.i18n import N_, _

RECEIVER_LACKS = N_("receiver lacks {fields}")
AFTER_DECRYPTION = N_("after decryption: {problem}")
NO_RECEIVER = N_("no receiver")
NOTHING_RETURNED = N_("the platform returned nothing for this order")
SHOP_NOT_CONFIGURED = N_("shop {shop} is not configured or disabled")
NO_LINES = N_("order has no lines")
NO_ROUTE = N_("no route for SKU {skus}")
SUPPLIER_OFF = N_("supplier not configured or disabled: {suppliers}")
NOT_PAID = N_("not paid yet")
NOT_RELEASED = N_("the platform does not allow shipping yet")
REFUND = N_("buyer asked for a refund")
REFUND_ON = N_("buyer asked for a refund on {skus}")
COD = N_("cash on delivery: call the buyer to confirm before anything ships, then syncd orders confirm-cod "
         "{shop}/{order} --reason ...")
SHADOW = N_("shadow mode, nothing sent; would send {parts}")
# why a paid order may not ship yet, as the storefronts say it ({code}: the platform's own field and value); the
# adapters build their not-ready reasons from these, several joined by "; "
RELEASE_PENDING = N_("paid, not yet released for shipping ({code})")
FORBID_CONSIGN = N_("paid, but Taobao forbids shipping it for now ({code}: group buy pending or under control)")
NOT_CONFIRMED = N_("not confirmed yet ({code})")
GROUP_FORMING = N_("group buy still forming ({code})")
AFTER_SALE = N_("after-sale in progress ({code})")
RISK_REVIEW = N_("under risk review ({code})")
SHIP_HOLD = N_("shipping paused by the platform ({code})")
STOCK_OUT = N_("stock-out report pending ({code})")
REASONS_JOINED = "; "

TEMPLATES = (RECEIVER_LACKS, AFTER_DECRYPTION, NO_RECEIVER, NOTHING_RETURNED, SHOP_NOT_CONFIGURED, NO_LINES,
             NO_ROUTE, SUPPLIER_OFF, NOT_PAID, NOT_RELEASED, REFUND, REFUND_ON, COD, SHADOW, RELEASE_PENDING,
             FORBID_CONSIGN, NOT_CONFIRMED, GROUP_FORMING, AFTER_SALE, RISK_REVIEW, SHIP_HOLD, STOCK_OUT)

# The receiver's fields as routing (address_gaps) and Receiver.missing() name them
FIELD_WORDS: dict[str, str] = {
    "name": N_("receiver name"), "phone": N_("receiver phone"), "province": N_("province"), "city": N_("city"),
    "street address": N_("street address"), "detail": N_("street address"),
}


def receiver_problem(receiver: Receiver | str | None) -> str | None:
    """What keeps a decrypted receiver from a supplier (``receiver lacks …``, the platform's reason), or None."""
    if isinstance(receiver, Receiver):
        missing = receiver.missing()
        return RECEIVER_LACKS.format(fields=", ".join(missing)) if missing else None
    return receiver if receiver else NO_RECEIVER


@cache
def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    # a platform's code never holds the "; " that joins several reasons: one reason's template never swallows two
    regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^;]+?)" if p == "code" else f"(?P<{p}>.+?)"
                    for i, p in enumerate(parts))
    return re.compile(f"^{regex}$", re.S)


def _value(name: str, value: str) -> str:
    if name == "fields":
        return _(", ").join(_(FIELD_WORDS[w]) if w in FIELD_WORDS else w for w in value.split(", "))
    return detail_text(value) if name == "problem" else value


def detail_text(detail: str | None) -> str:
    """``detail`` in the active language (as it is when no template matches, or in English). Several reasons
    joined by "; " are each translated where a template matches the whole reason."""
    if not detail:
        return ""
    whole = _translated(detail)
    if whole is not None or REASONS_JOINED not in detail:
        return detail if whole is None else whole
    parts = [(p, _translated(p)) for p in detail.split(REASONS_JOINED)]
    if all(shown is None for _p, shown in parts):
        return detail
    return _("; ").join(shown or p for p, shown in parts)


def _translated(detail: str) -> str | None:
    for template in TEMPLATES:
        m = _pattern(template).match(detail)
        if m:
            words = _(template)
            if words == template:  # English (or no translation): the stored words are the reader's
                return detail
            return words.format(**{k: _value(k, v) for k, v in m.groupdict().items()})
    return None

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

TEMPLATES = (RECEIVER_LACKS, AFTER_DECRYPTION, NO_RECEIVER, NOTHING_RETURNED, SHOP_NOT_CONFIGURED, NO_LINES,
             NO_ROUTE, SUPPLIER_OFF, NOT_PAID, NOT_RELEASED, REFUND, REFUND_ON, COD, SHADOW)

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
    regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
    return re.compile(f"^{regex}$", re.S)


def _value(name: str, value: str) -> str:
    if name == "fields":
        return _(", ").join(_(FIELD_WORDS[w]) if w in FIELD_WORDS else w for w in value.split(", "))
    return detail_text(value) if name == "problem" else value


def detail_text(detail: str | None) -> str:
    """``detail`` in the active language (as it is when no template matches, or in English)."""
    if not detail:
        return ""
    for template in TEMPLATES:
        m = _pattern(template).match(detail)
        if m:
            words = _(template)
            if words == template:  # English (or no translation): the stored words are the reader's
                return detail
            return words.format(**{k: _value(k, v) for k, v in m.groupdict().items()})
    return detail

"""How the CLI shows things to a person: tables whose columns line up with Chinese text in them, and one order.

Pure formatting over the plain data :mod:`syncd.status` collects (the same data ``--json`` prints). Every time is
shown with :func:`syncd.clock.local_text` (Beijing time, or the configured zone, to the second).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from syncd.alerts.names import HOLD_REASON_WORDS, PARCEL_STATE_WORDS
from syncd.carriers import display_name
from syncd.clock import local_text
from syncd.details import detail_text
from syncd.i18n import N_, _


def width(text: str) -> int:
    """Terminal columns ``text`` takes: wide and fullwidth characters (CJK, ，、) take two, combining marks none."""
    total = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Cc", "Cf"):
            continue
        total += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return total


def clip(text: str, columns: int) -> str:
    """``text`` cut to at most ``columns`` terminal columns, ``…`` marking the cut."""
    if width(text) <= columns:
        return text
    out, used = [], 0
    for ch in text:
        w = width(ch)
        if used + w > columns - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


def pad(text: str, columns: int, *, right: bool = False) -> str:
    """``text`` padded with spaces to ``columns`` terminal columns (left-aligned, or right-aligned)."""
    fill = " " * max(0, columns - width(text))
    return fill + text if right else text + fill


def _cell(value: Any) -> str:
    text = "-" if value is None or value == "" else str(value)
    return " ".join(text.split())  # a newline or tab inside a cell would break the table


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, right: Sequence[int] = (),
          max_width: int = 40, indent: str = "") -> str:
    """A plain-text table: a header line, a rule, one line per row. Columns are as wide as their widest cell
    (at most ``max_width`` columns; longer cells are clipped with ``…``); ``right``: indexes of right-aligned
    (number) columns. Trailing spaces are trimmed."""
    cells = [[clip(_cell(v), max_width) for v in row] for row in rows]
    widths = [max([width(h)] + [width(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return (indent + "  ".join(pad(v, widths[i], right=i in right) for i, v in enumerate(values))).rstrip()

    return "\n".join([line(list(headers)), line(["-" * w for w in widths])] + [line(r) for r in cells])


ORDER_COLUMNS = ("#", N_("shop"), N_("order"), N_("state"), N_("hold"), N_("paid"), N_("ship by"), N_("suppliers"),
                 N_("goods"), N_("why"))

# An order's state as a person reads it (the code itself in English, what --json and --state say)
ORDER_STATE_WORDS: dict[str, str] = {s: s for s in (
    N_("new"), N_("held"), N_("routed"), N_("placed"), N_("shipped"), N_("cancelled"), N_("skipped"))}


# Codes of supplier orders, parcels' write-back, payment and refunds as a person reads them (the English text is the
# code itself, as --json shows it); those shared with order states read as the order state does
CODE_WORDS: dict[str, str] = {c: c for c in (
    N_("pending"), N_("placing"), N_("uploading"), N_("uploaded"), N_("rejected"), N_("normal"), N_("reship"),
    N_("prepaid"), N_("cod"), N_("requested"), N_("refunded"))}


def code_word(code: str | None) -> str:
    """A state or kind code of the order view translated; ``none`` (no refund, no cancel) as ``-``."""
    if not code or code == "none":
        return "-"
    if code in CODE_WORDS:
        return _(CODE_WORDS[code])
    return state_word(code)


def state_word(state: str | None) -> str:
    """An order state translated (an unknown one as it is)."""
    return _(ORDER_STATE_WORDS[state]) if state in ORDER_STATE_WORDS else (state or "")


def hold_word(reason: str | None) -> str:
    """A hold reason translated (an unknown one as it is)."""
    return _(HOLD_REASON_WORDS[reason]) if reason in HOLD_REASON_WORDS else (reason or "")


def parcel_word(state: str | None) -> str:
    """A parcel's logistics state translated (an unknown one as it is)."""
    return _(PARCEL_STATE_WORDS[state]) if state in PARCEL_STATE_WORDS else (state or "")


def orders_table(rows: Sequence[dict[str, Any]], zone: ZoneInfo | None = None) -> str:
    """``syncd orders list`` as a table (rows from :func:`syncd.status.list_orders`)."""
    if not rows:
        return _("no order matches")
    late = " " + _("LATE")
    body = [[r["id"], r["shop"], r["order"], state_word(r["state"]), hold_word(r["hold_reason"]),
             local_text(r["paid_at"], zone), local_text(r["ship_by"], zone) + (late if r.get("late") else ""),
             ",".join(r["suppliers"]),
             r["goods"], detail_text(r["why"])] for r in rows]
    return table([_(h) for h in ORDER_COLUMNS], body, right=(0,))


def _section(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]], **kw: Any) -> list[str]:
    return ["", _("{title}:").format(title=title),
            table([_(h) for h in headers], rows, indent="  ", **kw) if rows else "  " + _("(none)")]


def order_text(d: dict[str, Any], zone: ZoneInfo | None = None) -> str:
    """``syncd orders show`` for a person (``d`` from :func:`syncd.status.order_details`)."""
    def t(v: Any) -> str:
        return local_text(v, zone)

    rc = d["receiver"]
    state = (_("{state} ({reason})").format(state=state_word(d["state"]), reason=hold_word(d["hold_reason"]))
             if d["hold_reason"] else state_word(d["state"]))
    receiver = f"{rc['name'] or '-'}  {rc['phone'] or '-'}  {rc['province']} {rc['city']}".rstrip()
    out = [_("order {shop}/{order}  (#{id})").format(shop=d["shop"], order=d["order"], id=d["id"]),
           "  " + _("state            {state}").format(state=state),
           "  " + _("platform status  {status} ({code}), refund {refund}").format(
               status=d["platform_status"], code=d["status"], refund=code_word(d["refund"])),
           "  " + _("payment          {payment}, paid {paid}, ship by {ship_by}").format(
               payment=code_word(d["payment"]), paid=t(d["paid_at"]), ship_by=t(d["ship_by"])),
           "  " + _("receiver         {receiver}").format(receiver=receiver)]
    if d["cod_confirmed_at"]:
        out.append("  " + _("COD confirmed    by {who} at {at}").format(who=d["cod_confirmed_by"],
                                                                       at=t(d["cod_confirmed_at"])))
    if d["last_error"]:
        out.append("  " + _("last error       {error}").format(error=d["last_error"]))
    out += _section(_("lines"), (N_("line"), N_("merchant SKU"), N_("qty"), N_("refund"), N_("title")),
                    [[ln["line"], ln["sku"], ln["qty"], code_word(ln["refund"]), ln["title"]] for ln in d["lines"]],
                    right=(2,))
    yes, no = _("yes"), _("NO")
    out += _section(_("supplier orders"), ("#", N_("supplier"), N_("supplier order no."), N_("kind"), N_("state"),
                                           N_("paid"), N_("placed"), N_("cancel"), N_("goods")),
                    [[so["id"], so["supplier"], so["supplier_order"], code_word(so["kind"]), code_word(so["state"]),
                      {True: yes, False: no}.get(so["paid"], "-"), t(so["placed_at"]),
                      "" if so["cancel"] == "none" else code_word(so["cancel"]),
                      ", ".join(f"{ln['supplier_sku']}×{ln['qty']}" for ln in so["lines"])]
                     for so in d["supplier_orders"]], right=(0,))
    out += ["  " + _("supplier order #{id}: {error}").format(id=so["id"], error=so["error"])
            for so in d["supplier_orders"] if so["error"]]
    out += _section(_("parcels"), (N_("carrier"), N_("tracking no."), N_("tracking"), N_("picked up"),
                                   N_("delivered"), N_("last scan"), N_("on the storefront")),
                    [[display_name(sh["carrier"]), sh["tracking_no"],
                      parcel_word(sh["logistics"]) + (f" ({sh['verdict']})" if sh["verdict"] else ""),
                      t(sh["picked_up_at"]), t(sh["delivered_at"]), t(sh["last_event_at"]), code_word(sh["writeback"])]
                     for sh in d["shipments"]])
    out += ["  " + _("parcel {tracking_no}: {error}").format(tracking_no=sh["tracking_no"], error=sh["error"])
            for sh in d["shipments"] if sh["error"]]
    still_open = _("open")
    out += _section(_("holds"), (N_("since"), N_("reason"), N_("released"), N_("by"), N_("detail")),
                    [[t(h["since"]), hold_word(h["reason"]), t(h["released"]) if h["released"] else still_open,
                      h["by"], detail_text(h["detail"])] for h in d["holds"]], max_width=60)
    out += _section(_("audit trail"), (N_("at"), N_("system"), N_("action"), N_("outcome"), N_("by"), N_("detail")),
                    [[t(a["at"]), a["system"], a["action"], a["outcome"], a["by"], a["detail"]] for a in d["audit"]],
                    max_width=80)
    return "\n".join(out)

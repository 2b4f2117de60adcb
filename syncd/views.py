"""How the CLI shows things to a person: tables whose columns line up with Chinese text in them, and one order.

Pure formatting over the plain data :mod:`syncd.status` collects (the same data ``--json`` prints). Every time is
shown with :func:`syncd.clock.local_text` (Beijing time, or the configured zone, to the second).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from syncd.clock import local_text


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


ORDER_COLUMNS = ("#", "shop", "order", "state", "hold", "paid", "ship by", "suppliers", "goods", "why")


def orders_table(rows: Sequence[dict[str, Any]], zone: ZoneInfo | None = None) -> str:
    """``syncd orders list`` as a table (rows from :func:`syncd.status.list_orders`)."""
    if not rows:
        return "no order matches"
    body = [[r["id"], r["shop"], r["order"], r["state"], r["hold_reason"], local_text(r["paid_at"], zone),
             local_text(r["ship_by"], zone) + (" LATE" if r.get("late") else ""), ",".join(r["suppliers"]),
             r["goods"], r["why"]] for r in rows]
    return table(ORDER_COLUMNS, body, right=(0,))


def _section(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]], **kw: Any) -> list[str]:
    return ["", f"{title}:", table(headers, rows, indent="  ", **kw) if rows else "  (none)"]


def order_text(d: dict[str, Any], zone: ZoneInfo | None = None) -> str:
    """``syncd orders show`` for a person (``d`` from :func:`syncd.status.order_details`)."""
    def t(v: Any) -> str:
        return local_text(v, zone)

    rc = d["receiver"]
    out = [f"order {d['shop']}/{d['order']}  (#{d['id']})",
           f"  state            {d['state']}" + (f" ({d['hold_reason']})" if d["hold_reason"] else ""),
           f"  platform status  {d['platform_status']} ({d['status']}), refund {d['refund']}",
           f"  payment          {d['payment']}, paid {t(d['paid_at'])}, ship by {t(d['ship_by'])}",
           f"  receiver         {rc['name'] or '-'}  {rc['phone'] or '-'}  {rc['province']} {rc['city']}".rstrip()]
    if d["cod_confirmed_at"]:
        out.append(f"  COD confirmed    by {d['cod_confirmed_by']} at {t(d['cod_confirmed_at'])}")
    if d["last_error"]:
        out.append(f"  last error       {d['last_error']}")
    out += _section("lines", ("line", "merchant SKU", "qty", "refund", "title"),
                    [[ln["line"], ln["sku"], ln["qty"], ln["refund"], ln["title"]] for ln in d["lines"]], right=(2,))
    out += _section("supplier orders", ("#", "supplier", "supplier order no.", "kind", "state", "paid", "placed",
                                        "cancel", "goods"),
                    [[so["id"], so["supplier"], so["supplier_order"], so["kind"], so["state"],
                      {True: "yes", False: "NO"}.get(so["paid"], "-"), t(so["placed_at"]),
                      "" if so["cancel"] == "none" else so["cancel"],
                      ", ".join(f"{ln['supplier_sku']}×{ln['qty']}" for ln in so["lines"])]
                     for so in d["supplier_orders"]], right=(0,))
    out += [f"  supplier order #{so['id']}: {so['error']}" for so in d["supplier_orders"] if so["error"]]
    out += _section("parcels", ("carrier", "tracking no.", "tracking", "picked up", "delivered", "last scan",
                                "on the storefront"),
                    [[sh["carrier"], sh["tracking_no"], sh["logistics"] + (f" ({sh['verdict']})" if sh["verdict"]
                                                                          else ""),
                      t(sh["picked_up_at"]), t(sh["delivered_at"]), t(sh["last_event_at"]), sh["writeback"]]
                     for sh in d["shipments"]])
    out += [f"  parcel {sh['tracking_no']}: {sh['error']}" for sh in d["shipments"] if sh["error"]]
    out += _section("holds", ("since", "reason", "released", "by", "detail"),
                    [[t(h["since"]), h["reason"], t(h["released"]) if h["released"] else "open", h["by"],
                      h["detail"]] for h in d["holds"]], max_width=60)
    out += _section("audit trail", ("at", "system", "action", "outcome", "by", "detail"),
                    [[t(a["at"]), a["system"], a["action"], a["outcome"], a["by"], a["detail"]] for a in d["audit"]],
                    max_width=80)
    return "\n".join(out)

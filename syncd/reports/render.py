"""A report as a person reads it: sections of rows, shown as text tables (the terminal), CSV or XLSX.

The same sections serve every format; only the cells differ. On screen amounts are yuan with two decimals,
durations read as ``1天3小时`` / ``3小时12分``, shares as ``75.0%``. In CSV/XLSX (for spreadsheets) amounts
are yuan with two decimals, durations hours with two decimals, shares percent with one: numbers a
spreadsheet can add up. Every text cell is defused so a SKU code starting with ``=`` never runs as a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from syncd.i18n import N_, _
from syncd.money import fen_text
from syncd.reports.model import TOTAL, Distribution, LogisticsRow, MarginRow, ProvinceRow, Report, SpeedRow
from syncd.sheets.cells import clean_text, csv_safe
from syncd.views import table

Kind = Literal["text", "int", "yuan", "duration", "days", "share"]
Fmt = Literal["table", "csv", "xlsx"]


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    headers: list[str]
    kinds: list[Kind]
    rows: list[list[Any]]  # raw values: fen, seconds, shares 0–1, counts, text; None where not measured
    notes: list[str]


GROUP_WORDS = {"shop": N_("shop"), "supplier": N_("supplier"), "sku": N_("SKU"), "carrier": N_("carrier"),
               "day": N_("day")}
STEPS = (("paid_to_sent", N_("paid → sent to supplier")),
         ("sent_to_shipped", N_("sent → supplier shipped")),
         ("shipped_to_uploaded", N_("shipped → tracking on storefront")),
         ("shipped_to_first_scan", N_("shipped → first carrier scan")),
         ("first_scan_to_delivered", N_("first scan → delivered")))


def _key(key: str) -> str:
    return _("total") if key == TOTAL else key


def duration_text(seconds: float | None) -> str:
    """``97200`` → ``1天3小时`` (Chinese) / ``1 d 3 h``; ``11520`` → ``3小时12分``; under a minute: ``0分``."""
    if seconds is None:
        return "-"
    minutes = round(seconds) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return _("{days} d {hours} h").format(days=days, hours=hours)
    if hours:
        return _("{hours} h {minutes} min").format(hours=hours, minutes=mins)
    return _("{minutes} min").format(minutes=mins)


def _with_total(rows: Sequence[Any], total: Any) -> list[Any]:
    return [*rows, total] if rows and total is not None else list(rows)


def speed_section(report: Report) -> Section:
    headers = [_(GROUP_WORDS[report.by]), _("step"), _("count"), _("median"), _("90th percentile"), _("longest")]
    rows: list[list[Any]] = []
    for r in _with_total(report.speed, report.totals[0]):
        for name, word in STEPS:
            dist: Distribution | None = getattr(r, name)
            if dist is not None and dist.count:
                rows.append([_key(r.key), _(word), dist.count, dist.median, dist.p90, dist.max])
    return Section(_("Processing speed"), headers, ["text", "text", "int", "duration", "duration", "duration"], rows,
                   [])


def on_time_section(report: Report) -> Section:
    headers = [_(GROUP_WORDS[report.by]), _("on time"), _("late"), _("not due yet"), _("on-time rate")]
    rows = [[_key(r.key), r.on_time, r.late, r.pending, r.on_time_share]
            for r in _with_total(report.speed, report.totals[0]) if isinstance(r, SpeedRow)]
    return Section(_("Shipped before the ship-by time"), headers, ["text", "int", "int", "int", "share"], rows,
                   [_("On time: tracking on the storefront by the platform's ship-by time (first parcel).")])


def logistics_section(report: Report) -> Section:
    headers = [_(GROUP_WORDS[report.by]), _("parcels"), _("delivered"), _("stalled"), _("stalled %"),
               _("no pickup scan"), _("no pickup %"), _("returned"), _("returned %"), _("refused"), _("refused %"),
               _("days to delivery (median)"), _("days to delivery (90th)")]
    rows = []
    for r in _with_total(report.logistics, report.totals[1]):
        assert isinstance(r, LogisticsRow)
        rows.append([_key(r.key), r.parcels, r.delivered, r.stalled, r.share(r.stalled), r.never_picked_up,
                     r.share(r.never_picked_up), r.returned, r.share(r.returned), r.refused, r.share(r.refused),
                     r.delivery_days.median, r.delivery_days.p90])
    kinds: list[Kind] = ["text", "int", "int", "int", "share", "int", "share", "int", "share", "int", "share",
                         "days", "days"]
    return Section(_("Logistics"), headers, kinds, rows, [])


def province_section(report: Report) -> Section:
    headers = [_("province"), _("parcels"), _("delivered"), _("days to delivery (median)"),
               _("days to delivery (90th)")]
    rows = [[r.province or _("(unknown)"), r.parcels, r.delivered, r.delivery_days.median, r.delivery_days.p90]
            for r in report.provinces if isinstance(r, ProvinceRow)]
    return Section(_("Delivery by province"), headers, ["text", "int", "int", "days", "days"], rows, [])


def margin_section(report: Report) -> Section:
    headers = [_(GROUP_WORDS[report.by]), _("orders"), _("revenue"), _("commission"), _("supplier cost"),
               _("margin"), _("margin %"), _("cost missing"), _("refunded after paying supplier"), _("refund loss")]
    rows = []
    for r in _with_total(report.margin, report.totals[2]):
        assert isinstance(r, MarginRow)
        rows.append([_key(r.key), r.orders, r.revenue_fen, r.commission_fen, r.cost_fen, r.margin_fen,
                     r.margin_share, r.missing_cost, r.refunded, r.refund_loss_fen])
    notes = [_("Amounts in yuan. Orders whose supplier cost is unknown are counted under \"cost missing\" and "
               "left out of the amounts.")]
    if report.shops_without_commission:
        notes.append(_("No commission_percent configured (counted as no commission): {shops}.").format(
            shops=", ".join(report.shops_without_commission)))
    if report.by == "carrier":
        notes.append(_("Margin is not split by carrier; the total is shown."))
    kinds: list[Kind] = ["text", "int", "yuan", "yuan", "yuan", "yuan", "share", "int", "int", "yuan"]
    return Section(_("Cost and margin"), headers, kinds, rows, notes)


def sections(report: Report) -> list[Section]:
    """Every section of the report, in the active language."""
    return [speed_section(report), on_time_section(report), logistics_section(report), province_section(report),
            margin_section(report)]


def screen_text(kind: Kind, value: Any) -> str:
    if value is None:
        return "-"
    formats: dict[Kind, Callable[[Any], str]] = {
        "text": str, "int": str, "yuan": fen_text, "duration": duration_text,
        "days": lambda s: f"{s / 86400:.1f}", "share": lambda v: f"{v * 100:.1f}%"}
    return formats[kind](value)


def _sheet(kind: Kind, value: Any) -> Any:
    """A spreadsheet cell: numbers as numbers (Decimal, exact), text as text."""
    if value is None:
        return None
    if kind == "yuan":
        return Decimal(fen_text(value))
    if kind == "duration":
        return (Decimal(value) / 3600).quantize(Decimal("0.01"))
    if kind == "days":
        return (Decimal(value) / 86400).quantize(Decimal("0.01"))
    if kind == "share":
        return (Decimal(value) * 100).quantize(Decimal("0.1"))
    return value


def _sheet_header(kind: Kind, header: str) -> str:
    unit = {"duration": _("hours"), "share": "%", "yuan": _("yuan")}.get(kind)
    return f"{header} ({unit})" if unit and not header.endswith("%") else header


def text(report: Report, heading: str) -> str:
    """The report as text tables, for the terminal."""
    out = [heading]
    for sec in sections(report):
        right = [i for i, k in enumerate(sec.kinds) if k != "text"]
        cells = [[screen_text(k, v) for k, v in zip(sec.kinds, row, strict=True)] for row in sec.rows]
        body = table(sec.headers, cells, right=right) if sec.rows else _("(nothing in this period)")
        out += ["", f"== {sec.title} ==", body, *sec.notes]
    return "\n".join(out) + "\n"


def _defused(value: Any) -> Any:
    # the same defuser as the drop-folder outbox's: a report is a spreadsheet like the supplier files
    return csv_safe(clean_text(value)) if isinstance(value, str) else value


def csv_text(report: Report, heading: str) -> str:
    """The sections one after another (title row, header row, rows, blank row), for a spreadsheet."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([_defused(heading)])
    for sec in sections(report):
        w.writerow([])
        w.writerow([_defused(sec.title)])
        w.writerow([_defused(_sheet_header(k, h)) for k, h in zip(sec.kinds, sec.headers, strict=True)])
        for row in sec.rows:
            w.writerow([_defused(_sheet(k, v)) if v is not None else "" for k, v in zip(sec.kinds, row, strict=True)])
    return buf.getvalue()


def xlsx_bytes(report: Report, heading: str) -> bytes:
    """One sheet per section; numbers as numbers, text never a formula."""
    from openpyxl import Workbook

    wb = Workbook()
    first = True
    for sec in sections(report):
        ws = wb.active if first else wb.create_sheet()
        assert ws is not None
        first = False
        ws.title = sec.title[:31]
        ws.append([heading])
        ws.append([_sheet_header(k, h) for k, h in zip(sec.kinds, sec.headers, strict=True)])
        for row in sec.rows:
            ws.append([_sheet(k, v) for k, v in zip(sec.kinds, row, strict=True)])
            for cell, kind in zip(ws[ws.max_row], sec.kinds, strict=True):
                if kind == "text" and cell.value is not None:
                    cell.value = _defused(cell.value)
                    cell.data_type = "s"  # never a formula, whatever the text starts with
        for note in sec.notes:
            ws.append([note])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def render(report: Report, fmt: Fmt, heading: str) -> str | bytes:
    if fmt == "xlsx":
        return xlsx_bytes(report, heading)
    return csv_text(report, heading) if fmt == "csv" else text(report, heading)

"""Cells written for a person's spreadsheet (a supplier's order file, a report): text any writer accepts, and no
cell that Excel would run as a formula (CSV injection: buyer notes and SKU codes come from outside)."""

from __future__ import annotations

import re
import unicodedata

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

# A cell starting with one of these is run as a formula when Excel opens a CSV (CSV injection);
# buyer notes are buyer-controlled. Plain numbers and phone numbers ("+86 138...") are left alone.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER_LIKE = re.compile(r"[+-]?\d[\d\s()-]*")


def clean_text(value: str) -> str:
    """Text that any spreadsheet writer accepts: no XML-illegal control characters, no lone surrogates."""
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    return value.encode("utf-8", "replace").decode("utf-8")


def _formula_view(value: str) -> str:
    """The cell as a spreadsheet may read it: leading blanks and invisible characters (zero-width, BOM,
    soft hyphen…) dropped, full-width and small forms (＝＋－＠, ﹦﹢﹣) folded to ASCII."""
    start = 0
    while start < len(value) and value[start] not in "\t\r" and (
            value[start].isspace() or unicodedata.category(value[start]) == "Cf"):
        start += 1
    return unicodedata.normalize("NFKC", value[start:start + 1]) + value[start + 1:]


def csv_safe(value: str) -> str:
    """Defuse a CSV cell Excel would evaluate as a formula by prefixing an apostrophe.

    Also when the formula sign hides behind spaces or zero-width characters, or is a full-width one.
    """
    view = _formula_view(value)
    if view.startswith(_FORMULA_START) and not _NUMBER_LIKE.fullmatch(view):
        return "'" + value
    return value

"""Money: integer fen inside; yuan only in configuration (what operators write) and on display."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def yuan_to_fen(yuan: float | Decimal | str) -> int:
    """``18.5`` → ``1850``; a configured float is read by its shortest text, so ``9.8`` is 980, not 979."""
    value = yuan if isinstance(yuan, Decimal) else Decimal(repr(yuan) if isinstance(yuan, float) else yuan)
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def fen_text(fen: int) -> str:
    """``123456`` → ``1234.56``; ``-5`` → ``-0.05`` (yuan with two decimals, no float on the way)."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def percent_of(fen: int, basis_points: int) -> int:
    """``basis_points`` hundredths of a percent of ``fen``, rounded half up to the fen (commission)."""
    return (fen * basis_points + 5000) // 10000 if fen >= 0 else -((-fen * basis_points + 5000) // 10000)


def basis_points(percent: float) -> int:
    """``5`` → ``500``, ``0.6`` → ``60`` (a configured rate in percent, read by its text)."""
    return yuan_to_fen(percent)

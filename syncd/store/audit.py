"""The audit log of manual actions: who did what to which order (or alert, or batch), and why.

Stages write their outside calls with :func:`syncd.stages.runner.audit` (actor: the replica); an operator's
action is written here with the person as actor and system ``operator``.

Every row about an order names it the same way, :func:`order_subject` (``order SHOP/ORDER_ID``), so that
``syncd orders show`` finds the whole trail with one look-up. Rows written before that used ``SHOP/ORDER_ID``
(supplier stages) or ``order ORDER_ID`` (the write-back): :func:`order_subjects` lists every spelling to read.
"""

from __future__ import annotations

import getpass

from sqlalchemy.orm import Session

from syncd import clock
from syncd.store.models import AuditEntry

OPERATOR = "operator"  # AuditEntry.system of every manual action, and the actor when nobody can be named
NO_REASON = "(no reason given)"


def order_subject(shop_id: str, platform_order_id: str) -> str:
    """How every audit row names an order: ``order SHOP/ORDER_ID``."""
    return f"order {shop_id}/{platform_order_id}"


def order_subjects(shop_id: str, platform_order_id: str) -> list[str]:
    """Every spelling an order's audit rows have had: the one written now first, then the older ones."""
    return [order_subject(shop_id, platform_order_id), f"{shop_id}/{platform_order_id}",
            f"order {platform_order_id}"]


def default_who() -> str:
    """The OS user running the command (``--by`` overrides it)."""
    try:
        return getpass.getuser() or OPERATOR
    except (OSError, KeyError):  # no login name and no passwd entry (a bare container)
        return OPERATOR


def record(s: Session, who: str, action: str, subject: str, why: str, detail: str = "") -> None:
    """One line of the audit log for a manual action, in the caller's transaction: who, what, on what, why, and
    what it did."""
    text = f"why: {why.strip() or NO_REASON}" + (f"; {detail}" if detail else "")
    s.add(AuditEntry(actor=(who.strip() or OPERATOR)[:100], at=clock.now(), system=OPERATOR, action=action[:32],
                     subject=subject[:128], idempotency_key=None, outcome="ok", detail=text[:2000]))

"""The audit log of manual actions: who did what to which order (or alert, or batch), and why.

Stages write their outside calls with :func:`syncd.stages.runner.audit` (actor: the replica); an operator's
action is written here with the person as actor and system ``operator``.
"""

from __future__ import annotations

import getpass

from sqlalchemy.orm import Session

from syncd import clock
from syncd.store.models import AuditEntry

OPERATOR = "operator"  # AuditEntry.system of every manual action, and the actor when nobody can be named
NO_REASON = "(no reason given)"


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

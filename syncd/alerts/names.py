"""The alert rules by name: the vocabulary shared by the config, the rules and the lifecycle."""

from __future__ import annotations

import enum

from syncd.i18n import N_


class Rule(enum.StrEnum):
    """Every rule the watch stage evaluates (``disabled_rules`` in alerts.yaml takes these names)."""

    SHIP_DEADLINE_NEAR = "ship_deadline_near"
    SHIP_DEADLINE_BREACHED = "ship_deadline_breached"
    SUPPLIER_LATE = "supplier_late"
    SUPPLIER_UNPAID = "supplier_unpaid"
    CANCEL_TOO_LATE = "cancel_too_late"
    ORDER_HELD = "order_held"
    NO_PICKUP = "no_pickup"
    STALLED_AFTER_PICKUP = "stalled_after_pickup"
    STALLED_IN_TRANSIT = "stalled_in_transit"
    PARCEL_PROBLEM = "parcel_problem"
    TRACKING_UNREAD = "tracking_unread"
    DUPLICATE_TRACKING = "duplicate_tracking"
    TOKEN_EXPIRING = "token_expiring"  # noqa: S105 - a rule name, not a secret
    SHOP_PAUSED = "shop_paused"
    STAGE_FAILING = "stage_failing"
    LEASE_OVERDUE = "lease_overdue"
    SUPPLIER_FILE_REJECTED = "supplier_file_rejected"
    RECONCILE_MISMATCH = "reconcile_mismatch"
    CHANNEL_FAILING = "channel_failing"
    STOCK_MARGIN_LOW = "stock_margin_low"  # issue 19: a supplier price rise ate the margin
    STOCK_WRITE_REFUSED = "stock_write_refused"  # issue 19: a storefront refuses a stock write


# What the stage runner writes in stage_runs and the health rules read:
OVERDUE_PREFIX = "overdue: "  # a skipped run's reason when the lease holder is past its bound (lease_overdue)
# a failure whose error starts with one of these is a fault of the machine: stage_failing opens at once
# (the words are matched in English, as the stage runner writes them; alerts show them translated)
MACHINE_FAULT_WORDS = (N_("disk full"), N_("disk quota exceeded"), N_("permission denied"),
                       N_("read-only file system"))

# What each rule is called where a person reads it (the daily digest); translate with syncd.i18n._
RULE_NAMES: dict[str, str] = {
    Rule.SHIP_DEADLINE_NEAR: N_("ship deadline near"),
    Rule.SHIP_DEADLINE_BREACHED: N_("ship deadline passed"),
    Rule.SUPPLIER_LATE: N_("supplier late to ship"),
    Rule.SUPPLIER_UNPAID: N_("supplier order unpaid"),
    Rule.CANCEL_TOO_LATE: N_("cancelled too late"),
    Rule.ORDER_HELD: N_("order on hold"),
    Rule.NO_PICKUP: N_("no pickup scan"),
    Rule.STALLED_AFTER_PICKUP: N_("stalled after pickup"),
    Rule.STALLED_IN_TRANSIT: N_("stalled in transit"),
    Rule.PARCEL_PROBLEM: N_("parcel problem"),
    Rule.TRACKING_UNREAD: N_("tracking never read"),
    Rule.DUPLICATE_TRACKING: N_("duplicate tracking number"),
    Rule.TOKEN_EXPIRING: N_("authorisation expiring"),
    Rule.SHOP_PAUSED: N_("shop paused"),
    Rule.STAGE_FAILING: N_("stage failing"),
    Rule.LEASE_OVERDUE: N_("lease overdue"),
    Rule.SUPPLIER_FILE_REJECTED: N_("supplier file rejected"),
    Rule.RECONCILE_MISMATCH: N_("orders missing (reconciliation)"),
    Rule.CHANNEL_FAILING: N_("alert channel failing"),
    Rule.STOCK_MARGIN_LOW: N_("margin below the floor"),
    Rule.STOCK_WRITE_REFUSED: N_("stock write refused"),
}

# Hold reasons and parcel states as a person reads them: the English text is the code itself (what the CLI and the
# database say), other languages name it
HOLD_REASON_WORDS: dict[str, str] = {r: r for r in (
    N_("address_incomplete"), N_("unmapped_sku"), N_("not_ready"), N_("refund_requested"), N_("out_of_stock"),
    N_("cod_unconfirmed"), N_("supplier_rejected"), N_("tracking_rejected"), N_("manual"), N_("shadow"))}
PARCEL_STATE_WORDS: dict[str, str] = {s: s for s in (
    N_("none"), N_("picked_up"), N_("in_transit"), N_("delivering"), N_("delivered"), N_("problem"),
    N_("returning"), N_("returned"), N_("refused"))}

# How a severity is called in a sentence (notification prefixes, digests)
SEVERITY_WORDS: dict[str, str] = {"critical": N_("critical"), "warning": N_("warning"), "info": N_("info")}

# Parcel rules: counted as "stalled parcels" in the daily digest (not TRACKING_UNREAD: nobody knows whether such a
# parcel moves, only that syncd cannot see it).
PARCEL_RULES = frozenset({Rule.NO_PICKUP, Rule.STALLED_AFTER_PICKUP, Rule.STALLED_IN_TRANSIT, Rule.PARCEL_PROBLEM})

# When the first rule fires for a subject, an open alert of the second closes without a "resolved" message:
# the deadline did not go away, it passed.
SUPERSEDES: dict[str, str] = {Rule.SHIP_DEADLINE_BREACHED: Rule.SHIP_DEADLINE_NEAR}

# Rules whose alert closes quietly when its condition goes (a file's 24-hour window ends: nothing was fixed).
QUIET_RESOLVE = frozenset({Rule.SUPPLIER_FILE_REJECTED})

# Rules an ack closes for good: the subject never alerts again (one alert per rejected file).
ACK_CLOSES = frozenset({Rule.SUPPLIER_FILE_REJECTED})

"""What the console tells a person to do about each alert rule, and the words of an order's timeline."""

from __future__ import annotations

from syncd.alerts.names import Rule
from syncd.i18n import N_

RULE_ADVICE: dict[str, str] = {
    Rule.SHIP_DEADLINE_NEAR: N_("Chase the supplier for these orders now; if they cannot ship in time, tell the buyer "
                                "before the platform fines the shop."),
    Rule.SHIP_DEADLINE_BREACHED: N_("The platform's ship-by time has passed: ship as soon as possible and check the "
                                    "shop's back office for a penalty or a buyer complaint."),
    Rule.SUPPLIER_LATE: N_("Ask the supplier when the goods will ship; switch the SKU's route to another supplier if "
                           "it keeps happening."),
    Rule.SUPPLIER_UNPAID: N_("Pay these orders in the supplier's back office (1688: 待付款); they do not ship before."),
    Rule.CANCEL_TOO_LATE: N_("The buyer cancelled but the supplier may already have shipped: call the supplier to "
                             "intercept the parcel or arrange the return."),
    Rule.ORDER_HELD: N_("Open the order, fix what the hold says (address, SKU route, stock), then release it."),
    Rule.NO_PICKUP: N_("The carrier never scanned the parcel: ask the supplier whether it really left, and for the "
                       "right tracking number."),
    Rule.STALLED_AFTER_PICKUP: N_("No scan since pickup: ask the carrier's outlet to trace the parcel."),
    Rule.STALLED_IN_TRANSIT: N_("No scan for too long in transit: file a trace with the carrier and keep the buyer "
                                "informed."),
    Rule.PARCEL_PROBLEM: N_("The carrier reports a problem (refused, returning, exception): contact the buyer and the "
                            "carrier; reship if needed."),
    Rule.TRACKING_UNREAD: N_("The tracking number could never be read: check the carrier and number with the "
                             "supplier."),
    Rule.DUPLICATE_TRACKING: N_("One tracking number on several orders: ask the supplier which order it belongs to."),
    Rule.TOKEN_EXPIRING: N_("Authorise the shop again in the platform's service market before the token expires."),
    Rule.SHOP_PAUSED: N_("The shop is paused: renew its authorisation, then the daemon resumes it at the next pull."),
    Rule.STAGE_FAILING: N_("A pipeline stage keeps failing: read its last error below and in the daemon's log."),
    Rule.LEASE_OVERDUE: N_("A replica holds a lease past its bound: check that replica is alive."),
    Rule.SUPPLIER_FILE_REJECTED: N_("The supplier's reply file could not be read: open its .errors.csv, correct the "
                                    "file and drop it again."),
    Rule.RECONCILE_MISMATCH: N_("Orders are on the storefront but not in syncd: run a resync of the shop for those "
                                "days."),
    Rule.CHANNEL_FAILING: N_("An alert channel cannot deliver: check its webhook or credentials with "
                             "syncd alerts test."),
}

TIMELINE_WORDS: dict[str, str] = {
    "paid": N_("paid"), "held": N_("held"), "released": N_("released"), "placed": N_("sent to supplier"),
    "supplier_shipped": N_("shipped by supplier"), "uploaded": N_("tracking on the storefront"), "scan": N_("scan"),
    "audit": N_("log"),
}

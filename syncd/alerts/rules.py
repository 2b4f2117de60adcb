"""The alert rules: pure functions from facts (:mod:`syncd.alerts.model`), thresholds and now to findings.

Every finding says what it is about in words a person can act on: the shop, the storefront order id, the carrier
and tracking number where there is one, and what to do. Never a phone number or an address. Times are shown in
Beijing time. Titles avoid counters that grow every pass ("26 h"), so an unchanged condition keeps an unchanged
alert: the lifecycle rewrites an alert only when something a person would read changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from syncd import clock
from syncd.alerts.config import AlertsConfig
from syncd.alerts.model import Facts, Finding, ParcelFact
from syncd.alerts.names import MACHINE_FAULT_WORDS, OVERDUE_PREFIX, Rule
from syncd.carriers import display_name
from syncd.domain import STALLED_VERDICT, LogisticsState, Severity

# ---- wording --------------------------------------------------------------------------------------------

REJECTED_PREFIX = "rejected: "
RECONCILE_ERROR = "ReconcileMismatch: "


_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")


def scrub(text: str) -> str:
    """Mask mobile numbers in words that came from outside (a supplier's refusal, a hold's detail)."""
    return _MOBILE.sub(r"\1****\2", text)


def local(dt: datetime) -> str:
    """``05-03 10:00`` in Beijing time."""
    return clock.ensure_utc(dt).astimezone(clock.SHANGHAI).strftime("%m-%d %H:%M")


def _order(shop: str, pid: str) -> str:
    return f"order {pid} (shop {shop})"


def _parcel(carrier: str, tracking_no: str) -> str:
    return f"{display_name(carrier)} {tracking_no}"


def _hours(td: timedelta) -> str:
    return f"{td.total_seconds() / 3600:.0f} h"


_WHERE = {
    "new": "not routed to a supplier yet",
    "routed": "waiting to be sent to the supplier",
    "placed": "with the supplier, no tracking number yet",
}


def _where(state: str, hold_reason: str | None) -> str:
    if state == "held":
        return f"on hold ({hold_reason or 'no reason recorded'})"
    return _WHERE.get(state, state)


# ---- the rules ------------------------------------------------------------------------------------------


def _ship_deadlines(facts: Facts, cfg: AlertsConfig, now: datetime) -> Iterator[Finding]:
    warn = timedelta(hours=cfg.ship_deadline_warn_hours)
    for o in facts.orders:
        if o.ship_by is not None:
            deadline, source = o.ship_by, "the platform's deadline"
        elif o.paid_at is not None:
            deadline, source = o.paid_at + timedelta(hours=cfg.default_ship_hours), \
                f"paid + {cfg.default_ship_hours:g} h"
        else:
            continue
        if now < deadline - warn:
            continue
        breached = now >= deadline
        rule = Rule.SHIP_DEADLINE_BREACHED if breached else Rule.SHIP_DEADLINE_NEAR
        what = _order(o.shop_id, o.platform_order_id)
        if breached:
            title = f"Ship deadline passed at {local(deadline)}: {what} has no tracking"
        else:
            title = f"Ship by {local(deadline)}: {what} has no tracking yet"
        paid = f"paid {local(o.paid_at)}, " if o.paid_at else ""
        lines = (f"Shop {o.shop_id}, order {o.platform_order_id}: {paid}ship by {local(deadline)} "
                 f"({source}, Beijing time).",
                 f"Now {_where(o.state, o.hold_reason)}.",
                 "Chase the supplier for the tracking number, or ship it another way and upload the number.")
        yield Finding(rule, f"order:{o.order_id}", Severity.CRITICAL if breached else Severity.WARNING, title, lines,
                      o.shop_id)


def _supplier_orders(facts: Facts, cfg: AlertsConfig, ship_within: Mapping[str, float], now: datetime,
                     on: frozenset[str]) -> Iterator[Finding]:
    for so in facts.supplier_orders:
        ref = f", supplier order {so.supplier_ref}" if so.supplier_ref else ""
        what = _order(so.shop_id, so.platform_order_id)
        if Rule.SUPPLIER_UNPAID in on and so.paid is False \
                and now - so.placed_at >= timedelta(hours=cfg.supplier_unpaid_hours):
            yield Finding(Rule.SUPPLIER_UNPAID, f"supplier_order:{so.supplier_order_id}", Severity.WARNING,
                          f"Supplier {so.supplier_id}: {what} is awaiting payment",
                          (f"Placed {local(so.placed_at)}{ref}; the supplier will not ship it until it is paid.",
                           "Pay it in the supplier's back office (1688: 待付款), or enable automatic payment."),
                          so.shop_id)
            continue  # an unpaid order is not the supplier's delay
        hours = ship_within.get(so.supplier_id, cfg.default_ship_hours)
        if Rule.SUPPLIER_LATE in on and now - so.placed_at >= timedelta(hours=hours):
            yield Finding(Rule.SUPPLIER_LATE, f"supplier_order:{so.supplier_order_id}", Severity.WARNING,
                          f"Supplier {so.supplier_id} has not shipped {what} within {hours:g} h",
                          (f"Placed {local(so.placed_at)}{ref}; no tracking number since.",
                           "Ask the supplier to ship it or to send the tracking number."),
                          so.shop_id)


def _cancels(facts: Facts) -> Iterator[Finding]:
    for c in facts.cancels:
        ref = f" (supplier order {c.supplier_ref})" if c.supplier_ref else ""
        lines = [f"Supplier {c.supplier_id}{ref} answered: {c.detail}" if c.detail else
                 f"Supplier {c.supplier_id}{ref} can no longer cancel it."]
        if c.parcels:
            lines.append("On its way: " + ", ".join(_parcel(carrier, no) for carrier, no in c.parcels) + ".")
        lines.append("Ask the supplier to stop or intercept the parcel, or arrange the return with the buyer.")
        shipped = f" shipped it ({_parcel(*c.parcels[0])})" if c.parcels else " cannot stop it"
        yield Finding(Rule.CANCEL_TOO_LATE, f"supplier_order:{c.supplier_order_id}", Severity.CRITICAL,
                      f"Buyer cancelled or was refunded {_order(c.shop_id, c.platform_order_id)} but supplier "
                      f"{c.supplier_id}{shipped}", tuple(lines), c.shop_id)


def _holds(facts: Facts, cfg: AlertsConfig, now: datetime) -> Iterator[Finding]:
    immediate = {str(r) for r in cfg.immediate_hold_reasons}
    quiet = {str(r) for r in cfg.quiet_hold_reasons}
    for h in facts.holds:
        if h.reason in quiet:
            continue
        at_once = h.reason in immediate
        if not at_once and now - h.since < timedelta(hours=cfg.held_hours):
            continue
        lines = (f"On hold since {local(h.since)}: {h.detail or h.reason}.",
                 f"Fix the cause, then release it: syncd orders release {h.shop_id}/{h.platform_order_id}")
        yield Finding(Rule.ORDER_HELD, f"order:{h.order_id}", Severity.CRITICAL if at_once else Severity.WARNING,
                      f"{_order(h.shop_id, h.platform_order_id)} is on hold: {h.reason}", lines, h.shop_id)


_PROBLEM_WORDS = {
    LogisticsState.PROBLEM: "has a delivery problem",
    LogisticsState.REFUSED: "was refused by the buyer",
    LogisticsState.RETURNING: "is on its way back to the sender",
}
_TRANSIT = (LogisticsState.IN_TRANSIT, LogisticsState.DELIVERING)
# Verdicts that are no trouble by themselves: a fresh number without a record; the provider's own "stalled" is
# judged by the stalled rules (and no_pickup), not as a problem.
_NOT_A_PROBLEM = ("", "no_records", STALLED_VERDICT)
# The only provider that says "stalled" today is Kuaidi100 (statusCode 202).
PROVIDER_STALLED = "The tracking provider (Kuaidi100) reports no update for too long (超时未更新)."


def _parcels(facts: Facts, cfg: AlertsConfig, now: datetime, on: frozenset[str]) -> Iterator[Finding]:
    for p in facts.parcels:
        verdict = (p.verdict or "").strip()
        if p.state == LogisticsState.NONE:
            found = _no_pickup(p, verdict, cfg, now) if Rule.NO_PICKUP in on else None
        elif p.state in _PROBLEM_WORDS or verdict not in _NOT_A_PROBLEM:
            found = _problem(p, verdict) if Rule.PARCEL_PROBLEM in on else None
        else:
            found = _stalled(p, verdict, cfg, now, on)
        if found is not None:
            yield found


def _what(p: ParcelFact) -> str:
    return f"parcel {_parcel(p.carrier, p.tracking_no)} of {_order(p.shop_id, p.platform_order_id)}"


def _provider(p: ParcelFact) -> str:
    return f" (tracking provider: {p.provider_state})" if p.provider_state else ""


def _no_pickup(p: ParcelFact, verdict: str, cfg: AlertsConfig, now: datetime) -> Finding | None:
    """No carrier scan since the supplier's send time (else since the number arrived)."""
    waited = now - p.handed_over_at
    aborted = verdict.startswith("abort")
    flagged = verdict == STALLED_VERDICT
    if aborted or flagged or waited >= timedelta(hours=cfg.no_pickup_critical_hours):
        severity = Severity.CRITICAL
    elif waited >= timedelta(hours=cfg.no_pickup_warn_hours):
        severity = Severity.WARNING
    else:
        return None
    lines = [f"Handed over {local(p.handed_over_at)}; no carrier scan since."]
    if aborted:
        lines.append(f"The tracking provider gave up on it: {verdict}.")
    elif flagged:
        lines.append(PROVIDER_STALLED)
    elif verdict and verdict != "no_records":
        lines.append(f"Tracking provider: {verdict}.")
    lines.append("Platforms count a number without a pickup scan within 24 h as a fake shipment: "
                 "ask the supplier whether the parcel really left.")
    return Finding(Rule.NO_PICKUP, f"shipment:{p.shipment_id}", severity, f"No pickup scan: {_what(p)}",
                   tuple(lines), p.shop_id)


def _problem(p: ParcelFact, verdict: str) -> Finding:
    """A problem state (refused, returning, 疑难), or a verdict of the provider that is trouble by itself."""
    words = _PROBLEM_WORDS.get(LogisticsState(p.state)) if p.state in _PROBLEM_WORDS else None
    title = f"{_what(p)} {words}" if words else f"Tracking provider flags {_what(p)}: {verdict}"
    title = title[0].upper() + title[1:]
    lines = [f"State {p.state}{_provider(p)}" + (f", verdict {verdict}" if verdict else "") + "."]
    if p.last_scan_at:
        lines.append(f"Last scan {local(p.last_scan_at)}.")
    lines.append("Contact the carrier or the supplier; tell the buyer if the parcel will be late or return.")
    return Finding(Rule.PARCEL_PROBLEM, f"shipment:{p.shipment_id}", Severity.CRITICAL, title, tuple(lines),
                   p.shop_id)


def _stalled(p: ParcelFact, verdict: str, cfg: AlertsConfig, now: datetime, on: frozenset[str]) -> Finding | None:
    """Picked up or moving, no scan for the state's threshold; at once and critical when the provider says so."""
    last = p.last_scan_at or p.handed_over_at
    if p.state == LogisticsState.PICKED_UP:
        rule, limit = Rule.STALLED_AFTER_PICKUP, timedelta(hours=cfg.stalled_after_pickup_hours)
        where = "picked up"
    elif p.state in _TRANSIT:
        rule, limit = Rule.STALLED_IN_TRANSIT, timedelta(hours=cfg.stall_hours(p.province))
        where = "in transit" + (f" to {p.province}" if p.province else "")
    else:
        return None
    flagged, quiet = verdict == STALLED_VERDICT, now - last
    if rule not in on or (quiet < limit and not flagged):
        return None
    extra = timedelta(hours=cfg.stalled_critical_extra_hours)
    severity = Severity.CRITICAL if flagged or quiet >= limit + extra else Severity.WARNING
    since = f", nothing for {_hours(limit)} or more" if quiet >= limit else ""
    lines = [f"{where.capitalize()}; last scan {local(last)}{since}{_provider(p)}."]
    if flagged:
        lines.append(PROVIDER_STALLED)
    lines.append("Ask the carrier or the supplier to chase the parcel; platforms penalise stalled tracking.")
    return Finding(rule, f"shipment:{p.shipment_id}", severity, f"Parcel stalled since {local(last)}: {_what(p)}",
                   tuple(lines), p.shop_id)


def _unread(facts: Facts, cfg: AlertsConfig, now: datetime) -> Iterator[Finding]:
    """Handed over long ago and no source has read its tracking: nothing else can alert about it (the state rules
    wait for a reading); resolves once it is read."""
    limit = timedelta(hours=cfg.tracking_unread_hours)
    for p in facts.unread_parcels:
        known = max(p.handed_over_at, p.number_at or p.handed_over_at)  # no source can read a number before it
        if p.read or now - known < limit:
            continue
        got = f", the number reached syncd {local(known)}" if known > p.handed_over_at else ""
        yield Finding(Rule.TRACKING_UNREAD, f"shipment:{p.shipment_id}", Severity.WARNING,
                      f"Tracking never read: {_what(p)}",
                      (f"Handed over {local(p.handed_over_at)}{got}; no tracking source has read this number "
                       f"within {cfg.tracking_unread_hours:g} h, so syncd cannot tell whether the parcel moves.",
                       "Check that a source follows it (tracking.yaml for Kuaidi100, or the supplier's own trace) and "
                       "that the carrier and number are right; ask the supplier whether the parcel left."),
                      p.shop_id)


def _duplicates(facts: Facts) -> Iterator[Finding]:
    for d in facts.duplicates:
        orders = "; ".join(f"shop {s} order {o}" for s, o in d.orders)
        shop = d.orders[0][0] if d.orders else None
        yield Finding(Rule.DUPLICATE_TRACKING, f"tracking:{d.tracking_no}", Severity.CRITICAL,
                      f"Tracking number {_parcel(d.carrier, d.tracking_no)} is used on {len(d.orders)} orders",
                      (f"Orders: {orders}.",
                       "Platforms treat a reused number as a fake shipment: ask the supplier which order it belongs "
                       "to and correct the other one."), shop)


def _tokens(facts: Facts, cfg: AlertsConfig, now: datetime) -> Iterator[Finding]:
    horizon = now + timedelta(days=cfg.token_warning_days)
    for t in facts.tokens:
        if t.refresh_expires_at is not None:
            dies = t.refresh_expires_at
        elif not t.can_refresh:
            dies = t.expires_at
        else:
            continue  # a refresh token with no known end: syncd renews the pair itself
        if dies > horizon:
            continue
        who = f"supplier {t.owner.split(':', 1)[1]}" if t.owner.startswith("supplier:") else f"shop {t.owner}"
        verb = "expired" if dies <= now else "expires"
        severity = Severity.CRITICAL if dies <= now + timedelta(days=1) else Severity.WARNING
        yield Finding(Rule.TOKEN_EXPIRING, f"token:{t.owner}", severity,
                      f"Authorisation of {who} {verb} {local(dies)}",
                      ("syncd cannot renew it by itself.",
                       f"Authorise {who} again in the platform's app market before then, or it stops."),
                      None if t.owner.startswith("supplier:") else t.owner)


def _health(facts: Facts, cfg: AlertsConfig, now: datetime, on: frozenset[str]) -> Iterator[Finding]:
    if Rule.SHOP_PAUSED in on:
        for sh in facts.paused_shops:
            since = f" since {local(sh.since)}" if sh.since else ""
            yield Finding(Rule.SHOP_PAUSED, f"shop:{sh.shop_id}", Severity.CRITICAL,
                          f"Shop {sh.shop_id} is paused: its orders are not pulled",
                          (f"Paused{since}: {sh.reason}",
                           "Authorise the shop again on the platform; syncd retries every 30 minutes and resumes."),
                          sh.shop_id)
    for st in facts.stages:
        if st.last_error.startswith(RECONCILE_ERROR):
            if Rule.RECONCILE_MISMATCH in on and st.failures > 0:
                shop = st.scope.split(":", 1)[-1]
                yield Finding(Rule.RECONCILE_MISMATCH, f"reconcile:{shop}", Severity.CRITICAL,
                              f"Shop {shop}: the platform lists orders syncd does not have",
                              (st.last_error[len(RECONCILE_ERROR):][:600],
                               f"Read the period again (syncd shops resync {shop} --from ...) and compare with the "
                               "shop's order list."), shop)
            continue
        if Rule.LEASE_OVERDUE in on and st.skip_reason.startswith(OVERDUE_PREFIX):
            yield Finding(Rule.LEASE_OVERDUE, f"lease:{st.stage}:{st.scope}", Severity.WARNING,
                          f"syncd {st.stage} for {st.scope} cannot run: its lease is held past its bound",
                          (st.skip_reason[len(OVERDUE_PREFIX):][:600],
                           "The holder's run is stuck or its replica hangs: see its log, restart that replica "
                           "if it does not finish; its lease is freed the moment it stops."),
                          st.scope if st.stage in ("pull", "writeback") else None)
        fault = next((w for w in MACHINE_FAULT_WORDS if st.last_error.startswith(w)), None)
        if Rule.STAGE_FAILING in on and fault is not None and st.failures > 0:
            # the machine needs a person now (nothing gets better by waiting): alert at the first failure
            at = f" since {local(st.last_error_at)}" if st.last_error_at else ""
            yield Finding(Rule.STAGE_FAILING, f"stage:{st.stage}:{st.scope}", Severity.CRITICAL,
                          f"syncd {st.stage} for {st.scope}: {fault}",
                          (f"{st.last_error[:600]}",
                           f"{st.failures} failed run(s) in a row{at}; nothing is lost, the work waits until "
                           "this is fixed."),
                          st.scope if st.stage in ("pull", "writeback") else None)
        elif Rule.STAGE_FAILING in on and st.failures >= cfg.stage_failures:
            at = f", last at {local(st.last_error_at)}" if st.last_error_at else ""
            yield Finding(Rule.STAGE_FAILING, f"stage:{st.stage}:{st.scope}", Severity.WARNING,
                          f"syncd {st.stage} for {st.scope} keeps failing",
                          (f"{st.failures} failed runs in a row{at}: {st.last_error[:600]}",
                           "See syncd status; fix what the error names (network, credentials, files)."),
                          st.scope if st.stage in ("pull", "writeback") else None)
    if Rule.SUPPLIER_FILE_REJECTED in on:
        window = timedelta(hours=cfg.file_alert_hours)
        for f in facts.files:
            if now - f.processed_at >= window or not (f.rows_rejected or f.file_error):
                continue
            if f.file_error:
                title = f"Supplier {f.supplier_id}: file {f.file_name} could not be read"
                first = f.file_error
            else:
                title = f"Supplier {f.supplier_id}: file {f.file_name} has {f.rows_rejected} rejected row(s)"
                first = f"{f.rows_ok} row(s) imported, {f.rows_rejected} rejected (read {local(f.processed_at)})."
            yield Finding(Rule.SUPPLIER_FILE_REJECTED, f"file:{f.file_id}",
                          Severity.CRITICAL if f.file_error else Severity.WARNING, title,
                          (first, f"The reasons are in {f.file_name}.errors.csv beside the processed file; fix the "
                                  "rows and drop them into the inbox again."))
    if Rule.CHANNEL_FAILING in on:
        for c in facts.channels:
            refused = c.last_error.startswith(REJECTED_PREFIX)
            if not refused and c.attempts < cfg.channel_failing_attempts:
                continue
            reason = c.last_error.split(": ", 1)[-1][:300]
            title = (f"Alert channel {c.channel} refuses messages: {reason}" if refused
                     else f"Alert channel {c.channel} cannot deliver messages")
            yield Finding(Rule.CHANNEL_FAILING, f"channel:{c.channel}",
                          Severity.CRITICAL if refused else Severity.WARNING, title,
                          (f"Messages wait since {local(c.since)} ({c.attempts} attempt(s)): {reason}",
                           "Check the channel's key, secret and keywords in alerts.yaml; waiting messages are "
                           "kept and go out once it works (test: syncd alerts test " + c.channel + ")."))


def evaluate(facts: Facts, cfg: AlertsConfig, ship_within: Mapping[str, float], now: datetime) -> list[Finding]:
    """Every finding that holds at ``now``. ``ship_within``: each supplier's ship_within_hours."""
    on = cfg.enabled_rules
    out: list[Finding] = []
    for f in _ship_deadlines(facts, cfg, now):
        if f.rule in on:
            out.append(f)
    out.extend(_supplier_orders(facts, cfg, ship_within, now, on))
    if Rule.CANCEL_TOO_LATE in on:
        out.extend(_cancels(facts))
    if Rule.ORDER_HELD in on:
        out.extend(_holds(facts, cfg, now))
    out.extend(_parcels(facts, cfg, now, on))
    if Rule.TRACKING_UNREAD in on:
        out.extend(_unread(facts, cfg, now))
    if Rule.DUPLICATE_TRACKING in on:
        out.extend(_duplicates(facts))
    if Rule.TOKEN_EXPIRING in on:
        out.extend(_tokens(facts, cfg, now))
    out.extend(_health(facts, cfg, now, on))
    # one finding per (rule, subject): the facts could list a row twice (a join), the alert exists once
    unique: dict[tuple[str, str], Finding] = {}
    for f in out:
        if (f.rule, f.subject) not in unique:
            unique[(f.rule, f.subject)] = replace(f, title=scrub(f.title), lines=tuple(scrub(x) for x in f.lines))
    return list(unique.values())

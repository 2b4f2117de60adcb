"""The alert rules: pure functions from facts (:mod:`syncd.alerts.model`), thresholds and now to findings.

Every finding says what it is about in words a person can act on: the shop, the storefront order id, the carrier
and tracking number where there is one, and what to do. Never a phone number or an address. Times are shown in
the display time zone (Beijing time unless configured), to the second; words in the active language
(:mod:`syncd.i18n`). Titles avoid counters that grow every pass ("26 h"), so an unchanged condition keeps an
unchanged alert: the lifecycle rewrites an alert only when something a person would read changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from syncd.alerts.config import AlertsConfig
from syncd.alerts.model import Facts, Finding, MarginFact, ParcelFact, StockWriteFact
from syncd.alerts.names import HOLD_REASON_WORDS, MACHINE_FAULT_WORDS, OVERDUE_PREFIX, PARCEL_STATE_WORDS, Rule
from syncd.carriers import display_name
from syncd.details import detail_text
from syncd.domain import STALLED_VERDICT, LogisticsState, Severity
from syncd.i18n import N_, _, local_time, ngettext, zone_label
from syncd.lifecycle import HoldReason

# ---- wording --------------------------------------------------------------------------------------------
# Every text is an English msgid translated through syncd.i18n (the catalogue: syncd/locale); a placeholder is
# named, so a translation may put the words in the order its language needs.

REJECTED_PREFIX = "rejected: "
RECONCILE_ERROR = "ReconcileMismatch: "


_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")


def scrub(text: str) -> str:
    """Mask mobile numbers in words that came from outside (a supplier's refusal, a hold's detail)."""
    return _MOBILE.sub(r"\1****\2", text)


def local(dt: datetime) -> str:
    """``2026-05-03 10:00:00`` in the display time zone (Beijing time unless configured), to the second."""
    return local_time(dt)


def join(items: Iterable[str]) -> str:
    """Items of a list in a sentence: ``a, b`` / ``a、b``."""
    # TRANSLATORS: the separator between the items of a list inside a sentence
    return _(", ").join(items)


def _order(shop: str, pid: str) -> str:
    return _("order {order} (shop {shop})").format(order=pid, shop=shop)


def _parcel(carrier: str, tracking_no: str) -> str:
    return f"{display_name(carrier)} {tracking_no}"


def _hours(td: timedelta) -> str:
    return _("{hours} h").format(hours=f"{td.total_seconds() / 3600:.0f}")


_WHERE = {
    "new": N_("not routed to a supplier yet"),
    "routed": N_("waiting to be sent to the supplier"),
    "placed": N_("with the supplier, no tracking number yet"),
}


def _reason(reason: str) -> str:
    """A hold reason in the reader's words (an unknown one as it is)."""
    return _(HOLD_REASON_WORDS[reason]) if reason in HOLD_REASON_WORDS else reason


def _state(state: str) -> str:
    return _(PARCEL_STATE_WORDS[state]) if state in PARCEL_STATE_WORDS else state


def _where(state: str, hold_reason: str | None) -> str:
    if state == "held":
        return _("on hold ({reason})").format(reason=_reason(hold_reason) if hold_reason else _("no reason recorded"))
    return _(_WHERE[state]) if state in _WHERE else state


# ---- the rules ------------------------------------------------------------------------------------------


def _ship_deadlines(facts: Facts, cfg: AlertsConfig, now: datetime) -> Iterator[Finding]:
    warn = timedelta(hours=cfg.ship_deadline_warn_hours)
    for o in facts.orders:
        if o.ship_by is not None:
            deadline, source = o.ship_by, _("the platform's deadline")
        elif o.paid_at is not None:
            deadline = o.paid_at + timedelta(hours=cfg.default_ship_hours)
            source = _("paid + {hours} h").format(hours=f"{cfg.default_ship_hours:g}")
        else:
            continue
        if now < deadline - warn:
            continue
        breached = now >= deadline
        rule = Rule.SHIP_DEADLINE_BREACHED if breached else Rule.SHIP_DEADLINE_NEAR
        what = _order(o.shop_id, o.platform_order_id)
        if breached:
            title = _("Ship deadline passed at {deadline}: {order} has no tracking")
        else:
            title = _("Ship by {deadline}: {order} has no tracking yet")
        title = title.format(deadline=local(deadline), order=what)
        paid = _("paid {at}, ").format(at=local(o.paid_at)) if o.paid_at else ""
        lines = (_("Shop {shop}, order {order}: {paid}ship by {deadline} ({source}, {zone}).").format(
                     shop=o.shop_id, order=o.platform_order_id, paid=paid, deadline=local(deadline), source=source,
                     zone=zone_label()),
                 _("Now {where}.").format(where=_where(o.state, o.hold_reason)),
                 _("Chase the supplier for the tracking number, or ship it another way and upload the number."))
        yield Finding(rule, f"order:{o.order_id}", Severity.CRITICAL if breached else Severity.WARNING, title, lines,
                      o.shop_id)


def _supplier_orders(facts: Facts, cfg: AlertsConfig, ship_within: Mapping[str, float], now: datetime,
                     on: frozenset[str]) -> Iterator[Finding]:
    for so in facts.supplier_orders:
        ref = _(", supplier order {ref}").format(ref=so.supplier_ref) if so.supplier_ref else ""
        what = _order(so.shop_id, so.platform_order_id)
        if Rule.SUPPLIER_UNPAID in on and so.paid is False \
                and now - so.placed_at >= timedelta(hours=cfg.supplier_unpaid_hours):
            yield Finding(Rule.SUPPLIER_UNPAID, f"supplier_order:{so.supplier_order_id}", Severity.WARNING,
                          _("Supplier {supplier}: {order} is awaiting payment").format(supplier=so.supplier_id,
                                                                                       order=what),
                          (_("Placed {at}{ref}; the supplier will not ship it until it is paid.").format(
                              at=local(so.placed_at), ref=ref),
                           _("Pay it in the supplier's back office (1688: 待付款), or enable automatic payment.")),
                          so.shop_id)
            continue  # an unpaid order is not the supplier's delay
        hours = ship_within.get(so.supplier_id, cfg.default_ship_hours)
        if Rule.SUPPLIER_LATE in on and now - so.placed_at >= timedelta(hours=hours):
            yield Finding(Rule.SUPPLIER_LATE, f"supplier_order:{so.supplier_order_id}", Severity.WARNING,
                          _("Supplier {supplier} has not shipped {order} within {hours} h").format(
                              supplier=so.supplier_id, order=what, hours=f"{hours:g}"),
                          (_("Placed {at}{ref}; no tracking number since.").format(at=local(so.placed_at), ref=ref),
                           _("Ask the supplier to ship it or to send the tracking number.")),
                          so.shop_id)


def _cancels(facts: Facts) -> Iterator[Finding]:
    for c in facts.cancels:
        ref = _(" (supplier order {ref})").format(ref=c.supplier_ref) if c.supplier_ref else ""
        if c.detail:
            first = _("Supplier {supplier}{ref} answered: {detail}").format(supplier=c.supplier_id, ref=ref,
                                                                            detail=c.detail)
        else:
            first = _("Supplier {supplier}{ref} can no longer cancel it.").format(supplier=c.supplier_id, ref=ref)
        lines = [first]
        if c.parcels:
            lines.append(_("On its way: {parcels}.").format(
                parcels=join(_parcel(carrier, no) for carrier, no in c.parcels)))
        lines.append(_("Ask the supplier to stop or intercept the parcel, or arrange the return with the buyer."))
        what = _order(c.shop_id, c.platform_order_id)
        if c.parcels:
            title = _("Buyer cancelled or was refunded {order} but supplier {supplier} shipped it ({parcel})").format(
                order=what, supplier=c.supplier_id, parcel=_parcel(*c.parcels[0]))
        else:
            title = _("Buyer cancelled or was refunded {order} but supplier {supplier} cannot stop it").format(
                order=what, supplier=c.supplier_id)
        yield Finding(Rule.CANCEL_TOO_LATE, f"supplier_order:{c.supplier_order_id}", Severity.CRITICAL, title,
                      tuple(lines), c.shop_id)


def _holds(facts: Facts, cfg: AlertsConfig, now: datetime) -> Iterator[Finding]:
    immediate = {str(r) for r in cfg.immediate_hold_reasons}
    quiet = {str(r) for r in cfg.quiet_hold_reasons}
    for h in facts.holds:
        if h.reason in quiet or h.reason == HoldReason.SHADOW:  # shadow mode holds every order on purpose
            continue
        at_once = h.reason in immediate
        if not at_once and now - h.since < timedelta(hours=cfg.held_hours):
            continue
        lines = (_("On hold since {at}: {detail}.").format(at=local(h.since),
                                                            detail=detail_text(h.detail) or _reason(h.reason)),
                 _("Fix the cause, then release it: syncd orders release {shop}/{order}").format(
                     shop=h.shop_id, order=h.platform_order_id))
        yield Finding(Rule.ORDER_HELD, f"order:{h.order_id}", Severity.CRITICAL if at_once else Severity.WARNING,
                      _("{order} is on hold: {reason}").format(order=_order(h.shop_id, h.platform_order_id),
                                                               reason=_reason(h.reason)),
                      lines, h.shop_id)


_PROBLEM_TITLES = {
    LogisticsState.PROBLEM: N_("Parcel {parcel} of {order} has a delivery problem"),
    LogisticsState.REFUSED: N_("Parcel {parcel} of {order} was refused by the buyer"),
    LogisticsState.RETURNING: N_("Parcel {parcel} of {order} is on its way back to the sender"),
}
_TRANSIT = (LogisticsState.IN_TRANSIT, LogisticsState.DELIVERING)
# Verdicts that are no trouble by themselves: a fresh number without a record; the provider's own "stalled" is
# judged by the stalled rules (and no_pickup), not as a problem.
_NOT_A_PROBLEM = ("", "no_records", STALLED_VERDICT)
# The only provider that says "stalled" today is Kuaidi100 (statusCode 202).
PROVIDER_STALLED = N_("The tracking provider (Kuaidi100) reports no update for too long (超时未更新).")


def _parcels(facts: Facts, cfg: AlertsConfig, now: datetime, on: frozenset[str]) -> Iterator[Finding]:
    for p in facts.parcels:
        verdict = (p.verdict or "").strip()
        if p.state == LogisticsState.NONE:
            found = _no_pickup(p, verdict, cfg, now) if Rule.NO_PICKUP in on else None
        elif p.state in _PROBLEM_TITLES or verdict not in _NOT_A_PROBLEM:
            found = _problem(p, verdict) if Rule.PARCEL_PROBLEM in on else None
        else:
            found = _stalled(p, verdict, cfg, now, on)
        if found is not None:
            yield found


def _names(p: ParcelFact) -> dict[str, str]:
    return {"parcel": _parcel(p.carrier, p.tracking_no), "order": _order(p.shop_id, p.platform_order_id)}


def _what(p: ParcelFact) -> str:
    return _("parcel {parcel} of {order}").format(**_names(p))


def _provider(p: ParcelFact) -> str:
    return _(" (tracking provider: {state})").format(state=p.provider_state) if p.provider_state else ""


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
    lines = [_("Handed over {at}; no carrier scan since.").format(at=local(p.handed_over_at))]
    if aborted:
        lines.append(_("The tracking provider gave up on it: {verdict}.").format(verdict=verdict))
    elif flagged:
        lines.append(_(PROVIDER_STALLED))
    elif verdict and verdict != "no_records":
        lines.append(_("Tracking provider: {verdict}.").format(verdict=verdict))
    lines.append(_("Platforms count a number without a pickup scan within 24 h as a fake shipment: "
                   "ask the supplier whether the parcel really left."))
    return Finding(Rule.NO_PICKUP, f"shipment:{p.shipment_id}", severity,
                   _("No pickup scan: parcel {parcel} of {order}").format(**_names(p)), tuple(lines), p.shop_id)


def _problem(p: ParcelFact, verdict: str) -> Finding:
    """A problem state (refused, returning, 疑难), or a verdict of the provider that is trouble by itself."""
    template = _PROBLEM_TITLES.get(LogisticsState(p.state)) if p.state in _PROBLEM_TITLES else None
    if template:
        title = _(template).format(**_names(p))
    else:
        title = _("Tracking provider flags parcel {parcel} of {order}: {verdict}").format(verdict=verdict,
                                                                                           **_names(p))
    said = _(", verdict {verdict}").format(verdict=verdict) if verdict else ""
    lines = [_("State {state}{provider}{verdict}.").format(state=_state(p.state), provider=_provider(p), verdict=said)]
    if p.last_scan_at:
        lines.append(_("Last scan {at}.").format(at=local(p.last_scan_at)))
    lines.append(_("Contact the carrier or the supplier; tell the buyer if the parcel will be late or return."))
    return Finding(Rule.PARCEL_PROBLEM, f"shipment:{p.shipment_id}", Severity.CRITICAL, title, tuple(lines),
                   p.shop_id)


def _stalled(p: ParcelFact, verdict: str, cfg: AlertsConfig, now: datetime, on: frozenset[str]) -> Finding | None:
    """Picked up or moving, no scan for the state's threshold; at once and critical when the provider says so."""
    last = p.last_scan_at or p.handed_over_at
    if p.state == LogisticsState.PICKED_UP:
        rule, limit = Rule.STALLED_AFTER_PICKUP, timedelta(hours=cfg.stalled_after_pickup_hours)
        where = _("Picked up")
    elif p.state in _TRANSIT:
        rule, limit = Rule.STALLED_IN_TRANSIT, timedelta(hours=cfg.stall_hours(p.province))
        where = _("In transit to {province}").format(province=p.province) if p.province else _("In transit")
    else:
        return None
    flagged, quiet = verdict == STALLED_VERDICT, now - last
    if rule not in on or (quiet < limit and not flagged):
        return None
    extra = timedelta(hours=cfg.stalled_critical_extra_hours)
    severity = Severity.CRITICAL if flagged or quiet >= limit + extra else Severity.WARNING
    since = _(", nothing for {hours} or more").format(hours=_hours(limit)) if quiet >= limit else ""
    lines = [_("{where}; last scan {at}{since}{provider}.").format(where=where, at=local(last), since=since,
                                                                    provider=_provider(p))]
    if flagged:
        lines.append(_(PROVIDER_STALLED))
    lines.append(_("Ask the carrier or the supplier to chase the parcel; platforms penalise stalled tracking."))
    return Finding(rule, f"shipment:{p.shipment_id}", severity,
                   _("Parcel stalled since {at}: parcel {parcel} of {order}").format(at=local(last), **_names(p)),
                   tuple(lines), p.shop_id)


def _unread(facts: Facts, cfg: AlertsConfig, now: datetime) -> Iterator[Finding]:
    """Handed over long ago and no source has read its tracking: nothing else can alert about it (the state rules
    wait for a reading); resolves once it is read."""
    limit = timedelta(hours=cfg.tracking_unread_hours)
    for p in facts.unread_parcels:
        known = max(p.handed_over_at, p.number_at or p.handed_over_at)  # no source can read a number before it
        if p.read or now - known < limit:
            continue
        got = _(", the number reached syncd {at}").format(at=local(known)) if known > p.handed_over_at else ""
        yield Finding(Rule.TRACKING_UNREAD, f"shipment:{p.shipment_id}", Severity.WARNING,
                      _("Tracking never read: parcel {parcel} of {order}").format(**_names(p)),
                      (_("Handed over {at}{got}; no tracking source has read this number within {hours} h, so syncd "
                         "cannot tell whether the parcel moves.").format(
                          at=local(p.handed_over_at), got=got, hours=f"{cfg.tracking_unread_hours:g}"),
                       _("Check that a source follows it (tracking.yaml for Kuaidi100, or the supplier's own trace) "
                         "and that the carrier and number are right; ask the supplier whether the parcel left.")),
                      p.shop_id)


def _duplicates(facts: Facts) -> Iterator[Finding]:
    for d in facts.duplicates:
        orders = join(_("shop {shop} order {order}").format(shop=s, order=o) for s, o in d.orders)
        shop = d.orders[0][0] if d.orders else None
        n = len(d.orders)
        yield Finding(Rule.DUPLICATE_TRACKING, f"tracking:{d.tracking_no}", Severity.CRITICAL,
                      ngettext("Tracking number {parcel} is used on {count} order",
                               "Tracking number {parcel} is used on {count} orders", n).format(
                          parcel=_parcel(d.carrier, d.tracking_no), count=n),
                      (_("Orders: {orders}.").format(orders=orders),
                       _("Platforms treat a reused number as a fake shipment: ask the supplier which order it belongs "
                         "to and correct the other one.")), shop)


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
        if t.owner.startswith("supplier:"):
            who = _("supplier {supplier}").format(supplier=t.owner.split(":", 1)[1])
        else:
            who = _("shop {shop}").format(shop=t.owner)
        expired = dies <= now
        title = _("Authorisation of {who} expired {at}") if expired else _("Authorisation of {who} expires {at}")
        severity = Severity.CRITICAL if dies <= now + timedelta(days=1) else Severity.WARNING
        yield Finding(Rule.TOKEN_EXPIRING, f"token:{t.owner}", severity, title.format(who=who, at=local(dies)),
                      (_("syncd cannot renew it by itself."),
                       _("Authorise {who} again in the platform's app market before then, or it stops.").format(
                           who=who)),
                      None if t.owner.startswith("supplier:") else t.owner)


def _stage_shop(stage: str, scope: str) -> str | None:
    return scope if stage in ("pull", "writeback") else None


def _health(facts: Facts, cfg: AlertsConfig, now: datetime, on: frozenset[str]) -> Iterator[Finding]:
    if Rule.SHOP_PAUSED in on:
        for sh in facts.paused_shops:
            if sh.since:
                paused = _("Paused since {at}: {reason}").format(at=local(sh.since), reason=sh.reason)
            else:
                paused = _("Paused: {reason}").format(reason=sh.reason)
            yield Finding(Rule.SHOP_PAUSED, f"shop:{sh.shop_id}", Severity.CRITICAL,
                          _("Shop {shop} is paused: its orders are not pulled").format(shop=sh.shop_id),
                          (paused,
                           _("Authorise the shop again on the platform; syncd retries every 30 minutes and "
                             "resumes.")),
                          sh.shop_id)
    for st in facts.stages:
        if st.last_error.startswith(RECONCILE_ERROR):
            if Rule.RECONCILE_MISMATCH in on and st.failures > 0:
                shop = st.scope.split(":", 1)[-1]
                yield Finding(Rule.RECONCILE_MISMATCH, f"reconcile:{shop}", Severity.CRITICAL,
                              _("Shop {shop}: the platform lists orders syncd does not have").format(shop=shop),
                              (st.last_error[len(RECONCILE_ERROR):][:600],
                               _("Read the period again (syncd shops resync {shop} --from ...) and compare with the "
                                 "shop's order list.").format(shop=shop)), shop)
            continue
        names = {"stage": st.stage, "scope": st.scope}
        if Rule.LEASE_OVERDUE in on and st.skip_reason.startswith(OVERDUE_PREFIX):
            yield Finding(Rule.LEASE_OVERDUE, f"lease:{st.stage}:{st.scope}", Severity.WARNING,
                          _("syncd {stage} for {scope} cannot run: its lease is held past its bound").format(**names),
                          (st.skip_reason[len(OVERDUE_PREFIX):][:600],
                           _("The holder's run is stuck or its replica hangs: see its log, restart that replica "
                             "if it does not finish; its lease is freed the moment it stops.")),
                          _stage_shop(st.stage, st.scope))
        fault = next((w for w in MACHINE_FAULT_WORDS if st.last_error.startswith(w)), None)
        if Rule.STAGE_FAILING in on and fault is not None and st.failures > 0:
            # the machine needs a person now (nothing gets better by waiting): alert at the first failure
            at = _(" since {at}").format(at=local(st.last_error_at)) if st.last_error_at else ""
            yield Finding(Rule.STAGE_FAILING, f"stage:{st.stage}:{st.scope}", Severity.CRITICAL,
                          _("syncd {stage} for {scope}: {fault}").format(fault=_(fault), **names),
                          (f"{st.last_error[:600]}",
                           ngettext("{count} failed run in a row{at}; nothing is lost, the work waits until this is "
                                    "fixed.",
                                    "{count} failed runs in a row{at}; nothing is lost, the work waits until this is "
                                    "fixed.", st.failures).format(count=st.failures, at=at)),
                          _stage_shop(st.stage, st.scope))
        elif Rule.STAGE_FAILING in on and st.failures >= cfg.stage_failures:
            at = _(", last at {at}").format(at=local(st.last_error_at)) if st.last_error_at else ""
            yield Finding(Rule.STAGE_FAILING, f"stage:{st.stage}:{st.scope}", Severity.WARNING,
                          _("syncd {stage} for {scope} keeps failing").format(**names),
                          (ngettext("{count} failed run in a row{at}: {error}",
                                    "{count} failed runs in a row{at}: {error}", st.failures).format(
                               count=st.failures, at=at, error=st.last_error[:600]),
                           _("See syncd status; fix what the error names (network, credentials, files).")),
                          _stage_shop(st.stage, st.scope))
    if Rule.SUPPLIER_FILE_REJECTED in on:
        yield from _files(facts, cfg, now)
    if Rule.CHANNEL_FAILING in on:
        yield from _channels(facts, cfg)


def _files(facts: Facts, cfg: AlertsConfig, now: datetime) -> Iterator[Finding]:
    window = timedelta(hours=cfg.file_alert_hours)
    for f in facts.files:
        if now - f.processed_at >= window or not (f.rows_rejected or f.file_error):
            continue
        if f.file_error:
            title = _("Supplier {supplier}: file {file} could not be read").format(supplier=f.supplier_id,
                                                                                    file=f.file_name)
            first = f.file_error
        else:
            title = ngettext("Supplier {supplier}: file {file} has {count} rejected row",
                             "Supplier {supplier}: file {file} has {count} rejected rows", f.rows_rejected).format(
                supplier=f.supplier_id, file=f.file_name, count=f.rows_rejected)
            first = _("Rows imported: {ok}, rejected: {rejected} (read {at}).").format(
                ok=f.rows_ok, rejected=f.rows_rejected, at=local(f.processed_at))
        yield Finding(Rule.SUPPLIER_FILE_REJECTED, f"file:{f.file_id}",
                      Severity.CRITICAL if f.file_error else Severity.WARNING, title,
                      (first, _("The reasons are in {file}.errors.csv beside the processed file; fix the rows and "
                                "drop them into the inbox again.").format(file=f.file_name)))


def _channels(facts: Facts, cfg: AlertsConfig) -> Iterator[Finding]:
    for c in facts.channels:
        refused = c.last_error.startswith(REJECTED_PREFIX)
        if not refused and c.attempts < cfg.channel_failing_attempts:
            continue
        reason = c.last_error.split(": ", 1)[-1][:300]
        if refused:
            title = _("Alert channel {channel} refuses messages: {reason}").format(channel=c.channel, reason=reason)
        else:
            title = _("Alert channel {channel} cannot deliver messages").format(channel=c.channel)
        yield Finding(Rule.CHANNEL_FAILING, f"channel:{c.channel}",
                      Severity.CRITICAL if refused else Severity.WARNING, title,
                      (ngettext("Messages wait since {at} ({count} attempt): {reason}",
                                "Messages wait since {at} ({count} attempts): {reason}", c.attempts).format(
                           at=local(c.since), count=c.attempts, reason=reason),
                       _("Check the channel's key, secret and keywords in alerts.yaml; waiting messages are kept and "
                         "go out once it works (test: syncd alerts test {channel}).").format(channel=c.channel)))


# ---- stock and price (issue 19) -------------------------------------------------------------------------------


def _yuan(fen: int | None) -> str:
    if fen is None:
        return "-"
    return f"{'-' if fen < 0 else ''}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def _margin(m: MarginFact) -> Finding:
    title = _("SKU {sku} (shop {shop}): margin {margin} yuan per sale, below the floor of {floor} yuan").format(
        sku=m.merchant_sku, shop=m.shop_id, margin=_yuan(m.margin_fen), floor=_yuan(m.floor_fen))
    lines = [_("Storefront price {price} yuan, supplier cost {cost} yuan per sale (shipping and commission as "
               "configured in the shop file's stock: block).").format(price=_yuan(m.price_fen),
                                                                       cost=_yuan(m.cost_fen))]
    if m.held:
        lines.append(_("Its stock is kept at zero until a person decides: raise the price, or accept the cost with "
                       "syncd stock release {sku}.").format(sku=m.merchant_sku))
    else:
        lines.append(_("Stock is not touched (zero_on_low_margin is off): raise the price or change the supplier."))
    return Finding(Rule.STOCK_MARGIN_LOW, f"stock:margin:{m.shop_id}:{m.merchant_sku}",
                   Severity.CRITICAL if m.held else Severity.WARNING, title, tuple(lines), shop_id=m.shop_id)


def _stock_write(w: StockWriteFact) -> Finding:
    why = w.message[:300]
    if w.code == "floor":
        title = _("SKU {sku} (shop {shop}): stock held above what the suppliers have").format(
            sku=w.merchant_sku, shop=w.shop_id)
        held = w.value if w.value is not None else w.floor
        first = _("The platform holds stock back (reserved, or locked by an activity) and refuses less than {held}: "
                  "the listing shows {held} although the suppliers can serve fewer.").format(
            held=held if held is not None else "?")
    elif w.refused is not None:
        title = _("SKU {sku} (shop {shop}): the platform refuses stock {value}").format(
            sku=w.merchant_sku, shop=w.shop_id, value=w.refused)
        first = _("Refused ({code}): {why}. It is not sent again until the stock or the catalogue changes.").format(
            code=w.code, why=why)
    else:
        title = _("SKU {sku} (shop {shop}): stock writes keep failing").format(sku=w.merchant_sku, shop=w.shop_id)
        first = ngettext("{count} pass in a row failed ({code}): {why}",
                         "{count} passes in a row failed ({code}): {why}", w.attempts).format(
            count=w.attempts, code=w.code, why=why)
    return Finding(Rule.STOCK_WRITE_REFUSED, f"stock:write:{w.shop_id}:{w.sku_id}:{w.merchant_sku}"[:160],
                   Severity.WARNING, title,
                   (first, _("Check the product in the shop's back office (under review, activity, deleted); "
                             "syncd stock status --sku {sku} shows what was written.").format(sku=w.merchant_sku)),
                   shop_id=w.shop_id)


def _stock(facts: Facts, on: frozenset[str]) -> Iterator[Finding]:
    if Rule.STOCK_MARGIN_LOW in on:
        yield from (_margin(m) for m in facts.margins)
    if Rule.STOCK_WRITE_REFUSED in on:
        yield from (_stock_write(w) for w in facts.stock_writes)


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
    out.extend(_stock(facts, on))
    # one finding per (rule, subject): the facts could list a row twice (a join), the alert exists once
    unique: dict[tuple[str, str], Finding] = {}
    for f in out:
        if (f.rule, f.subject) not in unique:
            unique[(f.rule, f.subject)] = replace(f, title=scrub(f.title), lines=tuple(scrub(x) for x in f.lines))
    return list(unique.values())

"""watch: evaluate the alert rules, keep the alerts table in step, queue the daily summary, deliver.

One replica at a time (the ``watch`` lease): two watchers would announce the same alert twice. Two scopes,
so a failing rule pass never stops delivery of what already waits (and the reverse)::

    facts (a dozen candidate queries) → rules (pure) → lifecycle (one transaction) → daily summary and
    pruning (once a day) → notify
"""

from __future__ import annotations

from datetime import timedelta

from syncd import clock
from syncd.alerts.daily import daily_chores
from syncd.alerts.facts import load_facts
from syncd.alerts.lifecycle import sync
from syncd.alerts.notify import deliver
from syncd.alerts.rules import evaluate
from syncd.reports import ReportOptions
from syncd.runtime import Runtime
from syncd.stages.runner import StageReport, scope
from syncd.store.db import lease_held, release_lease, try_lease

LEASE = "watch"
LEASE_TTL = timedelta(minutes=10)


def rules_pass(rt: Runtime) -> int:
    """Facts → findings → alerts and their notifications. Returns how many alerts opened or closed."""
    cfg = rt.config.alerts
    now = clock.now()
    shops = [sid for sid, shop in rt.config.shops.items() if shop.enabled]
    suppliers = {sid: float(sup.ship_within_hours) for sid, sup in rt.config.suppliers.items() if sup.enabled}
    channels = list(rt.sinks)
    stock_shops = [sid for sid in shops if rt.config.shops[sid].stock.enabled]  # issue 19
    facts = load_facts(rt.db, cfg, now, ship_within=suppliers, shops=shops, suppliers=list(suppliers),
                       channels=channels, stock_shops=stock_shops)
    result = sync(rt.db, evaluate(facts, cfg, suppliers, now), cfg, channels, now)
    daily_chores(rt.db, cfg, channels, now, ReportOptions.from_config(rt.config))
    return result.opened + result.resolved


def run(rt: Runtime, report: StageReport) -> None:
    held = False
    with scope(rt, report, "rules"):
        if not try_lease(rt.db, LEASE, rt.holder, LEASE_TTL):
            raise lease_held(rt.db, LEASE)  # recorded as a skipped run
        held = True
        report.add_work(rules_pass(rt))
    if not held:
        return  # another replica watches; or the database is unreachable (recorded above)
    with scope(rt, report, "delivery"):
        try:
            report.add_work(deliver(rt.db, dict(rt.sinks), rt.config.alerts, clock.now()).messages)
        finally:
            release_lease(rt.db, LEASE, rt.holder)

"""Each rule at its thresholds: just below → nothing, at → warning, at the critical threshold → critical."""

from __future__ import annotations

from datetime import timedelta

import pytest

from syncd.alerts.config import AlertsConfig
from syncd.alerts.model import (
    CancelFact,
    ChannelFact,
    DuplicateFact,
    Facts,
    FileFact,
    Finding,
    HoldFact,
    OrderFact,
    ParcelFact,
    PausedShopFact,
    StageFact,
    SupplierOrderFact,
    TokenFact,
)
from syncd.alerts.rules import evaluate
from syncd.domain import Severity
from tests.alerts.rig import NOW

CFG = AlertsConfig()
H = timedelta(hours=1)
S = timedelta(seconds=1)


def run(facts: Facts, cfg: AlertsConfig = CFG, ship_within: dict[str, float] | None = None) -> list[Finding]:
    return evaluate(facts, cfg, ship_within or {"acme": 24}, NOW)


def only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, findings
    return findings[0]


def parcel(state: str, *, handed: timedelta = 0 * H, last: timedelta | None = None, verdict: str | None = None,
           province: str = "", provider_state: str | None = None) -> Facts:
    return Facts(parcels=[ParcelFact(7, "shop1", "P-7", "zhongtong", "ZT123", state, NOW - handed,
                                     NOW - last if last is not None else None, verdict, provider_state, province)])


# ---- ship deadlines -------------------------------------------------------------------------------------

def deadline_facts(*, paid_ago: timedelta, ship_by_in: timedelta | None = None) -> Facts:
    return Facts(orders=[OrderFact(45, "shop1", "P-45", NOW - paid_ago,
                                   NOW + ship_by_in if ship_by_in is not None else None, "placed")])


def test_ship_deadline_from_payment_is_silent_until_36_hours_warns_at_36_and_breaches_at_48() -> None:
    assert run(deadline_facts(paid_ago=36 * H - S)) == []
    near = only(run(deadline_facts(paid_ago=36 * H)))
    assert (near.rule, near.severity, near.subject) == ("ship_deadline_near", Severity.WARNING, "order:45")
    assert "P-45" in near.title and "shop1" in near.title
    assert only(run(deadline_facts(paid_ago=48 * H - S))).rule == "ship_deadline_near"
    breached = only(run(deadline_facts(paid_ago=48 * H)))
    assert (breached.rule, breached.severity) == ("ship_deadline_breached", Severity.CRITICAL)


def test_ship_deadline_uses_the_platforms_own_ship_by_over_the_default() -> None:
    # paid long ago, but the platform promises shipping in 13 h: not yet inside the 12 h warning
    assert run(deadline_facts(paid_ago=60 * H, ship_by_in=12 * H + S)) == []
    assert only(run(deadline_facts(paid_ago=60 * H, ship_by_in=12 * H))).rule == "ship_deadline_near"
    assert only(run(deadline_facts(paid_ago=1 * H, ship_by_in=0 * H))).rule == "ship_deadline_breached"


def test_ship_deadline_thresholds_are_configurable() -> None:
    cfg = AlertsConfig(default_ship_hours=24, ship_deadline_warn_hours=4)
    assert run(deadline_facts(paid_ago=20 * H - S), cfg) == []
    assert only(run(deadline_facts(paid_ago=20 * H), cfg)).rule == "ship_deadline_near"
    assert only(run(deadline_facts(paid_ago=24 * H), cfg)).rule == "ship_deadline_breached"


# ---- suppliers --------------------------------------------------------------------------------------------

def so_facts(placed_ago: timedelta, paid: bool | None = None) -> Facts:
    return Facts(supplier_orders=[SupplierOrderFact(9, "shop1", "P-9", "acme", "1688-77", NOW - placed_ago, paid)])


def test_supplier_late_at_the_suppliers_own_ship_within_hours() -> None:
    assert run(so_facts(24 * H - S)) == []
    f = only(run(so_facts(24 * H)))
    assert (f.rule, f.severity, f.subject) == ("supplier_late", Severity.WARNING, "supplier_order:9")
    assert "acme" in f.title and "P-9" in f.title
    assert run(so_facts(30 * H), ship_within={"acme": 31}) == []


def test_supplier_unpaid_after_configured_hours_and_not_also_late() -> None:
    assert run(so_facts(2 * H - S, paid=False)) == []
    f = only(run(so_facts(2 * H, paid=False)))
    assert (f.rule, f.severity) == ("supplier_unpaid", Severity.WARNING)
    assert "awaiting payment" in f.title
    assert only(run(so_facts(30 * H, paid=False))).rule == "supplier_unpaid"
    assert run(so_facts(2 * H, paid=True)) == []


def test_cancel_too_late_is_critical_with_the_suppliers_words() -> None:
    f = only(run(Facts(cancels=[CancelFact(3, "shop1", "P-3", "acme", "1688-5", "order already shipped")])))
    assert (f.rule, f.severity) == ("cancel_too_late", Severity.CRITICAL)
    assert "order already shipped" in "\n".join(f.lines) and "P-3" in f.title


# ---- holds ------------------------------------------------------------------------------------------------

def hold(reason: str, ago: timedelta) -> Facts:
    return Facts(holds=[HoldFact(4, "shop1", "P-4", reason, "no route for SKU X", NOW - ago)])


def test_order_held_after_held_hours() -> None:
    assert run(hold("unmapped_sku", 4 * H - S)) == []
    f = only(run(hold("unmapped_sku", 4 * H)))
    assert (f.rule, f.severity, f.subject) == ("order_held", Severity.WARNING, "order:4")
    assert "no route for SKU X" in "\n".join(f.lines)
    assert "syncd orders release shop1/P-4" in "\n".join(f.lines)


def test_immediate_hold_reasons_alert_at_once_and_quiet_reasons_never() -> None:
    f = only(run(hold("tracking_rejected", 0 * H)))
    assert (f.rule, f.severity) == ("order_held", Severity.CRITICAL)
    assert run(hold("not_ready", 100 * H)) == []
    assert run(hold("manual", 100 * H)) == []


# ---- parcels ------------------------------------------------------------------------------------------------

def test_no_pickup_warns_at_12_hours_and_turns_critical_at_20() -> None:
    assert run(parcel("none", handed=12 * H - S)) == []
    f = only(run(parcel("none", handed=12 * H)))
    assert (f.rule, f.severity, f.subject) == ("no_pickup", Severity.WARNING, "shipment:7")
    assert "中通快递 ZT123" in f.title and "P-7" in f.title and "shop1" in f.title
    assert only(run(parcel("none", handed=20 * H - S))).severity == Severity.WARNING
    assert only(run(parcel("none", handed=20 * H))).severity == Severity.CRITICAL


def test_no_pickup_provider_abort_is_critical_at_once_but_no_records_alone_is_not() -> None:
    f = only(run(parcel("none", handed=1 * H, verdict="abort: 3天查询无记录")))
    assert (f.rule, f.severity) == ("no_pickup", Severity.CRITICAL)
    assert "3天查询无记录" in "\n".join(f.lines)
    # a fresh number has no record yet: that is the normal start, the 12 h timer decides
    assert run(parcel("none", handed=1 * H, verdict="no_records")) == []


def test_stalled_after_pickup_at_24_hours_then_critical_after_the_extra_hours() -> None:
    assert run(parcel("picked_up", handed=30 * H, last=24 * H - S)) == []
    f = only(run(parcel("picked_up", handed=30 * H, last=24 * H)))
    assert (f.rule, f.severity) == ("stalled_after_pickup", Severity.WARNING)
    assert only(run(parcel("picked_up", handed=60 * H, last=48 * H))).severity == Severity.CRITICAL


def test_stalled_in_transit_at_48_hours() -> None:
    assert run(parcel("in_transit", handed=60 * H, last=48 * H - S)) == []
    f = only(run(parcel("in_transit", handed=60 * H, last=48 * H)))
    assert (f.rule, f.severity) == ("stalled_in_transit", Severity.WARNING)
    assert only(run(parcel("delivering", handed=90 * H, last=72 * H))).severity == Severity.CRITICAL


@pytest.mark.parametrize(("province", "hours"), [("甘肃省", 72), ("内蒙古自治区", 72), ("新疆维吾尔自治区", 120),
                                                 ("西藏", 120), ("浙江省", 48)])
def test_stalled_in_transit_waits_longer_for_remote_provinces(province: str, hours: int) -> None:
    assert run(parcel("in_transit", handed=200 * H, last=hours * H - S, province=province)) == []
    f = only(run(parcel("in_transit", handed=200 * H, last=hours * H, province=province)))
    assert (f.rule, f.severity) == ("stalled_in_transit", Severity.WARNING)


def test_remote_province_tiers_are_configurable() -> None:
    cfg = AlertsConfig(remote_provinces=[{"hours": 96, "provinces": ["云南"]}])
    assert run(parcel("in_transit", handed=200 * H, last=95 * H, province="云南省"), cfg) == []
    assert only(run(parcel("in_transit", handed=200 * H, last=96 * H, province="云南省"), cfg)).rule \
        == "stalled_in_transit"
    assert only(run(parcel("in_transit", handed=200 * H, last=48 * H, province="新疆"), cfg)).rule \
        == "stalled_in_transit"  # no longer a tier: the normal 48 h


@pytest.mark.parametrize("state", ["problem", "refused", "returning"])
def test_problem_states_are_critical_at_once(state: str) -> None:
    f = only(run(parcel(state, handed=2 * H, last=1 * H, provider_state="14")))
    assert (f.rule, f.severity) == ("parcel_problem", Severity.CRITICAL)
    assert "ZT123" in f.title


@pytest.mark.parametrize(("state", "rule"), [("picked_up", "stalled_after_pickup"),
                                            ("in_transit", "stalled_in_transit"),
                                            ("delivering", "stalled_in_transit")])
def test_provider_stalled_verdict_is_a_critical_stall_at_once_not_a_parcel_problem(state: str, rule: str) -> None:
    assert run(parcel(state, handed=10 * H, last=3 * H)) == []  # without the verdict: syncd's own threshold waits
    f = only(run(parcel(state, handed=10 * H, last=3 * H, verdict="stalled",
                        provider_state="2 疑难 / 202 超时未更新")))
    assert (f.rule, f.severity, f.subject) == (rule, Severity.CRITICAL, "shipment:7")
    assert "The tracking provider (Kuaidi100) reports no update for too long" in "\n".join(f.lines)
    assert "nothing for" not in f.lines[0]  # syncd's own threshold has not passed: it does not claim it did


def test_provider_stalled_past_the_own_threshold_says_both_and_without_the_verdict_only_the_own() -> None:
    f = only(run(parcel("in_transit", handed=60 * H, last=48 * H, verdict="stalled")))
    assert (f.rule, f.severity) == ("stalled_in_transit", Severity.CRITICAL)
    assert "nothing for 48 h or more" in f.lines[0] and "Kuaidi100" in f.lines[1]
    own = only(run(parcel("in_transit", handed=60 * H, last=48 * H)))
    assert (own.rule, own.severity) == ("stalled_in_transit", Severity.WARNING)
    assert "Kuaidi100" not in "\n".join(own.lines)


def test_provider_stalled_without_a_scan_is_a_critical_no_pickup_and_in_a_problem_state_a_problem() -> None:
    f = only(run(parcel("none", handed=1 * H, verdict="stalled")))
    assert (f.rule, f.severity) == ("no_pickup", Severity.CRITICAL)
    assert "reports no update for too long" in "\n".join(f.lines)
    problem = only(run(parcel("problem", handed=10 * H, last=3 * H, verdict="stalled")))
    assert (problem.rule, problem.severity) == ("parcel_problem", Severity.CRITICAL)


def test_disabled_stall_rule_finds_nothing_for_a_provider_stalled_parcel() -> None:
    assert run(parcel("in_transit", handed=10 * H, last=3 * H, verdict="stalled"),
               AlertsConfig(disabled_rules=["stalled_in_transit"])) == []


def test_moving_parcels_and_final_states_do_not_alert() -> None:
    assert run(parcel("in_transit", handed=30 * H, last=2 * H)) == []
    assert run(parcel("delivered", handed=300 * H, last=200 * H)) == []
    assert run(parcel("returned", handed=300 * H, last=200 * H)) == []


def unread(*, handed: timedelta, number: timedelta | None = None) -> Facts:
    """A parcel whose tracking no source has read; ``number``: how long ago syncd got the number."""
    return Facts(unread_parcels=[ParcelFact(7, "shop1", "P-7", "zhongtong", "ZT123", "none", NOW - handed, None,
                                            read=False, number_at=NOW - number if number is not None else None)])


def test_tracking_unread_warns_24_hours_after_hand_over_naming_order_carrier_and_number() -> None:
    assert run(unread(handed=24 * H - S)) == []
    f = only(run(unread(handed=24 * H)))
    assert (f.rule, f.severity, f.subject) == ("tracking_unread", Severity.WARNING, "shipment:7")
    assert f.title == "Tracking never read: parcel 中通快递 ZT123 of order P-7 (shop shop1)"
    assert f.shop_id == "shop1" and "tracking.yaml" in "\n".join(f.lines)


def test_tracking_unread_counts_from_when_the_number_arrived_when_that_was_after_the_hand_over() -> None:
    # a 1688 parcel: sent 30 h ago by 1688's clock, the number reached syncd 2 h ago; nobody could read it before
    assert run(unread(handed=30 * H, number=2 * H)) == []
    f = only(run(unread(handed=30 * H, number=24 * H)))
    assert f.rule == "tracking_unread"


def test_tracking_unread_threshold_is_configurable_and_the_rule_can_be_disabled() -> None:
    cfg = AlertsConfig(tracking_unread_hours=6)
    assert run(unread(handed=6 * H - S), cfg) == []
    assert only(run(unread(handed=6 * H), cfg)).rule == "tracking_unread"
    assert run(unread(handed=99 * H), AlertsConfig(disabled_rules=["tracking_unread"])) == []


def test_a_read_parcel_is_never_tracking_unread() -> None:
    assert [f.rule for f in run(parcel("none", handed=30 * H))] == ["no_pickup"]


def test_duplicate_tracking_names_every_order() -> None:
    f = only(run(Facts(duplicates=[DuplicateFact("ZT9", "zhongtong", (("shop1", "P-1"), ("shop1", "P-2")))])))
    assert (f.rule, f.severity, f.subject) == ("duplicate_tracking", Severity.CRITICAL, "tracking:ZT9")
    assert "P-1" in f.lines[0] and "P-2" in f.lines[0]


# ---- the daemon's health ------------------------------------------------------------------------------------

def token(owner: str, *, refresh_in: timedelta | None, access_in: timedelta = 2 * H, can_refresh: bool = True) -> Facts:
    return Facts(tokens=[TokenFact(owner, NOW + access_in, NOW + refresh_in if refresh_in is not None else None,
                                   can_refresh)])


def test_token_expiring_within_warning_days_and_critical_in_the_last_day() -> None:
    assert run(token("shop1", refresh_in=timedelta(days=7) + S)) == []
    f = only(run(token("shop1", refresh_in=timedelta(days=7))))
    assert (f.rule, f.severity, f.subject, f.shop_id) == ("token_expiring", Severity.WARNING, "token:shop1", "shop1")
    assert only(run(token("shop1", refresh_in=timedelta(days=1)))).severity == Severity.CRITICAL
    assert "expired" in only(run(token("shop1", refresh_in=-H))).title
    sup = only(run(token("supplier:acme", refresh_in=timedelta(days=3))))
    assert "supplier acme" in sup.title


def test_token_without_refresh_alerts_on_the_access_token_and_renewable_ones_never() -> None:
    assert run(token("shop1", refresh_in=None, access_in=H)) == []  # renewed by syncd
    f = only(run(token("shop1", refresh_in=None, access_in=H, can_refresh=False)))
    assert f.severity == Severity.CRITICAL


def test_paused_shop_is_critical() -> None:
    f = only(run(Facts(paused_shops=[PausedShopFact("shop1", "authorisation revoked (code 10002)", NOW)])))
    assert (f.rule, f.severity, f.subject) == ("shop_paused", Severity.CRITICAL, "shop:shop1")
    assert "authorisation revoked" in f.lines[0]


def test_stage_failing_at_the_configured_count() -> None:
    def stage(n: int) -> Facts:
        return Facts(stages=[StageFact("pull", "shop1", n, "TransientError: timeout", NOW)])

    assert run(stage(2)) == []
    f = only(run(stage(3)))
    assert (f.rule, f.severity, f.subject) == ("stage_failing", Severity.WARNING, "stage:pull:shop1")
    assert "timeout" in f.lines[0]


def test_stage_failing_given_a_full_disk_alerts_critical_at_the_first_failure() -> None:
    fact = StageFact("forward", "acme", 1, "disk full under '/data/suppliers/acme/outbox'; free space on that disk",
                     NOW)
    f = only(run(Facts(stages=[fact])))
    assert (f.rule, f.severity, f.subject) == ("stage_failing", Severity.CRITICAL, "stage:forward:acme")
    assert f.title == "syncd forward for acme: disk full" and "/data/suppliers/acme/outbox" in f.lines[0]


def test_lease_overdue_given_a_run_skipped_for_a_holder_past_its_bound_warns() -> None:
    overdue = StageFact("pull", "shop1", 0, "", None, "overdue: lease pull:shop1 held by pod-7 300 s past its bound",
                        NOW)
    f = only(run(Facts(stages=[overdue])))
    assert (f.rule, f.severity, f.subject) == ("lease_overdue", Severity.WARNING, "lease:pull:shop1")
    assert "pod-7" in f.lines[0] and f.shop_id == "shop1"
    assert run(Facts(stages=[StageFact("pull", "shop1", 0, "", None, "lease pull:shop1 held by pod-7", NOW)])) == []


def test_reconcile_mismatch_from_the_stage_run_error() -> None:
    facts = Facts(stages=[StageFact("reconcile", "reconcile:shop1", 1,
                                    "ReconcileMismatch: 1 window(s) still differ: platform 5, syncd 4", NOW)])
    f = only(run(facts))
    assert (f.rule, f.severity, f.subject) == ("reconcile_mismatch", Severity.CRITICAL, "reconcile:shop1")
    assert "platform 5, syncd 4" in f.lines[0]


def test_supplier_file_with_rejected_rows_alerts_for_24_hours() -> None:
    def file(ago: timedelta, rejected: int = 2, error: str | None = None) -> Facts:
        return Facts(files=[FileFact(11, "acme", "reply.csv", 8, rejected, error, NOW - ago)])

    f = only(run(file(23 * H)))
    assert (f.rule, f.severity, f.subject) == ("supplier_file_rejected", Severity.WARNING, "file:11")
    assert "reply.csv" in f.title and "2 rejected" in f.title
    assert run(file(24 * H)) == []
    assert only(run(file(H, rejected=0, error="not a CSV file"))).severity == Severity.CRITICAL


def test_channel_failing_when_refused_at_once_and_when_transient_after_attempts() -> None:
    refused = only(run(Facts(channels=[ChannelFact("ops", 1, "rejected: dingtalk 310000 keywords not in content",
                                                   NOW)])))
    assert (refused.rule, refused.severity, refused.subject) == ("channel_failing", Severity.CRITICAL, "channel:ops")
    assert refused.title == "Alert channel ops refuses messages: dingtalk 310000 keywords not in content"
    assert run(Facts(channels=[ChannelFact("ops", 2, "transient: timeout", NOW)])) == []
    assert only(run(Facts(channels=[ChannelFact("ops", 3, "transient: timeout", NOW)]))).severity \
        == Severity.WARNING


def test_disabled_rules_find_nothing() -> None:
    cfg = AlertsConfig(disabled_rules=["no_pickup"])
    assert run(parcel("none", handed=30 * H), cfg) == []


def test_parcel_title_names_carrier_number_order_and_shop() -> None:
    f = only(run(parcel("none", handed=13 * H)))
    assert f.title == "No pickup scan: parcel 中通快递 ZT123 of order P-7 (shop shop1)"


def test_mobile_numbers_in_outside_words_are_masked() -> None:
    facts = Facts(holds=[HoldFact(4, "shop1", "P-4", "supplier_rejected", "收件人电话13812345678无法接通", NOW)])
    f = only(run(facts))
    assert "13812345678" not in f.title + "\n".join(f.lines)
    assert "收件人电话138****5678无法接通" in f.lines[0]


def test_cancel_too_late_after_the_supplier_shipped_names_the_order_the_supplier_and_the_parcel() -> None:
    fact = CancelFact(3, "shop1", "P-3", "acme", None, "the supplier had already sent tracking",
                      parcels=(("zhongtong", "ZT123456789"),))
    f = only(run(Facts(cancels=[fact])))
    text = "\n".join([f.title, *f.lines])
    assert "P-3" in f.title and "acme" in f.title and "ZT123456789" in f.title
    assert "ZT123456789" in text and f.subject == "supplier_order:3"

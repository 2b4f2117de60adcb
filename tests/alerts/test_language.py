"""Real alerts of every rule, the notifications around them and the daily digest, in Chinese and in English."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from syncd import i18n
from syncd.alerts.config import AlertsConfig
from syncd.alerts.daily import DailySummary
from syncd.alerts.daily import render as render_daily
from syncd.alerts.lifecycle import _message
from syncd.alerts.model import (
    CancelFact,
    ChannelFact,
    DuplicateFact,
    Facts,
    FileFact,
    Finding,
    HoldFact,
    MarginFact,
    OrderFact,
    ParcelFact,
    PausedShopFact,
    StageFact,
    StockWriteFact,
    SupplierOrderFact,
    TokenFact,
)
from syncd.alerts.names import Rule
from syncd.alerts.notify import Waiting
from syncd.alerts.notify import render as render_group
from syncd.alerts.rules import evaluate
from syncd.config.loader import Config
from syncd.config.models import GlobalConfig
from syncd.runtime import build_runtime
from syncd.settings import Settings
from syncd.store.db import Database
from tests.alerts.rig import NOW, Rig, alerts_config
from tests.alerts.test_watch import run as run_watch

H = timedelta(hours=1)
NOW_US = NOW + timedelta(microseconds=123456)  # a clock with microseconds: never shown
CJK = re.compile(r"[\u4e00-\u9fff]")
# English words of our own templates that must not survive in a Chinese alert (platform words such as
# "1688", ids, carriers' codes and the outside world's error text may)
ENGLISH = re.compile(r"\b(order|shop|supplier|parcel|tracking|ship|since|hold|paused|failing|cannot|Ask|Check|"
                     r"Handed|Placed|Now|Authori[sz]\w*|the|and|or|of|is|has|no)\b")
STAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


def every_rule() -> Facts:
    """One fact that fires each rule at the default thresholds."""
    def parcel(sid: int, pid: str, state: str, handed: timedelta, last: timedelta | None, *,
               read: bool = True) -> ParcelFact:
        return ParcelFact(sid, "dy1", pid, "yuantong", f"YT{sid}", state, NOW_US - handed,
                          NOW_US - last if last is not None else None, province="", read=read)

    return Facts(
        orders=[OrderFact(1, "dy1", "4829", NOW_US - 50 * H, None, "placed"),
                OrderFact(2, "dy1", "4830", NOW_US - 40 * H, None, "held", "unmapped_sku")],
        holds=[HoldFact(3, "dy1", "4831", "unmapped_sku", "SKU X 未配置路由", NOW_US - 10 * H)],
        supplier_orders=[SupplierOrderFact(4, "dy1", "4832", "acme", "1688-4", NOW_US - 30 * H, False),
                         SupplierOrderFact(5, "dy1", "4833", "acme", "1688-5", NOW_US - 30 * H, True)],
        cancels=[CancelFact(6, "dy1", "4834", "acme", "1688-6", "", (("yuantong", "YT6"),))],
        parcels=[parcel(7, "4835", "none", 26 * H, None),
                 parcel(8, "4836", "picked_up", 100 * H, 100 * H),
                 parcel(9, "4837", "in_transit", 200 * H, 200 * H),
                 parcel(10, "4838", "refused", 100 * H, 5 * H)],
        unread_parcels=[parcel(11, "4839", "none", 200 * H, None, read=False)],
        duplicates=[DuplicateFact("YT12", "yuantong", (("dy1", "4840"), ("dy2", "4841")))],
        tokens=[TokenFact("dy1", NOW_US + H, None, False)],
        paused_shops=[PausedShopFact("dy3", "authorisation revoked (code 10002)", NOW_US - H)],
        stages=[StageFact("pull", "dy1", 5, "TransientError: timeout", NOW_US - H),
                StageFact("forward", "acme", 1, "disk full under '/data/acme/outbox'", NOW_US),
                StageFact("writeback", "dy2", 0, "", None, "overdue: lease writeback:dy2 held by pod-7 300 s past"),
                StageFact("reconcile", "reconcile:dy1", 1, "ReconcileMismatch: 3 orders missing", NOW_US)],
        files=[FileFact(13, "acme", "reply.csv", 8, 2, None, NOW_US - H)],
        channels=[ChannelFact("ding", 1, "rejected: dingtalk 310000 keywords not in content", NOW_US - H)],
        margins=[MarginFact("dy1", "SB-MUG", 120, 300, 5990, 4990, True)],
        stock_writes=[StockWriteFact("dy1", "SB-MUG", "S1", "-40001", "商品审核中", 5, None, 1, NOW_US)],
    )


def findings(language: str) -> dict[str, list[Finding]]:
    with i18n.use(language):
        out: dict[str, list[Finding]] = {}
        for f in evaluate(every_rule(), AlertsConfig(), {"acme": 24}, NOW_US):
            out.setdefault(f.rule, []).append(f)
        return out


def test_the_facts_fire_every_rule_in_both_languages_with_the_same_subjects() -> None:
    zh, en = findings("zh-CN"), findings("en")
    assert set(zh) == set(en) == {str(r) for r in Rule}
    for rule in zh:
        assert [(f.subject, f.severity) for f in zh[rule]] == [(f.subject, f.severity) for f in en[rule]]


@pytest.mark.parametrize("rule", sorted(str(r) for r in Rule))
def test_each_rule_reads_as_chinese_with_no_english_template_words(rule: str) -> None:
    for f in findings("zh-CN")[rule]:
        for text in (f.title, *f.lines):
            outside = text.split("：", 1)[-1] if rule in {"stage_failing", "channel_failing"} else text
            assert CJK.search(f.title), f.title
            leftover = ENGLISH.findall(re.sub(r"syncd [a-z]+ [a-z/]+ ?\S*|\w+\.(yaml|csv)|'[^']*'", "", outside))
            if text in f.lines and not CJK.search(text):
                continue  # a line quoting the outside world (a stage's own error, a reconciliation report)
            assert not leftover, (rule, text, leftover)


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_times_in_alerts_are_beijing_time_to_the_second_without_microseconds(language: str) -> None:
    texts = [t for fs in findings(language).values() for f in fs for t in (f.title, *f.lines)]
    stamps = [s for t in texts for s in STAMP.findall(t)]
    assert stamps
    # 2024-05-06 04:00 UTC (NOW) less 26 hours is 2024-05-05 10:00:00 in Beijing
    assert any("2024-05-05 10:00:00" in t for t in texts)
    assert not any(re.search(r"\d{2}:\d{2}:\d{2}\.\d", t) for t in texts)


def test_the_operator_example_no_pickup_reads_naturally() -> None:
    [f] = findings("zh-CN")["no_pickup"]
    assert f.title == "订单 4835（店铺 dy1）已发货但无揽收记录（圆通速递 YT7），请联系供应商"
    assert f.lines[0] == "2024-05-05 10:00:00 已交寄，至今没有揽收记录。"
    [e] = findings("en")["no_pickup"]
    assert e.title == "No pickup scan: parcel 圆通速递 YT7 of order 4835 (shop dy1)"


def test_a_deadline_alert_names_the_zone_of_its_times() -> None:
    [zh] = findings("zh-CN")["ship_deadline_breached"]
    assert "北京时间" in zh.lines[0] and "付款后 48 小时" in zh.lines[0]
    with i18n.use("en", "Europe/Berlin"):
        [en] = [f for f in evaluate(every_rule(), AlertsConfig(), {}, NOW_US) if f.rule == "ship_deadline_breached"]
    # paid 2024-05-04 02:00 UTC: 04:00 in Berlin (summer time), named by its zone
    assert "paid 2024-05-04 04:00:00" in en.lines[0] and "Europe/Berlin" in en.lines[0]


def test_notification_titles_and_footers_follow_the_language() -> None:
    with i18n.use("zh-CN"):
        head, body = _message("remind", 7, "标题", "细节", "critical", NOW_US - H, NOW_US)
        assert head == "【提醒】标题"
        assert body.split("\n")[1] == ("告警 #7 · 严重 · 自 2024-05-06 11:00:00 起未解决 · "
                                       "不再提醒：syncd alerts ack 7")
        head, body = _message("resolve", 7, "标题", "", "warning", NOW_US - H, NOW_US)
        assert (head, body) == ("【已恢复】标题",
                                "告警 #7：从 2024-05-06 11:00:00 持续到 2024-05-06 12:00:00（北京时间）。")
    with i18n.use("en"):
        head, body = _message("upgrade", 7, "title", "", "critical", NOW_US - H, NOW_US)
        assert head == "Now critical: title"
        assert body == "Alert #7 · critical · open since 2024-05-06 11:00:00 · silence it: syncd alerts ack 7"


def waiting(i: int, severity: str, body: str) -> Waiting:
    return Waiting(i, i, "open", severity, f"标题 {i}", body, NOW, None, 0, None)


def test_a_digest_of_several_notifications_is_titled_in_chinese_and_skips_lone_footers() -> None:
    group = [waiting(1, "critical", "最后一条物流记录 05-04。\n告警 #1 · 严重"),
             waiting(2, "warning", "告警 #2 · 警告"), waiting(3, "warning", "")]
    with i18n.use("zh-CN"):
        msg = render_group(group)
    assert msg.title == "syncd：3 条告警更新（严重 1、警告 2）"
    assert msg.lines[0] == "[critical] 标题 1 — 最后一条物流记录 05-04。 (#1)"
    assert msg.lines[1] == "[warning] 标题 2 (#2)"  # its body is its footer alone


def test_the_daily_digest_in_chinese() -> None:
    summary = DailySummary("2024-05-06", pulled=12, shipped=2, ship_hours=[5.0, 7.0],
                           open_alerts={"no_pickup": {"critical": 1, "warning": 2}, "some_future_rule": {"info": 1}})
    with i18n.use("zh-CN"):
        msg = render_daily(summary)
    assert msg.title == "syncd 每日汇总 2024-05-06"
    assert msg.lines == ["过去 24 小时拉取订单 12 单，已发货（已回传物流单号）2 单。",
                         "付款到回传单号：中位数 6.0 小时，90% 的订单在 6.8 小时内（共 2 单）。",
                         "物流停滞或异常的包裹：3 个。",
                         "未解决的告警：4 条：",
                         "  无揽收记录：3 条（严重 1、警告 2）",
                         "  some_future_rule：1 条（通知 1）"]
    with i18n.use("en"):
        assert render_daily(DailySummary("2024-05-06")).lines[1:] == [
            "Payment → tracking upload: no order shipped in the last 24 h.", "Parcels stalled or in trouble: 0.",
            "Open alerts: 0."]


def test_the_watch_stage_sends_chinese_alerts_with_beijing_times(rig: Rig, db: Database) -> None:
    rig.shipment(tracking_no="YT123", carrier="yuantong", created_at=NOW - 26 * H, handed_over_at=NOW - 26 * H)
    with i18n.use("zh-CN"):
        assert run_watch(rig).ok
    [message] = rig.sinks["ops"].messages
    assert message.title.endswith("已发货但无揽收记录（圆通速递 YT123），请联系供应商")
    assert message.lines[0] == "2024-05-05 10:00:00 已交寄，至今没有揽收记录。"
    assert message.lines[-1] == "告警 #1 · 严重 · 自 2024-05-06 12:00:00 起未解决 · 不再提醒：syncd alerts ack 1"


def test_build_runtime_shows_the_configured_language_and_zone(db: Database, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNCD_LANG")
    config = Config(tmp_path / "config", GlobalConfig(language="zh-CN", timezone="Asia/Tokyo"), {}, {}, {},
                    alerts_config(), {})
    settings = Settings(config_dir=tmp_path / "config", data_dir=tmp_path / "data")
    with i18n.use("en"):  # restores the test's display afterwards
        rt = build_runtime(settings, config, db, holder="t")
        rt.http.close()
        assert (i18n.active().language, i18n.active().zone.key) == ("zh-CN", "Asia/Tokyo")
        monkeypatch.setenv("SYNCD_LANG", "en")  # the CLI's override wins
        build_runtime(settings, config, db, holder="t").http.close()
        assert i18n.active().language == "en"

"""The command line in Chinese (the default) and in English (``SYNCD_LANG=en`` or ``language: en``): the text a
person reads is translated, JSON output is not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from syncd import i18n
from syncd.cli import EXIT_CHECK_FAILED, EXIT_REFUSED, main
from syncd.demo import progress_line
from syncd.sandboxrun import Progress
from tests.core.test_cli import _open_alert
from tests.core.test_cli_views import _seed


@pytest.fixture
def chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    """SYNCD_LANG unset (the conftest sets it to en): the language of syncd.yaml, zh-CN by default."""
    monkeypatch.delenv(i18n.ENV_LANG)


def test_orders_list_by_default_is_in_chinese_with_state_and_hold_reason_named(env: Path, tmp_path: Path, chinese,
                                                                               capsys):
    _seed(tmp_path)
    capsys.readouterr()
    assert main(["orders", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["#", "店铺", "订单号", "状态", "暂扣原因", "付款", "最晚发货", "供应商", "商品", "原因"]
    held = lines[3].split()
    assert held[:5] == ["2", "douyin-demo", "H2", "暂扣", "SKU"] and "未配置路由" in held and "已超时" in held


def test_orders_list_json_stays_the_same_in_chinese(env: Path, tmp_path: Path, chinese, capsys):
    _seed(tmp_path)
    capsys.readouterr()
    assert main(["orders", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["state"], r["hold_reason"]) for r in rows] == [("new", None), ("held", "unmapped_sku"), ("placed", None)]


def test_orders_show_in_chinese_labels_every_part(env: Path, tmp_path: Path, chinese, capsys):
    _seed(tmp_path)
    capsys.readouterr()
    assert main(["orders", "show", "douyin-demo/H2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["订单 H2（店铺 douyin-demo，#2）", "  状态          暂扣（SKU 未配置路由）"]
    assert lines[3].startswith("  付款          在线支付，付款时间 ")
    assert "暂扣记录：" in lines and "操作记录：" in lines and "供应商订单：" in lines
    assert lines[lines.index("包裹：") + 1] == "  （无）"
    assert main(["orders", "show", "douyin-demo/P1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    parcel_header = lines[lines.index("包裹：") + 1]
    assert parcel_header.split() == ["快递公司", "物流单号", "物流状态", "揽收", "已签收", "最近轨迹", "平台回传"]
    assert "运输中" in lines[lines.index("包裹：") + 3]


def test_a_refused_manual_action_says_why_in_chinese(env: Path, tmp_path: Path, chinese, capsys):
    _seed(tmp_path)
    capsys.readouterr()
    assert main(["orders", "release", "douyin-demo/P1"]) == EXIT_REFUSED
    assert capsys.readouterr().err.strip() == "syncd: 订单 P1（店铺 douyin-demo）状态为“已下单”，未被暂扣，无需解除"


def test_status_alerts_and_check_config_in_chinese(env: Path, tmp_path: Path, chinese, capsys):
    _seed(tmp_path)
    capsys.readouterr()
    assert main(["status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("syncd 状态（") and "订单：" in lines and "暂扣中：" in lines
    assert "  SKU 未配置路由             1" in lines
    assert "1 个供应商订单待付款：syncd suppliers unpaid" in lines
    assert main(["alerts"]) == 0
    assert capsys.readouterr().out == "没有未关闭的告警\n"
    _open_alert(tmp_path)
    assert main(["alerts"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("#1      严重     no_pickup") and first.endswith(" 起）")
    assert main(["check-config"]) == 0
    assert capsys.readouterr().out.endswith("：配置无误 — 3 个店铺，4 个供应商，11 条 SKU 路由\n")
    (env / "syncd.yaml").write_text("intervals:\n  pul: 5\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        main(["check-config"])
    assert exc.value.code == EXIT_CHECK_FAILED
    assert capsys.readouterr().err.splitlines()[-1] == f"{env} 及环境变量 中有 1 处配置问题"


def test_language_en_in_syncd_yaml_shows_english_without_syncd_lang(env: Path, tmp_path: Path, chinese, capsys):
    _seed(tmp_path)
    with (env / "syncd.yaml").open("a", encoding="utf-8") as fh:
        fh.write("\nlanguage: en\n")
    capsys.readouterr()
    assert main(["orders", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[0].split()[:4] == ["#", "shop", "order", "state"]
    assert main(["orders", "release", "douyin-demo/P1"]) == EXIT_REFUSED
    assert capsys.readouterr().err.strip() == "syncd: order douyin-demo/P1 is placed, not held: nothing to release"


def test_syncd_lang_en_wins_over_the_chinese_default(env: Path, tmp_path: Path, capsys):
    _seed(tmp_path)
    capsys.readouterr()
    assert main(["alerts"]) == 0
    assert capsys.readouterr().out == "no open alert\n"


def test_demo_progress_line_in_chinese():
    p = Progress(total=300, new=0, routed=1, placed=2, shipped=290, held=5, cancelled=2, tracking=310, uploaded=305)
    with i18n.use("zh-CN"):
        line = progress_line(p)
    assert line == ("订单    300 | 新订单     0 | 已分配     1 | 已下单     2 | 已发货   290 | 暂扣    5 | "
                    "已取消    2 || 包裹：有物流单号   310，已回传平台   305")


def test_alerts_ack_refusals_in_chinese(env: Path, tmp_path: Path, chinese, capsys):
    assert main(["db", "upgrade"]) == 0
    alert_id = _open_alert(tmp_path)
    capsys.readouterr()
    assert main(["alerts", "ack", "999"]) != 0
    assert capsys.readouterr().err.strip() == "syncd: 没有告警 #999；未关闭的告警请用 syncd alerts 查看"
    assert main(["alerts", "ack", str(alert_id), "--by", "xiaowang"]) == 0
    assert capsys.readouterr().out.startswith(f"告警 #{alert_id} 已确认，不再提醒（")


def test_suppliers_unpaid_in_chinese_has_chinese_headers(env: Path, tmp_path: Path, chinese, capsys):
    _seed(tmp_path)
    capsys.readouterr()
    assert main(["suppliers", "unpaid"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["供应商", "供应商订单号", "订单号", "已下单", "备注"]
    assert lines[2].split()[:3] == ["sandbox-1688", "2938475610001", "douyin-demo/P1"]

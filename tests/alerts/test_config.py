"""alerts.yaml: defaults from the reference, unknown keys refused, errors a seller can act on."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import ValidationError

from syncd import registry
from syncd.alerts.config import AlertsConfig, province_key
from syncd.alerts.lifecycle import quiet_until
from syncd.config.loader import load_config
from syncd.config.models import StrictModel
from syncd.domain import Severity
from syncd.errors import ConfigErrors

SANDBOX = Path(__file__).resolve().parents[2] / "config" / "sandbox"
ENV = {"SYNCD_SANDBOX_URL": "http://127.0.0.1:1"}


class FakeChannel(StrictModel):
    id: str
    kind: Literal["fake"]


@pytest.fixture
def cfg_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    registry.load_builtin()
    monkeypatch.setitem(registry.SINKS, "fake", registry.SinkPlugin("fake", FakeChannel, lambda c, ctx: None))  # type: ignore[arg-type,return-value]
    d = tmp_path / "config"
    shutil.copytree(SANDBOX, d)
    return d


def _errors(d: Path, yaml_text: str) -> list[str]:
    (d / "alerts.yaml").write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigErrors) as exc:
        load_config(d, env=ENV)
    return [str(e) for e in exc.value.errors]


def validate(**values: Any) -> AlertsConfig:
    return AlertsConfig.model_validate({"channels": [{"id": "ops", "kind": "fake"}, {"id": "boss", "kind": "fake"}],
                                       **values})


def test_defaults_follow_the_reference_thresholds() -> None:
    cfg = AlertsConfig()
    assert (cfg.default_ship_hours, cfg.ship_deadline_warn_hours) == (48, 12)
    assert (cfg.no_pickup_warn_hours, cfg.no_pickup_critical_hours) == (12, 20)
    assert (cfg.stalled_after_pickup_hours, cfg.stalled_in_transit_hours) == (24, 48)
    assert cfg.stall_hours("新疆维吾尔自治区") == 120 and cfg.stall_hours("青海省") == 72
    assert cfg.stall_hours("浙江省") == 48 and cfg.stall_hours("") == 48
    assert cfg.shortest_stall_hours == 48
    assert cfg.remind_after("critical") == timedelta(hours=2) and cfg.remind_after("info") is None
    assert cfg.daily_time == time(9, 0)
    assert "no_pickup" in cfg.enabled_rules


def test_a_full_alerts_yaml_loads_with_the_channels(cfg_dir: Path) -> None:
    (cfg_dir / "alerts.yaml").write_text(
        "channels:\n  - {id: ops, kind: fake}\n  - {id: boss, kind: fake}\n"
        "routing:\n  ops: {quiet_hours: '23:00-08:00'}\n  boss: {min_severity: critical}\n"
        "escalate_to: [boss]\nheld_hours: 6\nimmediate_hold_reasons: [supplier_rejected]\n"
        "remind_every_hours: {warning: 4}\ndisabled_rules: [duplicate_tracking]\n", encoding="utf-8")
    cfg = load_config(cfg_dir, env=ENV)
    assert set(cfg.channels) == {"ops", "boss"}
    assert cfg.alerts.routing_for("boss").min_severity == Severity.CRITICAL
    assert cfg.alerts.routing_for("unlisted").quiet_hours is None
    assert cfg.alerts.held_hours == 6 and cfg.alerts.remind_after("warning") == timedelta(hours=4)
    assert "duplicate_tracking" not in cfg.alerts.enabled_rules


def test_every_problem_is_reported_with_its_key_path(cfg_dir: Path) -> None:
    errs = _errors(cfg_dir, (
        "channels:\n  - {id: ops, kind: fake}\n"
        "routing:\n  nobody: {}\n"
        "no_pickup_warn_hours: 12\nno_pickup_critical_hours: 10\n"
        "held_hour: 3\n"
        "immediate_hold_reasons: [out_of_stok]\n"
        "escalate_to: [boss]\n"
        "disabled_rules: [no_pikup]\n"
        "daily_digest_at: '25:00'\n"))
    assert "alerts.yaml: held_hour: unknown key (typo?); did you mean 'held_hours'?" in errs
    assert "alerts.yaml: routing: channel 'nobody' is not in channels (ids: ops)" in errs
    assert "alerts.yaml: escalate_to: channel 'boss' is not in channels (ids: ops)" in errs
    assert ("alerts.yaml: no_pickup_critical_hours: must not be below no_pickup_warn_hours (12), found 10"
            in errs)
    assert "alerts.yaml: daily_digest_at: expected a time of day as HH:MM in Beijing time (e.g. 09:00), found '25:00'" \
        in errs
    assert any(e.startswith("alerts.yaml: immediate_hold_reasons.0: ") and "out_of_stok" in e for e in errs)
    assert any(e.startswith("alerts.yaml: disabled_rules.0: ") and "no_pikup" in e for e in errs)


def test_quiet_hours_must_be_a_range(cfg_dir: Path) -> None:
    errs = _errors(cfg_dir, "channels:\n  - {id: ops, kind: fake}\nrouting:\n  ops: {quiet_hours: '2300'}\n")
    assert errs == ["alerts.yaml: routing.ops.quiet_hours: expected quiet hours as HH:MM-HH:MM in Beijing time "
                    "(e.g. 23:00-08:00), found '2300'"]
    with pytest.raises(ValidationError, match="start and end at the same time; remove the key"):
        validate(routing={"ops": {"quiet_hours": "08:00-08:00"}})


def test_a_province_in_two_tiers_is_refused() -> None:
    with pytest.raises(ValidationError, match="province '新疆维吾尔自治区' is listed in two tiers"):
        validate(remote_provinces=[{"hours": 72, "provinces": ["新疆"]},
                                   {"hours": 120, "provinces": ["新疆维吾尔自治区"]}])


def test_a_hold_reason_cannot_be_both_immediate_and_quiet() -> None:
    with pytest.raises(ValidationError, match="hold reason manual cannot both alert at once"):
        validate(immediate_hold_reasons=["manual"])


def test_province_names_match_with_or_without_their_suffix() -> None:
    assert province_key("宁夏回族自治区") == province_key("宁夏") == "宁夏"
    assert province_key("广西壮族自治区") == "广西" and province_key("上海市") == "上海"


def _utc(h: int, m: int = 0) -> datetime:  # Beijing hh:mm on 2024-05-06
    return datetime(2024, 5, 6, h, m, tzinfo=UTC) - timedelta(hours=8)


def test_quiet_hours_crossing_midnight_delay_until_their_end_and_critical_bypasses() -> None:
    cfg = validate(routing={"ops": {"quiet_hours": "23:00-08:00"}})
    assert quiet_until(cfg, "ops", "warning", _utc(22, 59)) == _utc(22, 59)
    assert quiet_until(cfg, "ops", "warning", _utc(23, 0)) == _utc(8) + timedelta(days=1)
    assert quiet_until(cfg, "ops", "warning", _utc(7, 59)) == _utc(8)
    assert quiet_until(cfg, "ops", "warning", _utc(8, 0)) == _utc(8)
    assert quiet_until(cfg, "ops", "critical", _utc(2)) == _utc(2)
    assert quiet_until(cfg, "boss", "warning", _utc(2)) == _utc(2)  # no quiet hours there
    strict = validate(routing={"ops": {"quiet_hours": "12:00-14:00", "critical_bypasses_quiet_hours": False}})
    assert quiet_until(strict, "ops", "critical", _utc(13)) == _utc(14)

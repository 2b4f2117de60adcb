"""``alerts.yaml``: the channels, who hears what and when, and the rule thresholds.

Every key has a default taken from the reference (§D.3), so an ``alerts.yaml`` with only ``channels:`` works.
Times of day are Beijing time (Asia/Shanghai), as sellers read them. Example::

    channels:
      - {id: ops, kind: dingtalk, access_token: "${DINGTALK_TOKEN}", secret: "${DINGTALK_SECRET}"}
      - {id: boss, kind: wecom, key: "${WECOM_KEY}"}
    routing:
      ops: {quiet_hours: "23:00-08:00"}          # critical alerts still come through at night
      boss: {min_severity: critical}
    escalate_to: [boss]
    no_pickup_warn_hours: 12
    remote_provinces:
      - {hours: 72, provinces: [甘肃, 青海, 宁夏, 内蒙古, 海南]}
      - {hours: 120, provinces: [新疆, 西藏]}
"""

from __future__ import annotations

from datetime import time, timedelta
from typing import Annotated, Any

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from syncd.alerts.names import Rule
from syncd.config.models import StrictModel, parse_hhmm
from syncd.domain import Severity
from syncd.lifecycle import HoldReason

Hours = Annotated[float, Field(gt=0, le=24 * 90)]

SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}

_PROVINCE_SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "特别行政区", "省", "市")


def province_key(name: str) -> str:
    """"新疆维吾尔自治区" and "新疆" are the same province; "甘肃省" and "甘肃" too."""
    key = "".join(name.split())
    for suffix in _PROVINCE_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)]
    return key


def parse_quiet_hours(text: str) -> tuple[time, time]:
    """``"23:00-08:00"`` → (start, end); the range may cross midnight."""
    parts = text.split("-")
    if len(parts) != 2:
        raise ValueError(f"expected quiet hours as HH:MM-HH:MM (e.g. 23:00-08:00), found {text!r}")
    start, end = parse_hhmm(parts[0]), parse_hhmm(parts[1])
    if start == end:
        raise ValueError(f"quiet hours {text!r} start and end at the same time")
    return start, end


def _custom(message: str) -> PydanticCustomError:
    return PydanticCustomError("alerts_config", message)


class ChannelRouting(StrictModel):
    """What one channel hears, and when (``routing: {<channel id>: ...}``)."""

    min_severity: Severity = Severity.INFO
    """Alerts below this severity are not sent to the channel."""
    quiet_hours: str | None = None
    """Beijing time, e.g. "23:00-08:00": messages wait until the end; the alerts' own timers keep running."""
    critical_bypasses_quiet_hours: bool = True

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                parse_quiet_hours(v)
            except ValueError as err:
                same = "same time" in str(err)
                raise _custom("quiet hours start and end at the same time; remove the key to have none" if same
                              else "expected quiet hours as HH:MM-HH:MM in Beijing time (e.g. 23:00-08:00)") from None
        return v

    @property
    def quiet_window(self) -> tuple[time, time] | None:
        return parse_quiet_hours(self.quiet_hours) if self.quiet_hours else None


class RemindHours(StrictModel):
    """Hours between two reminders of an alert nobody acknowledged, per severity (0: never remind)."""

    info: Annotated[float, Field(ge=0, le=24 * 30)] = 0
    warning: Annotated[float, Field(ge=0, le=24 * 30)] = 8
    critical: Annotated[float, Field(ge=0, le=24 * 30)] = 2


class RemoteTier(StrictModel):
    """Provinces where parcels may go this many hours without a scan before they count as stalled."""

    hours: Hours
    provinces: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]


DEFAULT_REMOTE = [
    RemoteTier(hours=72, provinces=["甘肃", "青海", "宁夏", "内蒙古", "海南"]),
    RemoteTier(hours=120, provinces=["新疆", "西藏"]),
]


class AlertsConfig(StrictModel):
    """``alerts.yaml``. ``channels`` are validated one by one against the channel kind's own model by the
    config loader (syncd.registry.SINKS); the loader keeps the validated models in ``Config.channels``."""

    channels: list[dict[str, Any]] = Field(default_factory=list)
    routing: dict[str, ChannelRouting] = Field(default_factory=dict)
    """Per channel id; a channel not listed hears every alert at any hour."""
    disabled_rules: list[Rule] = Field(default_factory=list)

    # -- ship deadlines (the platform's ship_by; else paid time + default_ship_hours)
    default_ship_hours: Hours = 48
    ship_deadline_warn_hours: Hours = 12
    """Warn this long before the deadline (36 h after payment with the 48 h default)."""

    # -- suppliers and holds
    supplier_unpaid_hours: Hours = 2
    """An API supplier order still awaiting payment this long after it was placed."""
    held_hours: Hours = 4
    """An order on hold this long needs a person."""
    immediate_hold_reasons: list[HoldReason] = Field(
        default_factory=lambda: [HoldReason.TRACKING_REJECTED, HoldReason.SUPPLIER_REJECTED])
    """Holds that alert at once (critical)."""
    quiet_hold_reasons: list[HoldReason] = Field(default_factory=lambda: [HoldReason.NOT_READY, HoldReason.MANUAL])
    """Holds that never alert: unpaid orders waiting for the buyer, holds a person placed by hand."""

    # -- parcels (hours without a scan)
    no_pickup_warn_hours: Hours = 12
    no_pickup_critical_hours: Hours = 20
    stalled_after_pickup_hours: Hours = 24
    stalled_in_transit_hours: Hours = 48
    remote_provinces: list[RemoteTier] = Field(default_factory=lambda: list(DEFAULT_REMOTE))
    stalled_critical_extra_hours: Annotated[float, Field(ge=0, le=24 * 30)] = 24
    """A stalled parcel turns critical this many hours after it first counted as stalled."""
    tracking_unread_hours: Hours = 24
    """A parcel handed over this long ago whose tracking no source has read yet (the other parcel rules wait
    for a reading, so without this one such a parcel would never alert)."""

    # -- the daemon's own health
    token_warning_days: Annotated[float, Field(gt=0, le=90)] = 7
    stage_failures: Annotated[int, Field(ge=1, le=1000)] = 3
    """A stage alerts after this many failed runs in a row."""
    file_alert_hours: Hours = 24
    """A supplier file with rejected rows alerts for this long after it was read (or until acknowledged)."""
    channel_failing_attempts: Annotated[int, Field(ge=1, le=100)] = 3
    """An alert channel that failed this many times in a row is reported through the other channels."""

    # -- lifecycle and delivery
    remind_every_hours: RemindHours = RemindHours()
    escalate_after_hours: Hours = 12
    escalate_min_severity: Severity = Severity.CRITICAL
    escalate_to: list[str] = Field(default_factory=list)
    """Channel ids that also hear alerts still open and unacknowledged after escalate_after_hours."""
    rejected_retry_minutes: Annotated[float, Field(ge=1, le=24 * 60)] = 60
    """A channel that refuses messages (bad key, signature) is tried again after this long."""
    daily_digest_at: str | None = "09:00"
    """Beijing time of the daily summary; null for none."""
    daily_digest_channels: list[str] | None = None
    """Channel ids that get the daily summary (default: every channel)."""
    keep_history_days: Annotated[int, Field(ge=2, le=3650)] = 30
    """Delivered messages and resolved alerts are forgotten after this many days."""

    @field_validator("routing", "escalate_to", "daily_digest_channels")
    @classmethod
    def _known_channels(cls, v: Any, info: ValidationInfo) -> Any:
        if v is None:
            return v
        channels = info.data.get("channels") or []
        known = {str(c.get("id") or c.get("kind")) for c in channels if isinstance(c, dict)}
        unknown = sorted(str(k) for k in v if k not in known)
        if unknown:
            listed = ", ".join(sorted(known)) or "none configured"
            raise _custom(f"channel {', '.join(map(repr, unknown))} is not in channels (ids: {listed})")
        return v

    @field_validator("daily_digest_at")
    @classmethod
    def _daily(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                parse_hhmm(v)
            except ValueError:
                raise _custom("expected a time of day as HH:MM in Beijing time (e.g. 09:00)") from None
        return v

    @field_validator("no_pickup_critical_hours")
    @classmethod
    def _pickup_order(cls, v: float, info: ValidationInfo) -> float:
        warn = info.data.get("no_pickup_warn_hours")
        if warn is not None and v < warn:
            raise _custom(f"must not be below no_pickup_warn_hours ({warn:g})")
        return v

    @field_validator("remote_provinces")
    @classmethod
    def _tiers(cls, v: list[RemoteTier]) -> list[RemoteTier]:
        seen: dict[str, float] = {}
        for tier in v:
            for p in tier.provinces:
                key = province_key(p)
                if key in seen:
                    raise _custom(f"province {p!r} is listed in two tiers ({seen[key]:g} h and {tier.hours:g} h)")
                seen[key] = tier.hours
        return v

    @model_validator(mode="after")
    def _hold_lists(self) -> AlertsConfig:
        both = sorted(str(r) for r in self.immediate_hold_reasons if r in set(self.quiet_hold_reasons))
        if both:
            raise _custom(f"hold reason {', '.join(both)} cannot both alert at once (immediate_hold_reasons) and "
                          "never alert (quiet_hold_reasons): remove it from one of them")
        return self

    # -- helpers for the rules and the lifecycle

    def routing_for(self, channel: str) -> ChannelRouting:
        return self.routing.get(channel) or ChannelRouting()

    @property
    def enabled_rules(self) -> frozenset[str]:
        off = set(self.disabled_rules)
        return frozenset(r.value for r in Rule if r not in off)

    def stall_hours(self, province: str) -> float:
        """Hours in transit without a scan before a parcel to ``province`` counts as stalled."""
        key = province_key(province) if province else ""
        if key:
            for tier in self.remote_provinces:
                if any(province_key(p) == key for p in tier.provinces):
                    return tier.hours
        return self.stalled_in_transit_hours

    @property
    def shortest_stall_hours(self) -> float:
        return min([self.stalled_in_transit_hours, *(t.hours for t in self.remote_provinces)])

    def remind_after(self, severity: str) -> timedelta | None:
        hours = float(getattr(self.remind_every_hours, str(severity), 0) or 0)
        return timedelta(hours=hours) if hours > 0 else None

    @property
    def daily_time(self) -> time | None:
        return parse_hhmm(self.daily_digest_at) if self.daily_digest_at else None

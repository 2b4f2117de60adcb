"""``tracking.yaml`` for Kuaidi100 (快递100): reference/suppliers-tracking-alerts.md §C.1, §C.3, §C.6.

Besides the provider's own keys the file holds the core's tracking keys (``mode``,
``daily_query_budget``, ``callback_base_url``, ``remote_provinces``): the core reads them from this model.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator

from syncd.config.models import StrictModel

DEFAULT_BASE_URL = "https://poll.kuaidi100.com"
_URL = re.compile(r"^https?://[^\s/]+")


def _as_text(value: object) -> object:
    # A bare number in YAML would fail as a SecretStr and the loader would echo it in the error.
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


Secret = Annotated[SecretStr, BeforeValidator(_as_text)]


def _http_url(value: str) -> str:
    if not _URL.match(value):
        raise ValueError("expected an http(s) URL")
    return value.rstrip("/")


class Kuaidi100Config(StrictModel):
    """The Kuaidi100 account and how syncd follows parcels with it."""

    provider: Literal["kuaidi100"]
    customer: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^\S+$")]
    """The company number (授权码 / customer) from the Kuaidi100 enterprise console."""
    key: Secret
    """The authorisation key (授权key): signs real-time queries and authorises subscriptions."""
    salt: Secret | None = None
    """Random text (at most 32 characters) Kuaidi100 signs every push with; required in ``subscribe`` mode."""
    base_url: str = DEFAULT_BASE_URL
    resultv2: Literal[0, 1, 4, 8] = 4
    """4 (the default) adds the high-level status codes: 102 待揽收 and 202 超时未更新 need it."""
    calls_per_second: Annotated[float, Field(gt=0, le=100)] = 10
    """syncd's own budget for real-time queries and subscriptions; Kuaidi100 publishes none (§C.6)."""

    # ---- read by the core ------------------------------------------------------------------------
    mode: Literal["poll", "subscribe"] = "poll"
    """``poll``: real-time queries on a schedule; ``subscribe``: Kuaidi100 pushes to ``callback_base_url``."""
    daily_query_budget: Annotated[int, Field(ge=1)] = 2000
    """Real-time queries the core may spend per day (every query is billed)."""
    callback_base_url: str | None = None
    """Where Kuaidi100 reaches this daemon from the Internet; required in ``subscribe`` mode."""
    remote_provinces: list[str] = Field(default_factory=list)
    """Provinces with longer stall thresholds (e.g. 新疆, 西藏); the core's alert rules read them."""

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("callback_base_url")
    @classmethod
    def _callback_base_url(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value)

    @model_validator(mode="after")
    def _salt_and_subscribe_mode(self) -> Kuaidi100Config:
        # Checked here, not in a field validator: a field error would show the salt itself.
        if self.salt is not None and not 1 <= len(self.salt.get_secret_value()) <= 32:
            raise ValueError(f"salt: expected 1 to 32 characters, found {len(self.salt.get_secret_value())}")
        if self.mode == "subscribe":
            missing = [k for k in ("callback_base_url", "salt") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"mode 'subscribe' needs {' and '.join(missing)}, found none")
        return self

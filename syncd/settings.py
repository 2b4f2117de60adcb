"""Process settings from the environment (``SYNCD_*``); what operators edit lives in YAML instead."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from syncd.errors import ConfigError, ConfigErrors
from syncd.i18n import _

Port = Annotated[int, Field(ge=0, le=65535)]  # 0: any free port (tests)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
ENV_FILE = "environment"
"""The ``file`` of a ConfigError about a SYNCD_* variable."""
_HIDDEN_SETTINGS = {"database_url", "secret_key"}  # may hold a password or a key: never echoed


class Settings(BaseSettings):
    """``SYNCD_CONFIG_DIR``, ``SYNCD_DATA_DIR``, ``SYNCD_DATABASE_URL``, ``SYNCD_ADMIN_HOST``/``_PORT``,
    ``SYNCD_CALLBACK_HOST``/``_PORT``..."""

    model_config = SettingsConfigDict(env_prefix="SYNCD_", extra="ignore")

    config_dir: Path = Path("config")
    data_dir: Path = Path("var")
    database_url: str | None = None
    log_level: str = "INFO"  # one of LOG_LEVELS, any case
    log_format: Literal["text", "json"] = "text"
    # The admin port (/healthz, /readyz, /metrics) is for the operator and the orchestrator only: loopback by
    # default (the container sets 0.0.0.0 and publishes it on the host's 127.0.0.1). SYNCD_HTTP_HOST/_PORT,
    # the names of the single listener before, still work.
    admin_host: str = "127.0.0.1"
    admin_port: Port = 8080
    http_host: str | None = None  # the old name of admin_host
    http_port: Port | None = None  # the old name of admin_port
    # The callback port: only what outside services must reach (Kuaidi100 and webhook suppliers' pushes).
    callback_host: str = "127.0.0.1"
    callback_port: Port = 8081
    instance: str | None = None  # name of this replica in leases and claims; default host-pid
    # Fernet key(s), comma-separated, newest first: platform tokens sealed at rest (docs/secrets.md)
    secret_key: SecretStr | None = None

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        if v.strip().upper() not in LOG_LEVELS:
            raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}")
        return v.strip().upper()

    @field_validator("database_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        if v is None or not v.strip():
            return None
        try:
            make_url(v.strip())
        except ArgumentError:  # the message would quote the URL, password included
            raise ValueError("expected a database URL such as postgresql+psycopg://user:password@host:5432/syncd "
                             "or sqlite:////data/syncd.db") from None
        return v.strip()

    @model_validator(mode="after")
    def _old_names(self) -> Settings:
        """SYNCD_HTTP_HOST / SYNCD_HTTP_PORT still set the admin port, unless the new names are given too."""
        if self.http_host is not None and "admin_host" not in self.model_fields_set:
            self.admin_host = self.http_host
        if self.http_port is not None and "admin_port" not in self.model_fields_set:
            self.admin_port = self.http_port
        return self

    def db_url(self) -> str:
        """The database URL; default is a SQLite file under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'syncd.db').resolve()}"


def _variable(field: str) -> str:
    return f"SYNCD_{field.upper()}"


def _problems(err: ValidationError) -> list[ConfigError]:
    out = []
    for e in err.errors():
        field = str(e["loc"][0]) if e["loc"] else ""
        name = _variable(field) if field else "SYNCD_*"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "literal_error":
            msg = _("expected {values}").format(values=msg.removeprefix("Input should be "))
        found = e.get("input")
        if field not in _HIDDEN_SETTINGS and isinstance(found, str):
            msg += _(", found {value}").format(value=repr(found))
        out.append(ConfigError(ENV_FILE, name, msg))
    return out


def misspelt_variables(env: Mapping[str, str]) -> list[ConfigError]:
    """``SYNCD_*`` variables that are no setting but look like one (``SYNCD_LOG_FROMAT``): silently ignored
    otherwise. Others (``SYNCD_SANDBOX_URL``, read by ``${...}`` in the config files) are left alone."""
    known = [_variable(f) for f in Settings.model_fields]
    out = []
    for name in sorted(env):
        upper = name.upper()
        if not upper.startswith("SYNCD_") or upper in known:
            continue
        close = difflib.get_close_matches(upper, known, n=1, cutoff=0.85)
        if close:
            out.append(ConfigError(ENV_FILE, name, _("not a setting syncd reads; did you mean {name}?").format(
                name=close[0])))
    return out


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """The settings from ``SYNCD_*`` variables; ConfigErrors (``environment: SYNCD_X: what is wrong``) listing
    every problem instead of a pydantic traceback. ``env`` replaces the process environment (tests)."""
    source = os.environ if env is None else env
    errors = misspelt_variables(source)
    settings = None
    try:
        if env is None:
            settings = Settings()
        else:
            values = {f: env[_variable(f)] for f in Settings.model_fields if _variable(f) in env}
            settings = Settings.model_validate(values)
    except ValidationError as err:
        errors.extend(_problems(err))
    if errors or settings is None:
        raise ConfigErrors(errors)
    return settings

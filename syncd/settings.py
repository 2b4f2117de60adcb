"""Process settings from the environment (``SYNCD_*``); what operators edit lives in YAML instead."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """``SYNCD_CONFIG_DIR``, ``SYNCD_DATA_DIR``, ``SYNCD_DATABASE_URL``, ``SYNCD_ADMIN_HOST``/``_PORT``,
    ``SYNCD_CALLBACK_HOST``/``_PORT``..."""

    model_config = SettingsConfigDict(env_prefix="SYNCD_", extra="ignore")

    config_dir: Path = Path("config")
    data_dir: Path = Path("var")
    database_url: str | None = None
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    # The admin port (/healthz, /readyz, /metrics) is for the operator and the orchestrator only: loopback by
    # default (the container sets 0.0.0.0 and publishes it on the host's 127.0.0.1). SYNCD_HTTP_HOST/_PORT,
    # the names of the single listener before, still work.
    admin_host: str = "127.0.0.1"
    admin_port: int = 8080
    http_host: str | None = None  # the old name of admin_host
    http_port: int | None = None  # the old name of admin_port
    # The callback port: only what outside services must reach (Kuaidi100 and webhook suppliers' pushes).
    callback_host: str = "127.0.0.1"
    callback_port: int = 8081
    instance: str | None = None  # name of this replica in leases and claims; default host-pid
    # Fernet key(s), comma-separated, newest first: platform tokens sealed at rest (docs/secrets.md)
    secret_key: SecretStr | None = None

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

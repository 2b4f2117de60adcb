"""Process settings from the environment (``SYNCD_*``); what operators edit lives in YAML instead."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """``SYNCD_CONFIG_DIR``, ``SYNCD_DATA_DIR``, ``SYNCD_DATABASE_URL``, ``SYNCD_HTTP_HOST``/``_PORT``..."""

    model_config = SettingsConfigDict(env_prefix="SYNCD_", extra="ignore")

    config_dir: Path = Path("config")
    data_dir: Path = Path("var")
    database_url: str | None = None
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    http_port: int = 8080
    # every interface: the container publishes the port, and storefront/tracking callbacks arrive on it
    http_host: str = "0.0.0.0"  # noqa: S104
    instance: str | None = None  # name of this replica in leases and claims; default host-pid
    # Fernet key(s), comma-separated, newest first: platform tokens sealed at rest (docs/secrets.md)
    secret_key: SecretStr | None = None

    def db_url(self) -> str:
        """The database URL; default is a SQLite file under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'syncd.db').resolve()}"

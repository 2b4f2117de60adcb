"""The console's settings, from the environment (``SYNCD_CONSOLE_*``)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from syncd.console.auth import BadHash, PasswordHash


class ConsoleSettings(BaseSettings):
    """How people sign in to the console.

    - ``SYNCD_CONSOLE_PASSWORD_HASH``: ``syncd console hash-password`` prints it; signs in as ``SYNCD_CONSOLE_USER``
      (default ``admin``, the name the audit log records).
    - ``SYNCD_CONSOLE_TRUSTED_HEADER`` (e.g. ``X-Forwarded-User``): a reverse proxy that signs people in names the
      user in this header; honoured only from ``SYNCD_CONSOLE_TRUSTED_PROXIES`` (default loopback). The proxy must
      drop the header from its clients' requests.
    - ``SYNCD_CONSOLE_SECURE_COOKIE``: mark the session cookie ``Secure`` (also when the request came over https,
      or a trusted proxy says ``X-Forwarded-Proto: https``).
    Neither a hash nor a header: the console answers only its sign-in page, which says how to set one.
    """

    model_config = SettingsConfigDict(env_prefix="SYNCD_CONSOLE_", extra="ignore", hide_input_in_errors=True)

    password_hash: SecretStr | None = None
    user: str = Field(default="admin", min_length=1, max_length=64)
    trusted_header: str | None = None
    trusted_proxies: str = "127.0.0.1,::1"  # comma-separated addresses
    secure_cookie: bool = False
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)

    @field_validator("password_hash")
    @classmethod
    def _hash(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or not v.get_secret_value().strip():
            return None
        try:
            PasswordHash.parse(v.get_secret_value())
        except BadHash as err:
            raise ValueError(str(err)) from None  # the message never quotes the value
        return v

    @field_validator("trusted_header")
    @classmethod
    def _header(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        if not all(c.isalnum() or c == "-" for c in v.strip()):
            raise ValueError("expected a header name such as X-Forwarded-User")
        return v.strip().lower()

    @property
    def proxies(self) -> frozenset[str]:
        """The addresses a trusted header is honoured from."""
        return frozenset(p.strip() for p in self.trusted_proxies.split(",") if p.strip())

    @property
    def enabled(self) -> bool:
        """Whether anyone can sign in."""
        return self.password_hash is not None or self.trusted_header is not None

"""The one error tree of syncd.

::

    SyncdError
    ├── ConfigError            the operator must fix a file or a setting (file, key path, message)
    ├── TransientError         retry with backoff; carries retry_after when the other side gave one
    │   └── RateLimitedError   flow control / quota: back off for at least retry_after
    ├── FatalError             stop this unit of work; never retried automatically
    │   ├── AuthError          token expired or invalid: refresh once, then FatalError for the shop
    │   │   └── ReauthorizationRequired   a person must re-authorise the shop (revoked, refresh expired)
    │   └── ProtocolError      the other side answered something we cannot read (malformed body)
    ├── RejectedError          the other side said no for a business reason: hold with its message
    │   └── NotFoundError      what an operator named does not exist (the CLI's exit code 4)
    └── SkippableError         one bad record (an order, a CSV row): set aside with the reason, go on

Programming errors (TypeError, KeyError in our own code...) are never caught into retries.
Messages never contain secrets, tokens, signatures, full phone numbers or addresses.
"""

from __future__ import annotations


class SyncdError(Exception):
    """Base of every error syncd raises on purpose."""


class ConfigError(SyncdError):
    """A configuration problem; ``str()`` is ``file: key.path: message``."""

    def __init__(self, file: str, path: str, message: str) -> None:
        self.file = file
        self.path = path
        self.message = message
        super().__init__(f"{file}: {path or '(top)'}: {message}")


class ConfigErrors(SyncdError):
    """Every configuration problem found in one pass."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class TransientError(SyncdError):
    """Network failure, timeout, 5xx, 'system busy': try again later."""

    def __init__(self, message: str, *, retry_after: float | None = None, code: str | None = None) -> None:
        self.retry_after = retry_after
        self.code = code
        super().__init__(message)


class RateLimitedError(TransientError):
    """The other side applied flow control; wait at least ``retry_after`` seconds."""


class FatalError(SyncdError):
    """Not retried automatically."""


class AuthError(FatalError):
    """Access token expired or not accepted: refresh once and retry."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        self.code = code
        super().__init__(message)


class ReauthorizationRequired(AuthError):
    """A person must authorise the shop again; the shop is paused until then."""


class ProtocolError(FatalError):
    """An answer we cannot interpret (not JSON, missing fields, wrong types)."""


class RejectedError(SyncdError):
    """A business refusal from the other side; carries the platform's code and message."""

    def __init__(self, message: str, *, code: str | None = None, platform_message: str | None = None) -> None:
        self.code = code
        self.platform_message = platform_message
        super().__init__(message)


class OutOfStockError(RejectedError):
    """A supplier refused to create an order for want of stock (1688's 500_006 库存不足, a webhook supplier's 422
    ``out_of_stock``): nothing was created, and the order stands as after a short stock check — its lines go to
    the route's fallback supplier, else it is held out of stock and checked again until the goods are back."""


class NotFoundError(RejectedError):
    """What an operator named (an order, an alert, a batch, a shop, a channel) does not exist."""


class SkippableError(SyncdError):
    """One bad record; the caller sets it aside with ``where`` and the reason and goes on."""

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}")

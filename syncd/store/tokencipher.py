"""Platform tokens at rest: sealed with Fernet under keys from ``SYNCD_SECRET_KEY`` (docs/secrets.md).

``SYNCD_SECRET_KEY`` holds one or more Fernet keys, comma-separated, newest first. New values are sealed
with the newest; every key is tried when reading (:class:`cryptography.fernet.MultiFernet`), so a key can
be rotated without a stop: put the new key in front, restart, run ``syncd secrets rotate`` (every row
re-sealed with the newest key), then drop the old key.

A sealed value is stored as ``fernet:`` + the Fernet token; anything else is a value from before
encryption (or written while no key was set) and is read as it is, then sealed at its next write (or by
``syncd secrets rotate``). An empty value stays empty: it hides nothing and keeps "is there a refresh
token" answerable in SQL. Without a key, values are written in clear, as before, and the daemon says so
once at start.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select

from syncd.errors import ConfigError
from syncd.store.db import Database
from syncd.store.models import TokenRow

log = logging.getLogger("syncd.store")

PREFIX = "fernet:"
SETTING = "SYNCD_SECRET_KEY"


def generate_key() -> str:
    """A new random Fernet key (32 bytes, URL-safe Base64), for ``SYNCD_SECRET_KEY``."""
    return Fernet.generate_key().decode("ascii")


def is_sealed(stored: str) -> bool:
    """Whether ``stored`` was written sealed (else it is a clear value from before encryption)."""
    return stored.startswith(PREFIX)


class TokenCipher:
    """Seals and opens token strings with the keys of ``SYNCD_SECRET_KEY`` (newest first)."""

    def __init__(self, keys: Sequence[str]) -> None:
        fernets = []
        for n, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.strip().encode("ascii")))
            except (ValueError, UnicodeEncodeError) as err:
                # never the key itself: only where it is and what a key looks like
                raise ConfigError("environment", SETTING, f"key {n} of {len(keys)} is not a Fernet key (32 bytes, "
                                  "URL-safe Base64, 44 characters): make one with `syncd secrets new-key`") from err
        if not fernets:
            raise ConfigError("environment", SETTING, "no key: give one or more Fernet keys, comma-separated")
        self._multi = MultiFernet(fernets)
        self.key_count = len(fernets)

    @classmethod
    def from_setting(cls, raw: str | None) -> TokenCipher | None:
        """The cipher for a ``SYNCD_SECRET_KEY`` value; None when it is unset or blank (tokens stay in clear)."""
        if raw is None or not raw.strip():
            return None
        return cls([k for k in raw.split(",") if k.strip()])

    def seal(self, clear: str) -> str:
        """``clear`` sealed with the newest key ("" stays "")."""
        if not clear:
            return clear
        return PREFIX + self._multi.encrypt(clear.encode("utf-8")).decode("ascii")

    def open(self, stored: str, *, owner: str) -> str:
        """The clear value of ``stored`` (sealed with any of the keys, or clear from before encryption)."""
        if not is_sealed(stored):
            return stored
        try:
            return self._multi.decrypt(stored[len(PREFIX):].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as err:
            raise ConfigError("environment", SETTING, unreadable(owner)) from err

    def reseal(self, stored: str, *, owner: str) -> str:
        """``stored`` sealed with the newest key (a clear value sealed, an older key's value re-sealed)."""
        return self.seal(self.open(stored, owner=owner))


def unreadable(owner: str) -> str:
    """Why the tokens of ``owner`` cannot be read, and what to do."""
    return (f"the stored tokens of {owner} were sealed with a key that is not in {SETTING}: put that key back "
            "(after the newest one) or authorise again")


def open_stored(cipher: TokenCipher | None, stored: str, *, owner: str) -> str:
    """The clear value of a stored token, with or without a cipher (a sealed value needs one)."""
    if cipher is not None:
        return cipher.open(stored, owner=owner)
    if is_sealed(stored):
        raise ConfigError("environment", SETTING, f"the stored tokens of {owner} are sealed and {SETTING} is not "
                          "set: set it to the key(s) they were written with")
    return stored


def seal_stored(cipher: TokenCipher | None, clear: str) -> str:
    """What to store for ``clear``: sealed with the newest key when there is a cipher, else clear as before."""
    return clear if cipher is None else cipher.seal(clear)


def seal_clear_rows(db: Database, cipher: TokenCipher) -> int:
    """Seal every token still stored in clear (written before a key was set); how many rows were sealed."""
    with db.read() as s:
        rows = s.execute(select(TokenRow.shop_id, TokenRow.access_token, TokenRow.refresh_token)).all()
    clear = [owner for owner, access, refresh in rows
             if (access and not is_sealed(access)) or (refresh and not is_sealed(refresh))]
    for owner in clear:
        with db.begin() as s:
            row = s.get(TokenRow, owner)
            if row is None:
                continue
            if row.access_token and not is_sealed(row.access_token):
                row.access_token = cipher.seal(row.access_token)
            if row.refresh_token and not is_sealed(row.refresh_token):
                row.refresh_token = cipher.seal(row.refresh_token)
    if clear:
        log.info("tokens of %d shop(s)/supplier(s) were stored in clear: sealed with the newest key of %s",
                 len(clear), SETTING)
    return len(clear)


def reseal_all(db: Database, cipher: TokenCipher) -> tuple[int, int]:
    """Re-seal every stored token pair with the newest key; (rows rewritten, rows that could not be read).

    A row that no key opens is left as it is and counted: its owner must authorise again, or the key it was
    written with be put back. Each row is its own short transaction (a refresh may write it meanwhile:
    whatever is newer wins, sealed either way)."""
    with db.read() as s:
        owners = list(s.scalars(select(TokenRow.shop_id)))
    done = failed = 0
    for owner in owners:
        with db.begin() as s:
            row = s.get(TokenRow, owner)
            if row is None:
                continue
            try:
                access = cipher.reseal(row.access_token, owner=owner)
                refresh = cipher.reseal(row.refresh_token, owner=owner)
            except ConfigError:
                log.error("tokens of %r: no key of %s opens them; left as they are", owner, SETTING)
                failed += 1
                continue
            row.access_token, row.refresh_token = access, refresh
            done += 1
    return done, failed


__all__ = ["PREFIX", "SETTING", "TokenCipher", "generate_key", "is_sealed", "open_stored", "reseal_all",
           "seal_clear_rows", "seal_stored", "unreadable"]

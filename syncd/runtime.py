"""Wires settings, config, database, HTTP client and adapters together (the composition root)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.dialects import postgresql, sqlite

from syncd import clock, i18n, registry, shadow
from syncd.config.loader import Config
from syncd.domain import Token
from syncd.http import CallStats, build_client
from syncd.i18n import _
from syncd.metrics import MetricsRegistry, Sample
from syncd.protocols import AlertSink, ApiSupplierAdapter, FileSupplierAdapter, StorefrontAdapter, TrackingProvider
from syncd.ratelimit import RateLimiter
from syncd.receivers import ReceiverPool
from syncd.retry import RetryPolicy
from syncd.settings import Settings
from syncd.store.db import Database, lease, take_over_leases
from syncd.store.models import TokenRow
from syncd.store.orders import CommittedVersions
from syncd.store.tokencipher import SETTING, TokenCipher, open_stored, seal_clear_rows, seal_stored

log = logging.getLogger("syncd")


class DbTokenStore:
    """Token pairs in the ``tokens`` table, sealed when a cipher is given (syncd/store/tokencipher.py);
    refreshing is serialised by a lease across replicas."""

    CACHE_SECONDS = 30.0  # another replica's refresh is seen within this; old tokens stay valid far longer

    def __init__(self, db: Database, holder: str, cipher: TokenCipher | None = None) -> None:
        self.db = db
        self.holder = holder
        self.cipher = cipher
        self._cache: dict[str, tuple[float, Token | None]] = {}
        self._lock = threading.Lock()

    def load(self, shop_id: str) -> Token | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(shop_id)
        if hit is not None and now - hit[0] < self.CACHE_SECONDS:
            return hit[1]
        with self.db.read() as s:
            row = s.get(TokenRow, shop_id)
            token = None if row is None else Token(open_stored(self.cipher, row.access_token, owner=repr(shop_id)),
                                                   open_stored(self.cipher, row.refresh_token, owner=repr(shop_id)),
                                                   row.expires_at, row.refresh_expires_at, dict(row.extra))
        with self._lock:
            self._cache[shop_id] = (now, token)
        return token

    def save(self, shop_id: str, token: Token) -> None:
        values = {"shop_id": shop_id, "access_token": seal_stored(self.cipher, token.access_token),
                  "refresh_token": seal_stored(self.cipher, token.refresh_token),
                  "expires_at": token.expires_at, "refresh_expires_at": token.refresh_expires_at,
                  "extra": token.extra, "updated_at": clock.now()}
        ins = (postgresql.insert(TokenRow) if self.db.engine.dialect.name == "postgresql"
               else sqlite.insert(TokenRow)).values(**values)
        stmt = ins.on_conflict_do_update(index_elements=["shop_id"],
                                         set_={k: v for k, v in values.items() if k != "shop_id"})
        with self.db.begin() as s:
            s.execute(stmt)
        with self._lock:
            self._cache[shop_id] = (time.monotonic(), token)

    @contextmanager
    def refresh_lock(self, shop_id: str) -> Iterator[bool]:
        with lease(self.db, f"token:{shop_id}", self.holder, timedelta(minutes=2)) as got:
            yield got


def default_holder() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass
class Runtime:
    """Everything a stage needs."""

    settings: Settings
    config: Config
    db: Database
    http: httpx.Client
    stats: CallStats
    retry: RetryPolicy
    holder: str
    storefronts: dict[str, StorefrontAdapter] = field(default_factory=dict)
    suppliers: dict[str, FileSupplierAdapter] = field(default_factory=dict)  # drop-folder suppliers
    api_suppliers: dict[str, ApiSupplierAdapter] = field(default_factory=dict)  # 1688, webhook suppliers
    sinks: dict[str, AlertSink] = field(default_factory=dict)  # alert channels by id
    tracker: TrackingProvider | None = None
    metrics: MetricsRegistry = field(default_factory=MetricsRegistry)
    collectors: list[Callable[[], list[Sample]]] = field(default_factory=list)  # extra /metrics samples
    stop: threading.Event = field(default_factory=threading.Event)
    limiter: RateLimiter = field(default_factory=RateLimiter)
    versions: dict[str, CommittedVersions] = field(default_factory=dict)  # per shop, what pull committed lately
    pulled_to: dict[str, datetime] = field(default_factory=dict)  # per shop, where this process's pull left its cursor
    db_faults: dict[str, int] = field(default_factory=dict)  # stage → runs failed while the database was unreachable
    faults_lock: threading.Lock = field(default_factory=threading.Lock)
    # stage → its pool of per-shop workers, alive across runs (syncd.stages.runner.for_each_shop)
    shop_pools: dict[str, Any] = field(default_factory=dict)
    receivers: ReceiverPool = field(default_factory=ReceiverPool)  # decrypted for the suppliers, in memory only

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    def close(self) -> None:
        for pool in list(self.shop_pools.values()):  # first: no shop's work starts on a closed adapter
            pool.close()
        for adapter in self.storefronts.values():
            adapter.close()
        for api in self.api_suppliers.values():
            api.close()
        for sink in self.sinks.values():
            sink.close()
        if self.tracker is not None:
            self.tracker.close()
        self.http.close()


def token_cipher(settings: Settings) -> TokenCipher | None:
    """The cipher of ``SYNCD_SECRET_KEY`` (ConfigError for a malformed key); None, with one warning, without."""
    cipher = TokenCipher.from_setting(settings.secret_key.get_secret_value() if settings.secret_key else None)
    if cipher is None:
        log.warning(_("{setting} is not set: platform access and refresh tokens are stored in clear in the database; "
                      "set it to a Fernet key (`syncd secrets new-key`, docs/secrets.md)").format(setting=SETTING))
    return cipher


def build_runtime(settings: Settings, config: Config, db: Database, *, http: httpx.Client | None = None,
                  retry: RetryPolicy | None = None, holder: str | None = None,
                  read_only_tokens: bool = False) -> Runtime:
    """Create the shared client and one adapter per enabled shop and supplier. ``read_only_tokens``: stored
    tokens are used, never refreshed (``syncd once --dry-run``, see :class:`syncd.shadow.ReadOnlyTokens`)."""
    cipher = token_cipher(settings)  # first: a malformed key stops the start before anything is opened
    if cipher is not None:
        seal_clear_rows(db, cipher)  # rows written before the key was set: sealed now, not at their next refresh
    holder = holder or settings.instance or default_holder()
    i18n.activate(config.global_.language, config.global_.timezone)  # alerts and digests: language, zone
    stats = CallStats()
    http = http or build_client(config.global_.http)
    stop = threading.Event()
    retry = retry or RetryPolicy.from_settings(config.global_.retry, stopping=stop)
    limiter = RateLimiter()
    store = DbTokenStore(db, holder, cipher)
    tokens = shadow.ReadOnlyTokens(store) if read_only_tokens else store
    ctx = registry.AdapterContext(http=http, tokens=tokens, data_dir=settings.data_dir,
                                  retry=retry, stats=stats, limiter=limiter)
    rt = Runtime(settings, config, db, http, stats, retry, holder, limiter=limiter, stop=stop)
    for shop_id, shop in config.shops.items():
        if shop.enabled:
            rt.storefronts[shop_id] = registry.STOREFRONTS[shop.platform].factory(shop, ctx)
    for sup_id, sup in config.suppliers.items():
        if sup.enabled:
            adapter = registry.SUPPLIERS[sup.kind].factory(sup, ctx)
            if isinstance(adapter, ApiSupplierAdapter):
                rt.api_suppliers[sup_id] = adapter
            else:
                rt.suppliers[sup_id] = adapter
    for channel_id, channel in config.channels.items():
        rt.sinks[channel_id] = registry.SINKS[channel.kind].factory(channel, ctx)
    if config.tracking is not None:
        rt.tracker = registry.TRACKING[config.tracking.provider].factory(config.tracking, ctx)
    shadow.guard(rt)  # shadow shops: their storefront adapters refuse every write
    return rt


def release_stale_claims(db: Database) -> int:
    """SQLite only, under the daemon lock: no other daemon lives, so every claim and lease is a dead one's."""
    from sqlalchemy import update

    from syncd.lifecycle import WritebackState
    from syncd.store.models import Shipment, SupplierOrder

    if not db.is_sqlite:
        return 0
    take_over_leases(db)
    with db.begin() as s:
        res = s.execute(update(Shipment).where(Shipment.writeback_state == WritebackState.UPLOADING)
                        .values(writeback_state=WritebackState.PENDING, claimed_by=None, claim_until=None,
                                writeback_attempts=Shipment.writeback_attempts + 1))
        n = int(res.rowcount)  # type: ignore[attr-defined]
        # API supplier orders the dead daemon had claimed: free now, not after claim_seconds (an intent left
        # "placing" is looked up by its idempotency key before anything is sent again)
        freed = s.execute(update(SupplierOrder).where(SupplierOrder.claimed_by.is_not(None))
                          .values(claimed_by=None, claim_until=None))
    if freed.rowcount:  # type: ignore[attr-defined]
        log.info(_("freed {n} supplier order(s) claimed by a daemon that stopped abruptly").format(
            n=freed.rowcount))  # type: ignore[attr-defined]
    if n:
        log.warning(_("released {n} tracking upload(s) claimed by a daemon that stopped abruptly; they are sent "
                      "again (the storefront's idempotency makes that safe)").format(n=n))
    return n

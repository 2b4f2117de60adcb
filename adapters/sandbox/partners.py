"""The sandbox's partners beyond the storefronts: a 1688 supplier, a webhook supplier, Kuaidi100 and the
alert robots — mounted on the sandbox server, with one thread delivering their pushes when asked to.

Their secrets are the public sandbox values in ``config/sandbox/`` (suppliers, tracking.yaml, alerts.yaml).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from syncd.adapters.sandbox.alibaba_seed import DEFAULT_CATALOGUE, SANDBOX_1688_APP_KEY, SANDBOX_1688_APP_SECRET
from syncd.adapters.sandbox.alibaba_sim import AlibabaSimulator
from syncd.adapters.sandbox.httpserver import SandboxServer
from syncd.adapters.sandbox.kuaidi100_sim import (
    SANDBOX_KUAIDI100_CUSTOMER,
    SANDBOX_KUAIDI100_KEY,
    SANDBOX_KUAIDI100_SALT,
    Kuaidi100Simulator,
)
from syncd.adapters.sandbox.robots import RobotSimulator
from syncd.adapters.sandbox.webhook_supplier_sim import WebhookSupplierSimulator

log = logging.getLogger(__name__)

SANDBOX_WEBHOOK_SECRET = "sandbox-webhook-supplier-secret-0001"  # noqa: S105 - a public sandbox value
ROBOT_SECRETS = {"dingtalk": "SECsandbox-dingtalk-secret", "feishu": "sandbox-feishu-secret",
                 "webhook": "sandbox-alert-webhook-secret-0001"}
# Kuaidi100 scripted histories in the sandbox: mostly fine, a few of each kind of trouble.
# The webhook warehouse holds only a few bottles: the rest go to the route's fallback supplier (yiwu-goods).
WEBHOOK_STOCK = {"HZ-B500-BLU": 5}
TRACK_WEIGHTS = {"normal": 0.55, "delivered": 0.25, "never_picked_up": 0.06, "stalled": 0.06, "refused": 0.04,
                 "problem": 0.04}


class Partners:
    """Every non-storefront simulator of the sandbox, on one server."""

    def __init__(self, server: SandboxServer, *, seed: int = 1, clock: Callable[[], float] = time.time,
                 ship_after: float = 3.0, fault_rate: float = 0.0, lost_reply_rate: float = 0.0,
                 track_weights: dict[str, float] | None = None, min_stock: int = 0) -> None:
        self.server = server
        # ``min_stock``: every 1688 offer holds at least this much (a benchmark's 10,000 orders need more than the
        # catalogue's few hundred mugs).
        catalogue = {sku: (title, spec, price, max(stock, min_stock))
                     for sku, (title, spec, price, stock) in DEFAULT_CATALOGUE.items()}
        self.alibaba = AlibabaSimulator(SANDBOX_1688_APP_KEY, SANDBOX_1688_APP_SECRET, seed=seed, clock=clock,
                                        catalogue=catalogue,
                                        ship_delay=ship_after, split_rate=0.3, fault_rate=fault_rate,
                                        lost_reply_rate=lost_reply_rate, protocol_pay=True)
        self.webhook = WebhookSupplierSimulator(SANDBOX_WEBHOOK_SECRET, seed=seed, clock=clock, ship_after=ship_after,
                                                split_rate=0.3, fault_rate=fault_rate, stock=WEBHOOK_STOCK,
                                                default_stock=max(1000, min_stock),
                                                lost_reply_rate=lost_reply_rate)
        self.kuaidi100 = Kuaidi100Simulator(SANDBOX_KUAIDI100_CUSTOMER, SANDBOX_KUAIDI100_KEY, SANDBOX_KUAIDI100_SALT,
                                            clock=clock, seed=seed, weights=track_weights or TRACK_WEIGHTS,
                                            push_retry_seconds=60)
        self.robots = RobotSimulator(clock=clock, secrets=ROBOT_SECRETS)
        for sim in (self.alibaba, self.webhook, self.kuaidi100, self.robots):
            server.mount(sim.prefix, sim)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def stock_pushes_to(self, callback_base: str, alibaba_id: str = "ali-factory",
                        webhook_id: str = "hz-warehouse") -> None:
        """Send the suppliers' stock changes to the daemon's callback port (``http://127.0.0.1:8081``): 1688
        product messages and the webhook supplier's stock pushes, each to ``/callbacks/suppliers/<id>/stock``."""
        base = callback_base.rstrip("/")
        self.alibaba.push_url = f"{base}/callbacks/suppliers/{alibaba_id}/stock"
        self.webhook.feed.url = f"{base}/callbacks/suppliers/{webhook_id}/stock"

    def start_pushes(self, interval: float = 1.0) -> None:
        """Deliver Kuaidi100 subscription pushes, webhook-supplier callbacks and, once :meth:`stock_pushes_to` set
        where, the suppliers' stock changes, from a thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._push_loop, args=(interval,), name="sandbox-pushes",
                                        daemon=True)
        self._thread.start()

    def _push_loop(self, interval: float) -> None:
        with httpx.Client(timeout=5) as http:
            while not self._stop.wait(interval):
                try:
                    self.kuaidi100.deliver_pushes(http)
                    self.webhook.deliver_callbacks(http)
                    self.alibaba.deliver_messages(http)
                    self.webhook.deliver_stock_pushes(http)
                except Exception:  # a sandbox thread must never die; the next round tries again
                    log.exception("sandbox pushes failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def snapshot(self) -> dict[str, Any]:
        return {"1688": self.alibaba.snapshot(), "webhook": self.webhook.snapshot(),
                "kuaidi100": self.kuaidi100.snapshot(), "robots": self.robots.snapshot()}

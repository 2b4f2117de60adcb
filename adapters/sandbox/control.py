"""What the cross-platform storefront contract suite (tests/contract/) needs from a simulator.

Every storefront simulator implements :class:`StorefrontSim` on top of its own HTTP handler, so one test
suite can drive Douyin Shop, Pinduoduo and Taobao through their real adapters over real HTTP.
All times are Unix seconds from the simulator's injectable clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

FailureKind = Literal["transient", "rate_limited", "auth_revoked"]
RefundKind = Literal["requested", "refunded", "closed"]


@runtime_checkable
class StorefrontSim(Protocol):
    platform: str  # the config ``platform:`` name: "douyin", "pdd", "taobao"
    prefix: str  # where it is mounted on the SandboxServer: "/douyin", "/pdd", "/taobao"

    def handle(self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str],
               body: bytes) -> tuple[int, dict[str, str], bytes]:
        """The HTTP handler (see adapters.sandbox.httpserver)."""

    def shop_config(self, base_url: str) -> dict[str, Any]:
        """A complete shop config (as YAML would give it, secrets inline) for the adapter under test."""

    def seed_ready(self, n: int, *, now: float, spread_seconds: float,
                   skus: Sequence[str] = ("SB-TEE-RED-M",)) -> list[str]:
        """Add ``n`` paid, ready-to-ship orders (each with one line per SKU, quantity 1, complete receiver)
        whose update times are spread evenly over ``[now - spread_seconds, now - 60]``; return their ids
        in update-time order."""

    def set_updated(self, order_id: str, ts: float) -> None:
        """Set one order's update time (for boundary tests)."""

    def touch_when_paging(self, order_id: str, page: int) -> None:
        """Once, just before serving page ``page`` (0-based count of list calls in one window) of the order
        listing, bump ``order_id``'s update time to now: the order moves while the daemon pages."""

    def expire_access_token(self) -> None:
        """Every access token issued so far expires now (a refresh still works)."""

    def fail_next(self, kind: FailureKind, count: int = 1) -> None:
        """The next ``count`` signed calls fail with the platform's own code for: a transient system error,
        flow control, or an authorisation a person must renew."""

    def line_ids(self, order_id: str) -> list[str]:
        """The platform ids of the order's lines (sub-orders), in order."""

    def tracking_numbers(self, order_id: str) -> list[str]:
        """Tracking numbers effectively recorded on the order (each once, in upload order)."""

    def set_refund(self, order_id: str, line_id: str | None, kind: RefundKind) -> None:
        """Put a refund / after-sale on the order (or one line) and bump update times, as the platform does."""

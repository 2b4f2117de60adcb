"""``python -m adapters.sandbox serve ...``: run the sandbox until SIGTERM / SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from syncd.adapters.sandbox.bundle import Sandbox, SupplierSpec


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m adapters.sandbox", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve the simulators on 127.0.0.1")
    s.add_argument("--port", type=int, default=8765)
    s.add_argument("--orders", type=int, default=200)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--fault-rate", type=float, default=0.02)
    s.add_argument("--qps", type=float, default=None)
    s.add_argument("--token-ttl", type=float, default=7 * 86400)
    s.add_argument("--refresh-ttl", type=float, default=14 * 86400)
    s.add_argument("--reply-delay", type=float, default=2.0)
    s.add_argument("--bad-row-rate", type=float, default=0.02)
    s.add_argument("--span-hours", type=float, default=24)
    s.add_argument("--release-after", type=float, default=30.0,
                   help="seconds after start when some 105 orders become 2")
    s.add_argument("--refund-after", type=float, default=None)
    s.add_argument("--refund-fraction", type=float, default=0.0)
    s.add_argument("--lost-reply-rate", type=float, default=0.0)
    s.add_argument("--supplier", action="append", default=[], type=SupplierSpec.parse,
                   metavar="ID:OUTBOX:INBOX[:FORMAT[:ENCODING]]")
    s.add_argument("--log-level", default="WARNING")
    s.add_argument("--platforms", default="douyin,pdd,taobao", help="storefront simulators to serve")
    s.add_argument("--shops-per-platform", type=int, default=1,
                   help="simulators per platform, each with its own orders (/douyin, /douyin-2, ...)")
    s.add_argument("--slow-shop", help="this simulator (douyin-2, pdd, ...) answers every call after --slow-seconds")
    s.add_argument("--slow-seconds", type=float, default=5.0)
    s.add_argument("--failing-shop", help="this simulator answers every API call with HTTP 503")
    s.add_argument("--latency", type=float, default=0.0,
                   help="seconds every API answer takes (storefronts and API suppliers), as a real platform's would")
    s.add_argument("--api-qps", action="store_true",
                   help="enforce each platform's per-API rate limits with its own flow-control error")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    sandbox = Sandbox(orders=args.orders, seed=args.seed, suppliers=args.supplier, port=args.port,
                      fault_rate=args.fault_rate, token_ttl=args.token_ttl, refresh_ttl=args.refresh_ttl,
                      reply_delay=args.reply_delay, bad_row_rate=args.bad_row_rate, qps=args.qps,
                      span_hours=args.span_hours, release_after=args.release_after,
                      refund_after=args.refund_after, refund_fraction=args.refund_fraction,
                      lost_reply_rate=args.lost_reply_rate, api_qps=args.api_qps,
                      platforms=tuple(p for p in args.platforms.split(",") if p),
                      shops_per_platform=args.shops_per_platform, slow_shop=args.slow_shop,
                      failing_shop=args.failing_shop, slow_seconds=args.slow_seconds,
                      latency=args.latency)
    sandbox.start()
    try:
        print(f"sandbox listening on {sandbox.url}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ``syncd`` command line."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from syncd import __version__, clock
from syncd.config.loader import Config, load_config
from syncd.errors import ConfigError, ConfigErrors, RejectedError, SyncdError
from syncd.logs import setup_logging
from syncd.settings import Settings, load_settings
from syncd.store.db import DaemonLock, Database, open_database
from syncd.store.migrate import upgrade

if TYPE_CHECKING:
    from syncd.runtime import Runtime

log = logging.getLogger("syncd")


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings()
    if args.config:
        settings.config_dir = Path(args.config)
    return settings


def _problems(errors: Sequence[ConfigError], where: object) -> None:
    for e in errors:
        print(e, file=sys.stderr)
    print(f"{len(errors)} configuration problem(s) in {where}", file=sys.stderr)


def _config(settings: Settings) -> Config:
    try:
        return load_config(settings.config_dir)
    except ConfigErrors as errs:
        _problems(errs.errors, settings.config_dir)
        raise SystemExit(1) from None


def _db(settings: Settings, *, migrate: bool = True) -> Database:
    db = open_database(settings.db_url())
    if migrate:
        upgrade(db)
    return db


def _start(args: argparse.Namespace) -> tuple[Settings, Config, Database, DaemonLock]:
    settings = _settings(args)
    config = _config(settings)
    lock = DaemonLock(settings.db_url())
    try:
        lock.acquire()
    except ConfigError as err:
        print(f"syncd: {err.message}", file=sys.stderr)
        raise SystemExit(3) from None
    db = _db(settings)
    from syncd.runtime import release_stale_claims

    release_stale_claims(db)
    return settings, config, db, lock


@contextmanager
def _runtime(args: argparse.Namespace, db: Database | None = None) -> Iterator[Runtime]:
    """A runtime for a one-off operator command; closed afterwards."""
    from syncd.runtime import build_runtime

    settings = _settings(args)
    config = _config(settings)
    rt = build_runtime(settings, config, db or _db(settings))
    try:
        yield rt
    finally:
        rt.close()


def _refused(err: SyncdError) -> int:
    """Print an operator-facing error; 2 for a refusal of what was asked, 1 for a failure."""
    print(f"syncd: {err}", file=sys.stderr)
    return 2 if isinstance(err, RejectedError) else 1


def cmd_run(args: argparse.Namespace) -> int:
    from syncd.daemon import run_daemon
    from syncd.process import tune_for_daemon
    from syncd.runtime import build_runtime

    settings, config, db, lock = _start(args)
    rt = build_runtime(settings, config, db)
    tune_for_daemon()
    idle = run_daemon(rt, listen=True)
    if not idle:
        logging.shutdown()
        os._exit(0)  # a stage thread is stuck in a network call; the database is consistent, so leave now
    rt.close()
    lock.release()
    return 0


def cmd_once(args: argparse.Namespace) -> int:
    from syncd.daemon import run_once
    from syncd.runtime import build_runtime

    settings, config, db, lock = _start(args)
    rt = build_runtime(settings, config, db)
    try:
        reports = run_once(rt)
    finally:
        rt.close()
        lock.release()
    failed = [r for r in reports if not r.ok]
    for r in reports:
        status = "ok" if r.ok else "FAILED: " + "; ".join(f"{scope}: {err}" for scope, err in r.failures)
        print(f"{r.stage:<10} {r.work:>6} done  {status}")
    return 1 if failed else 0


def cmd_check_config(args: argparse.Namespace) -> int:
    """The SYNCD_* variables and every config file, all problems listed at once."""
    problems: list[ConfigError] = []
    try:
        config_dir = _settings(args).config_dir
    except ConfigErrors as errs:
        problems.extend(errs.errors)
        config_dir = Path(args.config or os.environ.get("SYNCD_CONFIG_DIR") or "config")
    try:
        config = load_config(config_dir)
    except ConfigErrors as errs:
        problems.extend(errs.errors)
    if problems:
        _problems(problems, f"{config_dir} and the environment")
        raise SystemExit(1)
    print(f"{config_dir}: OK — {len(config.shops)} shop(s), {len(config.suppliers)} supplier(s), "
          f"{len(config.routes)} SKU route(s)")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    """``schema``: JSON Schema of every config file into a folder (default: the config directory's schema/)."""
    from syncd.config.schema import write_schemas

    folder = Path(args.out) if args.out else _settings(args).config_dir / "schema"
    try:
        written = write_schemas(folder)
    except OSError as err:
        print(f"syncd: cannot write the schemas into {folder}: {err.strerror or type(err).__name__}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    print("editors validate a file whose first line is: # yaml-language-server: $schema=<path to the schema>")
    return 0


def cmd_secrets(args: argparse.Namespace) -> int:
    """``new-key``: print a fresh Fernet key; ``rotate``: re-seal every stored token with the newest key."""
    from syncd.runtime import token_cipher
    from syncd.store.tokencipher import generate_key, reseal_all

    if args.action == "new-key":
        print(generate_key())
        return 0
    settings = _settings(args)
    cipher = token_cipher(settings)
    if cipher is None:
        print("syncd: SYNCD_SECRET_KEY is not set: nothing to seal with (docs/secrets.md)", file=sys.stderr)
        return 1
    done, failed = reseal_all(_db(settings), cipher)
    print(f"{done} token row(s) sealed with the newest of {cipher.key_count} key(s)"
          + (f"; {failed} row(s) no key opens (see the log)" if failed else ""))
    return 1 if failed else 0


def cmd_db(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _db(settings)
    print("database schema is up to date")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from syncd.status import collect_status, format_status

    settings = _settings(args)
    try:
        hours = {k: v.ship_within_hours for k, v in _config(settings).suppliers.items()}
    except SyncdError:
        hours = {}  # status still answers with a broken config
    st = collect_status(_db(settings), hours)
    print(json.dumps(st, ensure_ascii=False, indent=2) if args.json else format_status(st))
    return 0


def _resync_order(args: argparse.Namespace, db: Database) -> int:
    from syncd import operations
    from syncd.status import find_order

    known = find_order(db, args.id)
    shop, pid = (known.shop_id, known.platform_order_id) if known else (
        args.id.split("/", 1) if "/" in args.id else (None, args.id))
    try:
        with _runtime(args, db) as rt:
            if shop is None and len(rt.storefronts) == 1:
                shop = next(iter(rt.storefronts))
            if shop not in rt.storefronts:
                raise RejectedError(f"no enabled shop {shop!r}; name the order as SHOP/ORDER_ID")
            n = operations.resync(rt, shop, pid, _who(args), args.reason or "")
    except SyncdError as err:
        return _refused(err)
    print(f"order {shop}/{pid}: read again ({'changed' if n else 'no change'})")
    return 0


def _who(args: argparse.Namespace) -> str:
    """``--by``, else the OS user: who did a manual action, for the audit log."""
    from syncd.store.audit import default_who

    return str(getattr(args, "by", None) or default_who())


def cmd_health(args: argparse.Namespace) -> int:
    """Exit 0 while the daemon's stages keep running; 1 when the database is unreachable or they stalled."""
    from sqlalchemy.exc import SQLAlchemyError

    from syncd.httpd import check_readiness

    settings = _settings(args)
    config = _config(settings)
    try:
        db = open_database(settings.db_url())
    except SQLAlchemyError as err:
        print(f"unhealthy: database unreachable ({type(err).__name__})", file=sys.stderr)
        return 1
    try:
        ready = check_readiness(db, config.global_.intervals.model_dump())
    finally:
        db.dispose()
    for check in ready.failed:
        print(f"unhealthy: {check.detail}", file=sys.stderr)
    if not ready.ok:
        return 1
    print(f"healthy: {ready.checks[-1].detail}")
    return 0


def cmd_orders(args: argparse.Namespace) -> int:
    from syncd import operations
    from syncd.status import find_order, order_details

    db = _db(_settings(args))
    if args.action == "resync":
        return _resync_order(args, db)
    order = find_order(db, args.id)
    if order is None:
        print(f"syncd: no single order matches {args.id!r} (use SHOP/ORDER_ID or #internal-id)", file=sys.stderr)
        return 2
    who, why = _who(args), getattr(args, "reason", None) or ""
    try:
        if args.action == "show":
            print(json.dumps(order_details(db, order.id), ensure_ascii=False, indent=2))
        elif args.action == "release":
            print(f"order {order.platform_order_id} released → {operations.release(db, order.id, who, why)}")
        elif args.action == "hold":
            operations.hold(db, order.id, args.reason, by=who)
            print(f"order {order.platform_order_id} held: {args.reason}")
        elif args.action == "confirm-cod":
            state = operations.confirm_cod(db, order.id, who, why)
            print(f"order {order.platform_order_id}: cash on delivery confirmed by {who} → {state}")
        elif args.action == "reship":
            if args.qty is not None and args.line is None:
                print("syncd: --qty needs --line SKU", file=sys.stderr)
                return 2
            with _runtime(args, db) as rt:
                new_id = operations.reship(rt, order.id, sku=args.line, qty=args.qty, who=who, why=why)
            print(f"order {order.platform_order_id}: reship recorded as supplier order #{new_id}; "
                  "the next forward run places it")
    except RejectedError as err:
        print(f"syncd: {err}", file=sys.stderr)
        return 2
    return 0


def parse_local_time(text: str) -> datetime:
    """``YYYY-MM-DD`` or ``YYYY-MM-DD HH:MM[:SS]`` as a seller means it (Asia/Shanghai) → aware UTC."""
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            local = datetime.strptime(text.strip(), fmt)  # noqa: DTZ007 - made aware on the next line
        except ValueError:
            continue
        return local.replace(tzinfo=clock.SHANGHAI).astimezone(UTC)
    raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD or 'YYYY-MM-DD HH:MM' (Asia/Shanghai), found {text!r}")


def cmd_shops(args: argparse.Namespace) -> int:
    from syncd.stages.pull import resync_shop

    end = args.to or clock.now()
    if end <= args.start:
        print("syncd: --to must be after --from", file=sys.stderr)
        return 2
    try:
        with _runtime(args) as rt:
            if args.shop not in rt.storefronts:
                raise RejectedError(f"no enabled shop {args.shop!r} (shops: {', '.join(rt.storefronts)})")
            n = resync_shop(rt, args.shop, args.start, end)
    except SyncdError as err:
        return _refused(err)
    print(f"shop {args.shop}: read {args.start.isoformat()} .. {end.isoformat()} again; {n} order(s) new or changed")
    return 0


def cmd_suppliers(args: argparse.Namespace) -> int:
    from syncd.operations import reexport
    from syncd.status import unpaid_supplier_orders

    if args.action == "unpaid":
        rows = unpaid_supplier_orders(_db(_settings(args)))
        if args.json:
            print(json.dumps(rows, ensure_ascii=False, indent=2))
        elif not rows:
            print("no supplier order awaits payment")
        for r in rows if not args.json else []:
            print(f"{r['supplier']:<16} {r['supplier_order']:<22} {r['shop']}/{r['order']}  placed {r['placed_at']}"
                  f"  {r['note']}")
        return 0

    try:
        with _runtime(args) as rt:
            name = reexport(rt, args.batch, _who(args), args.reason or "")
    except SyncdError as err:
        return _refused(err)
    print(f"wrote {name}")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    """Delete supplier files past their retention and old callback ids; ``--dry-run`` lists them."""
    from syncd import clock
    from syncd.purge import CALLBACKS_KEEP, purge

    with _runtime(args) as rt:
        report = purge(rt.suppliers, rt.db, clock.now(), dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    for supplier_id, f in report.files:  # names come from suppliers: quoted, never raw
        print(f"{verb} {supplier_id}: {f.path!r} ({f.size} bytes, modified {f.modified_at:%Y-%m-%d %H:%M} UTC)")
    print(f"{verb} {len(report.files)} supplier file(s) past retention, the rejected rows recorded for "
          f"{report.file_records} old file(s), and {report.callbacks} callback id(s) older than "
          f"{CALLBACKS_KEEP.days} days")
    for supplier_id, error in report.failures:
        print(f"syncd: supplier {supplier_id}: cannot purge: {error}", file=sys.stderr)
    return 1 if report.failures else 0


def cmd_alerts(args: argparse.Namespace) -> int:
    """``syncd alerts`` lists open alerts; ``ack ID`` silences one; ``test CHANNEL`` sends a test message."""
    from syncd.alerts import commands

    action = args.action or "list"
    try:
        if action == "list":
            rows = commands.list_open(_db(_settings(args)))
            if args.json:
                print(json.dumps(rows, ensure_ascii=False, indent=2))
                return 0
            if not rows:
                print("no open alert")
            for r in rows:
                acked = f"  acked by {r['acked_by']}" if r["acked_at"] else ""
                print(f"#{r['id']:<6} {r['severity']:<8} {r['rule']:<24} {r['title']}  (since {r['opened_at']}){acked}")
                if r["detail"]:
                    print(f"        {r['detail']}")
            return 0
        if action == "ack":
            done = commands.ack(_db(_settings(args)), args.id, _who(args), args.reason or "")
            verb = "closed" if done["closed"] else "acknowledged: no more reminders"
            print(f"alert #{done['id']} {verb} ({done['title']})")
            return 0
        with _runtime(args) as rt:
            print(commands.send_test(rt, args.channel))
        return 0
    except SyncdError as err:
        return _refused(err)


def cmd_demo(args: argparse.Namespace) -> int:
    demo = importlib.import_module("syncd.demo")
    return int(demo.main(args))


def cmd_bench(args: argparse.Namespace) -> int:
    bench = importlib.import_module("syncd.bench" if args.tracking is None else "syncd.bench_tracking")
    return int(bench.main(args))


def _audited(p: argparse.ArgumentParser, *, reason_required: bool = False) -> None:
    """``--by`` and ``--reason`` (``--why``) of a manual action: both go to the audit log."""
    p.add_argument("--by", help="who does it, for the audit log (default: the OS user)")
    p.add_argument("--reason", "--why", dest="reason", required=reason_required, help="why, for the audit log")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="syncd", description="Order sync for dropshipping sellers.")
    p.add_argument("--config", metavar="DIR", help="config directory (env SYNCD_CONFIG_DIR, default ./config)")
    p.add_argument("--version", action="version", version=f"syncd {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the daemon").set_defaults(fn=cmd_run)
    sub.add_parser("once", help="run every stage once, in pipeline order").set_defaults(fn=cmd_once)
    sub.add_parser("check-config", help="validate every config file and the SYNCD_* environment variables"
                   ).set_defaults(fn=cmd_check_config)
    conf = sub.add_parser("config", help="configuration tools")
    conf.add_argument("action", choices=["schema"],
                      help="schema: write the JSON Schema of every config file (for editors)")
    conf.add_argument("--out", metavar="DIR", help="folder to write into (default: <config dir>/schema)")
    conf.set_defaults(fn=cmd_config)
    sub.add_parser("health", help="exit 0 while the daemon's stages keep running").set_defaults(fn=cmd_health)
    sec = sub.add_parser("secrets", help="tokens at rest: make a key, re-seal after a key rotation")
    sec.add_argument("action", choices=["new-key", "rotate"])
    sec.set_defaults(fn=cmd_secrets)
    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade"])
    db.set_defaults(fn=cmd_db)
    st = sub.add_parser("status", help="orders per state, holds, stage health")
    st.add_argument("--json", action="store_true")
    st.set_defaults(fn=cmd_status)
    orders = sub.add_parser("orders", help="look at or act on one order")
    osub = orders.add_subparsers(dest="action", required=True)
    osub.add_parser("show").add_argument("id", help="platform order id, SHOP/ORDER_ID, or #internal-id")
    acts = {"release": "release a held order to the state its facts imply",
            "resync": "read the order again from its storefront",
            "confirm-cod": "cash on delivery: the buyer confirmed on the phone; the order is forwarded"}
    for name, text in acts.items():
        o = osub.add_parser(name, help=text)
        o.add_argument("id", help="platform order id, SHOP/ORDER_ID, or #internal-id")
        _audited(o)
    oh = osub.add_parser("hold", help="hold an order until a person releases it")
    oh.add_argument("id")
    _audited(oh, reason_required=True)
    orp = osub.add_parser("reship", help="order again from the supplier (exchange, lost parcel), linked to the first")
    orp.add_argument("id")
    orp.add_argument("--line", metavar="SKU", help="only this merchant SKU (default: every line)")
    orp.add_argument("--qty", type=int, help="storefront units of --line (default: as ordered)")
    _audited(orp)
    orders.set_defaults(fn=cmd_orders)
    shops = sub.add_parser("shops", help="storefront shops")
    shsub = shops.add_subparsers(dest="action", required=True)
    rs = shsub.add_parser("resync", help="read a date range of a shop again (Asia/Shanghai dates)")
    rs.add_argument("shop")
    rs.add_argument("--from", dest="start", required=True, type=parse_local_time, metavar="DATE")
    rs.add_argument("--to", type=parse_local_time, metavar="DATE")
    shops.set_defaults(fn=cmd_shops)
    sup = sub.add_parser("suppliers", help="supplier files")
    ssub = sup.add_subparsers(dest="action", required=True)
    re_ = ssub.add_parser("reexport", help="write an outbox batch file again")
    re_.add_argument("batch", type=int)
    _audited(re_)
    up = ssub.add_parser("unpaid", help="supplier orders (1688) created but not paid: pay them at the supplier")
    up.add_argument("--json", action="store_true")
    sup.set_defaults(fn=cmd_suppliers)
    pg = sub.add_parser("purge", help="delete supplier files past retention_days and old callback ids")
    pg.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    pg.set_defaults(fn=cmd_purge)
    al = sub.add_parser("alerts", help="open alerts; ack one; send a test message to a channel")
    al.add_argument("--json", action="store_true")
    alsub = al.add_subparsers(dest="action")
    aack = alsub.add_parser("ack", help="silence an open alert (no reminders, no escalation)")
    aack.add_argument("id", type=int)
    _audited(aack)
    atest = alsub.add_parser("test", help="send a test message to one channel of alerts.yaml")
    atest.add_argument("channel")
    al.set_defaults(fn=cmd_alerts)
    demo = sub.add_parser("demo", help="run the daemon against the built-in sandbox, live, under a minute")
    demo.add_argument("--orders", type=int, default=100, help="orders per sandbox shop (3 shops)")
    demo.add_argument("--seconds", type=float, default=55)
    demo.set_defaults(fn=cmd_demo)
    bench = sub.add_parser("bench", help="end-to-end benchmark against the sandbox")
    bench.add_argument("--orders", type=int, default=10_000)
    bench.add_argument("--large", action="store_true", help="100,000 orders")
    bench.add_argument("--postgres", metavar="URL", help="benchmark on this PostgreSQL database instead of SQLite")
    bench.add_argument("--shops", default="douyin,pdd,taobao", help="which sandbox shops (comma list)")
    bench.add_argument("--file-suppliers-only", action="store_true",
                       help="route every SKU to the drop-folder suppliers (the core's first workload)")
    bench.add_argument("--rate-limited", action="store_true",
                       help="simulators enforce the platforms' rate limits; the daemon runs on its default budgets")
    bench.add_argument("--tracking", type=int, metavar="N",
                       help="instead: the track and watch stages over N active parcels (Kuaidi100 simulator)")
    bench.set_defaults(fn=cmd_bench)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigErrors as errs:
        if args.fn is not cmd_check_config:  # check-config lists them with the config files' problems
            _problems(errs.errors, "the SYNCD_* environment variables")
            return 1
        settings = Settings.model_construct()  # the defaults, for logging only
    setup_logging(settings.log_level, settings.log_format)
    try:
        return int(args.fn(args))
    except ConfigError as err:  # a setting such as SYNCD_SECRET_KEY: an operator message, not a traceback
        print(f"syncd: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())

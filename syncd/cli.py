"""The ``syncd`` command line.

``--config`` and ``--json`` are accepted before or after the subcommand. The exit codes are :data:`EXIT_CODES`
(shown at the end of ``syncd --help`` and in docs/cli.md). Every time a person reads is shown with
:func:`syncd.clock.local_text`; ``--json`` keeps ISO 8601 with its offset.
"""

from __future__ import annotations

import argparse
import fcntl
import importlib
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from syncd import __version__, clock
from syncd.alerts.names import SEVERITY_WORDS
from syncd.config.loader import Config, load_config
from syncd.errors import ConfigError, ConfigErrors, NotFoundError, RejectedError, SyncdError
from syncd.i18n import _
from syncd.logs import setup_logging
from syncd.settings import Settings, load_settings
from syncd.store.db import DaemonLock, Database, open_database
from syncd.store.migrate import upgrade
from syncd.views import pad, table

if TYPE_CHECKING:
    from syncd.runtime import Runtime
    from syncd.stages.runner import StageReport
    from syncd.status import OrderFilter

log = logging.getLogger("syncd")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_RUNNING = 3
EXIT_NOT_FOUND = 4
EXIT_REFUSED = 5
EXIT_CHECK_FAILED = 6
EXIT_STAGE_FAILED = 7
EXIT_DRY_RUN_REFUSED = 8
EXIT_CODES = {
    EXIT_OK: "done",
    EXIT_ERROR: "the command could not do its work (database unreachable, an outside call failed, ...)",
    EXIT_USAGE: "usage error: an unknown command, a missing or wrong argument",
    EXIT_RUNNING: "another syncd already runs on this SQLite database (run, once)",
    EXIT_NOT_FOUND: "not found: no such order, alert, batch, shop or alert channel",
    EXIT_REFUSED: "refused: the action does not apply as things are now, or the other side refused it",
    EXIT_CHECK_FAILED: "a check failed: the configuration or a SYNCD_* setting is invalid, or `syncd health` found "
                       "the daemon unhealthy",
    EXIT_STAGE_FAILED: "a stage failed (`syncd once`): see the lines marked FAILED",
    EXIT_DRY_RUN_REFUSED: "`syncd once --dry-run` refused: the database is not SQLite (use mode: shadow per shop)",
}


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings()
    if args.config:
        settings.config_dir = Path(args.config)
    return settings


def _problems(errors: Sequence[ConfigError], where: object) -> None:
    for e in errors:
        print(e, file=sys.stderr)
    print(_("{n} configuration problem(s) in {where}").format(n=len(errors), where=where), file=sys.stderr)


def _config(settings: Settings) -> Config:
    try:
        config = load_config(settings.config_dir)
    except ConfigErrors as errs:
        _problems(errs.errors, settings.config_dir)
        raise SystemExit(EXIT_CHECK_FAILED) from None
    _activate(config)
    return config


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
        raise SystemExit(EXIT_RUNNING) from None
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
    own = db is None  # a database this command opened is closed with it
    rt = build_runtime(settings, config, db or _db(settings))
    try:
        yield rt
    finally:
        rt.close()
        if own:
            rt.db.dispose()


def _refused(err: SyncdError) -> int:
    """Print an operator-facing error; its exit code: not found, a refusal of what was asked, or a failure."""
    print(f"syncd: {err}", file=sys.stderr)
    if isinstance(err, NotFoundError):
        return EXIT_NOT_FOUND
    return EXIT_REFUSED if isinstance(err, RejectedError) else EXIT_ERROR


def _activate(config: Config) -> None:
    """Show the text of this command in the configured ``language`` (``SYNCD_LANG`` still wins); a value the
    configuration check lets through but i18n does not know leaves the language as it was."""
    from syncd import i18n

    with suppress(ValueError):
        i18n.activate(config.global_.language, config.global_.timezone)


def _zone(settings: Settings, config: Config | None = None) -> ZoneInfo:
    """The zone times are shown in: ``timezone`` of syncd.yaml once the configuration has that key, else
    Asia/Shanghai. The configuration is read only for that key (``config``: already read), and a broken one
    leaves the views answering in Beijing time."""
    from syncd.config.models import GlobalConfig

    if "timezone" not in GlobalConfig.model_fields:
        return clock.SHANGHAI
    try:
        config = config or load_config(settings.config_dir)
        _activate(config)
        name = getattr(config.global_, "timezone", None)
        return ZoneInfo(name) if isinstance(name, str) and name else clock.SHANGHAI
    except (SyncdError, OSError, ZoneInfoNotFoundError, ValueError):
        return clock.SHANGHAI


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
    db.dispose()
    lock.release()
    return 0


def cmd_once(args: argparse.Namespace) -> int:
    from syncd.daemon import run_once
    from syncd.runtime import build_runtime

    if args.dry_run:
        return cmd_dry_run(args)
    settings, config, db, lock = _start(args)
    rt = build_runtime(settings, config, db)
    try:
        reports = run_once(rt)
    finally:
        rt.close()
        db.dispose()  # every connection closed: SQLite folds its write-ahead log into the file and removes it
        lock.release()
    return _reports(reports)


def _reports(reports: Sequence[StageReport]) -> int:
    """One line per stage run; the exit code (a stage failed: EXIT_STAGE_FAILED)."""
    failed = [r for r in reports if not r.ok]
    for r in reports:
        status = _("ok") if r.ok else _("FAILED: {failures}").format(
            failures="; ".join(f"{scope}: {err}" for scope, err in r.failures))
        print(_("{stage} {work} done  {status}").format(stage=f"{r.stage:<10}", work=f"{r.work:>6}", status=status))
    return EXIT_STAGE_FAILED if failed else EXIT_OK


def cmd_dry_run(args: argparse.Namespace) -> int:
    """``syncd once --dry-run``: pull and route on a copy of the SQLite database; print what would be sent."""
    from syncd.dryrun import DryRunRefused, dry_run
    from syncd.shadow import plan_text

    settings = _settings(args)
    config = _config(settings)
    try:
        result = dry_run(settings, config)
    except DryRunRefused:
        print("syncd: " + _("a dry run needs the SQLite database (it runs on a copy of the file); on PostgreSQL put "
                            "the shops in shadow mode instead (mode: shadow, docs/shadow.md)"), file=sys.stderr)
        return EXIT_DRY_RUN_REFUSED
    code = _reports(result.reports)
    print(_("Dry run on a copy of the database: nothing was sent, the database itself is unchanged."))
    print(plan_text(result.plan))
    return code


def cmd_shadow(args: argparse.Namespace) -> int:
    """``syncd shadow``: what the shops in shadow mode would have sent to suppliers and uploaded to storefronts."""
    from syncd.shadow import plan, plan_text

    settings = _settings(args)
    config = _config(settings)
    p = plan(_db(settings), config)
    print(json.dumps(p, ensure_ascii=False, indent=2) if args.json else plan_text(p))
    return EXIT_OK


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
        _problems(problems, _("{config_dir} and the environment").format(config_dir=config_dir))
        raise SystemExit(EXIT_CHECK_FAILED)
    _activate(config)
    print(_("{config_dir}: OK — {shops} shop(s), {suppliers} supplier(s), {routes} SKU route(s)").format(
        config_dir=config_dir, shops=len(config.shops), suppliers=len(config.suppliers), routes=len(config.routes)))
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
    config: Config | None = None
    try:
        config = load_config(settings.config_dir)
        hours = {k: v.ship_within_hours for k, v in config.suppliers.items()}
    except (SyncdError, OSError):
        hours = {}  # status still answers with a broken config
    st = collect_status(_db(settings), hours)
    print(json.dumps(st, ensure_ascii=False, indent=2) if args.json
          else format_status(st, _zone(settings, config) if config else clock.SHANGHAI))
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
                raise NotFoundError(f"no enabled shop {shop!r}; name the order as SHOP/ORDER_ID")
            n = operations.resync(rt, shop, pid, _who(args), args.reason or "")
    except SyncdError as err:
        return _refused(err)
    print((_("order {shop}/{order}: read again (changed)") if n else _("order {shop}/{order}: read again (no change)"))
          .format(shop=shop, order=pid))
    return 0


def _who(args: argparse.Namespace) -> str:
    """``--by``, else the OS user: who did a manual action, for the audit log."""
    from syncd.store.audit import default_who

    return str(getattr(args, "by", None) or default_who())


def daemon_running(settings: Settings) -> bool | None:
    """Whether a daemon holds this SQLite database's lock (``<db>.lock``, see :class:`DaemonLock`); None on
    PostgreSQL, where several replicas may run and only the stage runs tell (the ``stage_finished`` check)."""
    path = DaemonLock(settings.db_url()).path
    if path is None:
        return None
    try:
        fh = path.open("r")
    except FileNotFoundError:
        return False  # no daemon ever ran on this database
    with fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    return False


def cmd_health(args: argparse.Namespace) -> int:
    """Exit 0 while a daemon runs and its stages keep working; 6 when the database is unreachable, no daemon runs
    on this (SQLite) database, no stage finished recently, or a stage has failed for longer than its limit."""
    from sqlalchemy.exc import SQLAlchemyError

    from syncd.httpd import Check, Readiness, check_readiness, unreachable

    settings = _settings(args)
    config = _config(settings)
    running = daemon_running(settings)
    daemon = [] if running is None else [Check("daemon", running, _("running") if running else
                                               _("no syncd daemon runs on this database (start it: syncd run)"))]
    try:
        db = open_database(settings.db_url())
    except SQLAlchemyError as err:
        ready = Readiness((Check("database", False, unreachable(err)),))
    else:
        try:
            ready = check_readiness(db, config.global_.intervals.model_dump())
        finally:
            db.dispose()
    ready = Readiness(tuple(daemon) + ready.checks)
    if args.json:
        print(json.dumps(ready.as_json(), ensure_ascii=False, indent=2))
    else:
        for check in ready.failed:
            print(_("unhealthy: {detail}").format(detail=check.detail), file=sys.stderr)
        if ready.ok:
            print(_("healthy: {details}").format(
                details="; ".join(c.detail for c in ready.checks if c.name in ("daemon", "stage_finished"))))
    return EXIT_OK if ready.ok else EXIT_CHECK_FAILED


def _order_filter(args: argparse.Namespace) -> OrderFilter:
    from syncd.status import OrderFilter

    return OrderFilter(state=args.state, hold_reason=args.hold_reason, shop=args.shop, supplier=args.supplier,
                       since=args.since, late_within=args.late, limit=args.limit)


def cmd_orders(args: argparse.Namespace) -> int:
    from syncd import operations
    from syncd.status import find_order, list_orders, order_details
    from syncd.views import order_text, orders_table, state_word

    settings = _settings(args)
    zone = _zone(settings)  # also the configured language
    db = _db(settings)
    if args.action == "list":
        rows = list_orders(db, _order_filter(args))
        if args.json:
            print(json.dumps(rows, ensure_ascii=False, indent=2))
            return EXIT_OK
        print(orders_table(rows, zone))
        if len(rows) == args.limit:
            print(_("(the first {limit}; narrow the filters or raise --limit)").format(limit=args.limit))
        return EXIT_OK
    if args.action == "resync":
        return _resync_order(args, db)
    order = find_order(db, args.id)
    if order is None:
        print("syncd: " + _("no single order matches {ref} (use SHOP/ORDER_ID or #internal-id)").format(
            ref=repr(args.id)), file=sys.stderr)
        return EXIT_NOT_FOUND
    who, why = _who(args), getattr(args, "reason", None) or ""
    try:
        if args.action == "show":
            details = order_details(db, order.id)
            print(json.dumps(details, ensure_ascii=False, indent=2) if args.json
                  else order_text(details, zone))
        elif args.action == "release":
            released = operations.release(db, order.id, who, why)
            print(_("order {order} released → {state}").format(order=order.platform_order_id,
                                                                state=state_word(released)))
        elif args.action == "hold":
            operations.hold(db, order.id, args.reason, by=who)
            print(_("order {order} held: {reason}").format(order=order.platform_order_id, reason=args.reason))
        elif args.action == "confirm-cod":
            state = operations.confirm_cod(db, order.id, who, why)
            print(_("order {order}: cash on delivery confirmed by {who} → {state}").format(
                order=order.platform_order_id, who=who, state=state_word(state)))
        elif args.action == "reship":
            if args.qty is not None and args.line is None:
                print("syncd: --qty needs --line SKU", file=sys.stderr)
                return EXIT_USAGE
            with _runtime(args, db) as rt:
                new_id = operations.reship(rt, order.id, sku=args.line, qty=args.qty, who=who, why=why)
            print(_("order {order}: reship recorded as supplier order #{id}; the next forward run places it")
                  .format(order=order.platform_order_id, id=new_id))
    except SyncdError as err:
        return _refused(err)
    return EXIT_OK


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
        return EXIT_USAGE
    try:
        with _runtime(args) as rt:
            if args.shop not in rt.storefronts:
                raise NotFoundError(f"no enabled shop {args.shop!r} (shops: {', '.join(rt.storefronts)})")
            n = resync_shop(rt, args.shop, args.start, end)
    except SyncdError as err:
        return _refused(err)
    zone = _zone(_settings(args))
    print(f"shop {args.shop}: read {clock.local_text(args.start, zone)} .. {clock.local_text(end, zone)} again; "
          f"{n} order(s) new or changed")
    return EXIT_OK


def cmd_suppliers(args: argparse.Namespace) -> int:
    from syncd.operations import reexport
    from syncd.status import unpaid_supplier_orders

    if args.action == "unpaid":
        settings = _settings(args)
        rows = unpaid_supplier_orders(_db(settings))
        zone = _zone(settings)  # also the configured language
        if args.json:
            print(json.dumps(rows, ensure_ascii=False, indent=2))
        elif not rows:
            print(_("no supplier order awaits payment"))
        else:
            print(table((_("supplier"), _("supplier order no."), _("order"), _("placed"), _("note")),
                        [[r["supplier"], r["supplier_order"], f"{r['shop']}/{r['order']}",
                          clock.local_text(r["placed_at"], zone), r["note"]] for r in rows], max_width=60))
        return EXIT_OK

    try:
        with _runtime(args) as rt:
            name = reexport(rt, args.batch, _who(args), args.reason or "")
    except SyncdError as err:
        return _refused(err)
    print(f"wrote {name}")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    """Delete supplier files past their retention and old callback ids; ``--dry-run`` lists them."""
    from syncd.purge import CALLBACKS_KEEP, purge

    with _runtime(args) as rt:
        report = purge(rt.suppliers, rt.db, clock.now(), dry_run=args.dry_run)
        zone = _zone(rt.settings)
    verb = "would delete" if args.dry_run else "deleted"
    for supplier_id, f in report.files:  # names come from suppliers: quoted, never raw
        print(f"{verb} {supplier_id}: {f.path!r} ({f.size} bytes, modified {clock.local_text(f.modified_at, zone)})")
    print(f"{verb} {len(report.files)} supplier file(s) past retention, the rejected rows recorded for "
          f"{report.file_records} old file(s), and {report.callbacks} callback id(s) older than "
          f"{CALLBACKS_KEEP.days} days")
    for supplier_id, error in report.failures:
        print(f"syncd: supplier {supplier_id}: cannot purge: {error}", file=sys.stderr)
    return EXIT_ERROR if report.failures else EXIT_OK


def cmd_alerts(args: argparse.Namespace) -> int:
    """``syncd alerts`` lists open alerts; ``ack ID`` silences one; ``test CHANNEL`` sends a test message."""
    from syncd.alerts import commands

    action = args.action or "list"
    try:
        if action == "list":
            settings = _settings(args)
            rows = commands.list_open(_db(settings))
            if args.json:
                print(json.dumps(rows, ensure_ascii=False, indent=2))
                return 0
            zone = _zone(settings)  # also the configured language
            if not rows:
                print(_("no open alert"))
            for r in rows:
                acked = "  " + _("acked by {who}").format(who=r["acked_by"]) if r["acked_at"] else ""
                severity = _(SEVERITY_WORDS[r["severity"]]) if r["severity"] in SEVERITY_WORDS else r["severity"]
                since = _("(since {at})").format(at=clock.local_text(r["opened_at"], zone))
                print(f"#{r['id']:<6} {pad(severity, 8)} {r['rule']:<24} {r['title']}  {since}{acked}")
                if r["detail"]:
                    print("\n".join(f"        {line}" for line in r["detail"].splitlines()))
            return 0
        if action == "ack":
            settings = _settings(args)
            _zone(settings)  # the configured language
            done = commands.ack(_db(settings), args.id, _who(args), args.reason or "")
            text = (_("alert #{id} closed ({title})") if done["closed"]
                    else _("alert #{id} acknowledged: no more reminders ({title})"))
            print(text.format(id=done["id"], title=done["title"]))
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
    if getattr(args, "stock", None) is not None:  # issue 19: syncd/stock/bench.py
        return int(importlib.import_module("syncd.stock.bench").main(args))
    bench = importlib.import_module("syncd.bench" if args.tracking is None else "syncd.bench_tracking")
    return int(bench.main(args))


def _bench_scale_options(bench: argparse.ArgumentParser) -> None:
    """The bench's history, fleet, replica and result-file options (docs/benchmarks.md)."""
    bench.add_argument("--seed-orders", type=int, metavar="N",
                       help="seed N finished orders (60 days of history) first; the bench runs on an empty and "
                            "on the seeded database and prints the ratio")
    bench.add_argument("--seed-from", metavar="FILE",
                       help="with --seed-orders on SQLite: a database file seeded before (--seed-only), copied")
    bench.add_argument("--seed-only", action="store_true",
                       help="with --seed-orders: only seed, into --postgres URL or the configured database")
    bench.add_argument("--fleet", type=int, metavar="SHOPS",
                       help="instead: SHOPS shops over the three platforms (--orders in all), rate limits on")
    bench.add_argument("--slow-shop", action="store_true", help="with --fleet: one shop answers every call in 5 s")
    bench.add_argument("--failing-shop", action="store_true", help="with --fleet: one shop fails every call")
    bench.add_argument("--replicas", type=int, metavar="R",
                       help="with --fleet and --postgres: one daemon process, then R, against simulators whose every "
                            "API answer takes --latency seconds; prints the speed-up and what a simulator got twice")
    bench.add_argument("--latency", type=float, metavar="SECONDS",
                       help="with --replicas: seconds every API answer takes (default 0.25)")
    bench.add_argument("--time-limit", type=float, metavar="SECONDS",
                       help="with --fleet: stop a run after this long (default 1800; with --replicas 900 per run)")
    bench.add_argument("--against-core", type=int, nargs="?", const=10_000, metavar="ORDERS",
                       help="then the Douyin + drop-folder workload (ORDERS orders, default 10,000) in the same "
                            "process, and this run's CPU per order as a multiple of it")
    bench.add_argument("--json", dest="json_file", metavar="FILE", help="also write every figure to FILE (JSON)")
    bench.add_argument("--compare", metavar="OLD.json", help="print the differences from an earlier --json FILE")


def _audited(p: argparse.ArgumentParser, *, reason_required: bool = False) -> None:
    """``--by`` and ``--reason`` (``--why``) of a manual action: both go to the audit log."""
    p.add_argument("--by", help="who does it, for the audit log (default: the OS user)")
    p.add_argument("--reason", "--why", dest="reason", required=reason_required, help="why, for the audit log")


def _hours(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 24 * 30:
        raise argparse.ArgumentTypeError(f"expected a number of hours from 0 to 720, found {text!r}")
    return value


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number above 0, found {text!r}")
    return int(text)


_CONFIG_HELP = "config directory (env SYNCD_CONFIG_DIR, default ./config); before or after the subcommand"
_JSON_HELP = "print JSON for scripts (times in ISO 8601 with offset) instead of text for a person"


def _options(*, with_json: bool) -> argparse.ArgumentParser:
    """The options every subcommand accepts, so that they may follow it: ``syncd status --config DIR``.
    Defaults are suppressed so that a value given before the subcommand is not overwritten after it."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--config", metavar="DIR", default=argparse.SUPPRESS, help=_CONFIG_HELP)
    if with_json:
        p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=_JSON_HELP)
    return p


def _epilog() -> str:
    rows = "\n".join(f"  {code}  {text}" for code, text in EXIT_CODES.items())
    return (f"exit codes:\n{rows}\n\nTimes are Beijing time (Asia/Shanghai) to the second; --json keeps "
            "ISO 8601 with offset. More: docs/cli.md")


class _Sub:
    """Adds subcommands that accept the common options (and ``--json`` where they have a JSON form)."""

    def __init__(self, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        self.sub = sub
        self.plain, self.json = _options(with_json=False), _options(with_json=True)

    def add(self, name: str, text: str, *, json_form: bool = False, **kw: Any) -> argparse.ArgumentParser:
        p = self.sub.add_parser(name, help=text, description=text, parents=[self.json if json_form else self.plain],
                                **kw)
        p.set_defaults(json_form=json_form)  # a subcommand's own: `alerts ack` has none though `alerts` has
        return p


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="syncd", description="Order sync for dropshipping sellers.", epilog=_epilog(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", metavar="DIR", default=argparse.SUPPRESS, help=_CONFIG_HELP)
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                   help=_JSON_HELP + " (status, health, orders list/show, alerts, suppliers unpaid, shadow)")
    p.add_argument("--version", action="version", version=f"syncd {__version__}")
    p.set_defaults(config=None, json=False, json_form=False)  # a subcommand's --config/--json replace these
    sub = _Sub(p.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    sub.add("run", "run the daemon").set_defaults(fn=cmd_run)
    once = sub.add("once", "run every stage once, in pipeline order")
    once.add_argument("--dry-run", action="store_true",
                      help="pull and route on a copy of the SQLite database, send nothing, print what would be sent")
    once.set_defaults(fn=cmd_once)
    sub.add("shadow", "what shops in shadow mode would have sent to suppliers and uploaded (nothing was)",
            json_form=True).set_defaults(fn=cmd_shadow)
    sub.add("check-config", "validate every config file and the SYNCD_* environment variables"
            ).set_defaults(fn=cmd_check_config)
    conf = sub.add("config", "configuration tools")
    conf.add_argument("action", choices=["schema"],
                      help="schema: write the JSON Schema of every config file (for editors)")
    conf.add_argument("--out", metavar="DIR", help="folder to write into (default: <config dir>/schema)")
    conf.set_defaults(fn=cmd_config)
    sub.add("health", "exit 0 while a daemon runs and its stages keep working (6 when unhealthy)",
            json_form=True).set_defaults(fn=cmd_health)
    sec = sub.add("secrets", "tokens at rest: make a key, re-seal after a key rotation")
    sec.add_argument("action", choices=["new-key", "rotate"],
                     help="new-key: print a fresh key; rotate: re-seal every stored token with the newest key")
    sec.set_defaults(fn=cmd_secrets)
    db = sub.add("db", "database schema")
    db.add_argument("action", choices=["upgrade"], help="upgrade: bring the schema to this version")
    db.set_defaults(fn=cmd_db)
    sub.add("status", "orders per state, holds, stage health", json_form=True).set_defaults(fn=cmd_status)
    _orders_parser(sub.add("orders", "list orders, look at one, or act on one"))
    shops = sub.add("shops", "storefront shops")
    shsub = _Sub(shops.add_subparsers(dest="action", required=True, metavar="ACTION"))
    rs = shsub.add("resync", "read a date range of a shop again (Asia/Shanghai dates)")
    rs.add_argument("shop", help="the shop's id in shops/")
    rs.add_argument("--from", dest="start", required=True, type=parse_local_time, metavar="DATE",
                    help="from this date or time (YYYY-MM-DD [HH:MM], Asia/Shanghai)")
    rs.add_argument("--to", type=parse_local_time, metavar="DATE", help="until this date or time (default: now)")
    shops.set_defaults(fn=cmd_shops)
    sup = sub.add("suppliers", "supplier files and supplier orders")
    ssub = _Sub(sup.add_subparsers(dest="action", required=True, metavar="ACTION"))
    re_ = ssub.add("reexport", "write an outbox batch file again")
    re_.add_argument("batch", type=int, help="the batch number (in the file name and in orders show)")
    _audited(re_)
    ssub.add("unpaid", "supplier orders (1688) created but not paid: pay them at the supplier", json_form=True)
    sup.set_defaults(fn=cmd_suppliers)
    pg = sub.add("purge", "delete supplier files past retention_days and old callback ids")
    pg.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    pg.set_defaults(fn=cmd_purge)
    al = sub.add("alerts", "open alerts; ack one; send a test message to a channel", json_form=True)
    alsub = _Sub(al.add_subparsers(dest="action", metavar="ACTION"))
    aack = alsub.add("ack", "silence an open alert (no reminders, no escalation)")
    aack.add_argument("id", type=int, help="the alert's number, as syncd alerts lists it")
    _audited(aack)
    atest = alsub.add("test", "send a test message to one channel of alerts.yaml")
    atest.add_argument("channel", help="the channel's id in alerts.yaml")
    al.set_defaults(fn=cmd_alerts)
    demo = sub.add("demo", "run the daemon against the built-in sandbox, live, under a minute")
    demo.add_argument("--orders", type=int, default=100, help="orders per sandbox shop (3 shops; default 100)")
    demo.add_argument("--seconds", type=float, default=55, help="stop after this many seconds at most (default 55)")
    demo.add_argument("--keep", action="store_true",
                      help="keep the demo's data directory and print the commands to look around in it")
    demo.set_defaults(fn=cmd_demo)
    bench = sub.add("bench", "end-to-end benchmark against the sandbox")
    bench.add_argument("--orders", type=int, default=10_000, help="orders per shop (default 10,000)")
    bench.add_argument("--large", action="store_true", help="100,000 orders")
    bench.add_argument("--postgres", metavar="URL", help="benchmark on this PostgreSQL database instead of SQLite")
    bench.add_argument("--shops", default="douyin,pdd,taobao", help="which sandbox shops (comma list)")
    bench.add_argument("--file-suppliers-only", action="store_true",
                       help="route every SKU to the drop-folder suppliers (the core's first workload)")
    bench.add_argument("--rate-limited", action="store_true",
                       help="simulators enforce the platforms' rate limits; the daemon runs on its default budgets")
    bench.add_argument("--tracking", type=int, metavar="N",
                       help="instead: the track and watch stages over N active parcels (Kuaidi100 simulator)")
    bench.add_argument("--stock", type=int, metavar="SKUS",
                       help="instead: the stock engine, SKUS across three shops (10000: issue 19; docs/stock.md)")
    _bench_scale_options(bench)
    bench.set_defaults(fn=cmd_bench)
    _report_parser(sub.add("report", "processing speed, logistics, cost and margin for a period (docs/reports.md)"))
    _stock_parsers(sub)
    _console_parser(sub.add("console", "the web console on the admin port: sign-in helpers"))
    return p


# ---- syncd report (issue 18): processing speed, logistics, cost and margin for a period ----------------------


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, found {text!r}") from None


def cmd_report(args: argparse.Namespace) -> int:
    from syncd.reports import Period, ReportOptions, build_report
    from syncd.reports.render import GROUP_WORDS, render

    settings = _settings(args)
    config = _config(settings)
    zone = _zone(settings, config)
    if args.rebuild_summary:
        return _rebuild_summary(settings, config, zone)
    if args.start is None:
        print("syncd: " + _("report: --from DATE is required (or --rebuild-summary)"), file=sys.stderr)
        return EXIT_USAGE
    try:
        period = Period(args.start, args.end or args.start, zone)
    except ValueError as err:
        print(f"syncd: {err}", file=sys.stderr)
        return EXIT_USAGE
    if args.format == "xlsx" and not args.output:
        print("syncd: " + _("--format xlsx needs --output FILE"), file=sys.stderr)
        return EXIT_USAGE
    db = _db(settings)
    try:
        report = build_report(db.engine, period, args.group, ReportOptions.from_config(config))
    finally:
        db.dispose()
    heading = _("syncd report {period} ({zone}), by {group}").format(
        period=period.text(), zone=zone.key, group=_(GROUP_WORDS[args.group]))
    out = render(report, args.format, heading)
    if args.output:
        data = out if isinstance(out, bytes) else out.encode("utf-8-sig" if args.format == "csv" else "utf-8")
        Path(args.output).write_bytes(data)
        print(_("Report written to {path}").format(path=args.output))
    else:
        sys.stdout.write(out if isinstance(out, str) else out.decode())
    return EXIT_OK


def _rebuild_summary(settings: Settings, config: Config, zone: ZoneInfo) -> int:
    """``syncd report --rebuild-summary``: every day from the first payment to yesterday, rolled up once."""
    from syncd.reports import ReportOptions
    from syncd.reports.summary import rebuild

    def progress(done: int, total: int) -> None:
        if done == total or done % 10 == 0:
            print(_("report summary: {done} of {total} day(s) computed").format(done=done, total=total), flush=True)

    db = _db(settings)
    try:
        days = rebuild(db.engine, zone, ReportOptions.from_config(config).commission_bp, progress=progress)
    finally:
        db.dispose()
    print(_("report summary rebuilt: {days} day(s); the daemon keeps it up to date from now on").format(days=days))
    return EXIT_OK


def _report_parser(p: argparse.ArgumentParser) -> None:
    from syncd.reports import GROUPINGS

    p.add_argument("--rebuild-summary", action="store_true",
                   help=_("compute the daily summary the reports read (every day once; docs/reports.md), then exit"))
    p.add_argument("--from", dest="start", type=_day, metavar="DATE",
                   help="first day (YYYY-MM-DD, the configured timezone, Beijing time by default)")
    p.add_argument("--to", dest="end", type=_day, metavar="DATE", help="last day, included (default: --from)")
    p.add_argument("--by", dest="group", choices=GROUPINGS, default="shop",
                   help="one row per " + ", ".join(GROUPINGS) + " (default: shop)")
    p.add_argument("--format", choices=["table", "csv", "xlsx"], default="table",
                   help="table (default, for the terminal), csv or xlsx (for spreadsheets)")
    p.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of the terminal (xlsx needs it)")
    p.set_defaults(fn=cmd_report)


def _stock_parsers(sub: _Sub) -> None:
    """``syncd catalog`` and ``syncd stock`` (issue 19): syncd/stock/cli.py."""
    from syncd.stock.cli import add_parsers

    add_parsers(sub, _audited)




def _console_parser(console: argparse.ArgumentParser) -> None:
    csub = _Sub(console.add_subparsers(dest="action", required=True, metavar="ACTION"))
    csub.add("hash-password", "read a password (prompt, or one line on stdin) and print the hash to put in "
             "SYNCD_CONSOLE_PASSWORD_HASH")
    console.set_defaults(fn=cmd_console)


def cmd_console(args: argparse.Namespace) -> int:
    """``syncd console hash-password``: the password is asked twice at a terminal, or read as one line from stdin
    (a pipe); only its scrypt hash is printed."""
    import getpass

    from syncd.console.auth import MAX_PASSWORD, hash_password

    if sys.stdin.isatty():
        password = getpass.getpass(_("Console password: "))
        if getpass.getpass(_("The same again: ")) != password:
            print("syncd: " + _("the two passwords differ; nothing was printed"), file=sys.stderr)
            return EXIT_USAGE
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 8 or len(password.encode()) > MAX_PASSWORD:
        print("syncd: " + _("a console password has 8 to {n} bytes").format(n=MAX_PASSWORD), file=sys.stderr)
        return EXIT_USAGE
    print(hash_password(password))
    return EXIT_OK


_ID_HELP = "platform order id, SHOP/ORDER_ID, or #internal-id"


def _orders_parser(orders: argparse.ArgumentParser) -> None:
    from syncd.lifecycle import HoldReason, OrderState

    osub = _Sub(orders.add_subparsers(dest="action", required=True, metavar="ACTION"))
    ls = osub.add("list", "orders as a table, newest first; the filters narrow it", json_form=True)
    states, reasons = [s.value for s in OrderState], [r.value for r in HoldReason]
    ls.add_argument("--state", choices=states, metavar="STATE", help="only orders in this state: " + ", ".join(states))
    ls.add_argument("--hold-reason", choices=reasons, metavar="REASON",
                    help="only orders held for this reason: " + ", ".join(reasons))
    ls.add_argument("--shop", help="only this shop's orders (its id in shops/)")
    ls.add_argument("--supplier", help="only orders with a supplier order at this supplier")
    ls.add_argument("--since", type=parse_local_time, metavar="DATE",
                    help="only orders syncd first saw at or after this date or time (YYYY-MM-DD [HH:MM], Beijing)")
    ls.add_argument("--late", nargs="?", type=_hours, const=12.0, metavar="HOURS",
                    help="only orders not shipped yet whose ship-by time is past or within HOURS (default 12), "
                         "nearest first")
    ls.add_argument("--limit", type=_positive, default=200, help="at most this many orders (default 200)")
    osub.add("show", "one order: lines, receiver (masked), supplier orders, parcels, holds, audit trail",
             json_form=True).add_argument("id", help=_ID_HELP)
    acts = {"release": "release a held order to the state its facts imply",
            "resync": "read the order again from its storefront",
            "confirm-cod": "cash on delivery: the buyer confirmed on the phone; the order is forwarded"}
    for name, text in acts.items():
        o = osub.add(name, text)
        o.add_argument("id", help=_ID_HELP)
        _audited(o)
    oh = osub.add("hold", "hold an order until a person releases it")
    oh.add_argument("id", help=_ID_HELP)
    _audited(oh, reason_required=True)
    orp = osub.add("reship", "order again from the supplier (exchange, lost parcel), linked to the first")
    orp.add_argument("id", help=_ID_HELP)
    orp.add_argument("--line", metavar="SKU", help="only this merchant SKU (default: every line)")
    orp.add_argument("--qty", type=int, help="storefront units of --line (default: as ordered)")
    _audited(orp)
    orders.set_defaults(fn=cmd_orders)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.json and not args.json_form:
        what = " ".join(str(w) for w in (args.command, getattr(args, "action", None)) if w)
        parser.error(f"{what} has no --json form (status, health, orders list/show, alerts, "
                     "suppliers unpaid, shadow have)")
    try:
        settings = load_settings()
    except ConfigErrors as errs:
        if args.fn is not cmd_check_config:  # check-config lists them with the config files' problems
            _problems(errs.errors, "the SYNCD_* environment variables")
            return EXIT_CHECK_FAILED
        settings = Settings.model_construct()  # the defaults, for logging only
    setup_logging(settings.log_level, settings.log_format)
    try:
        return int(args.fn(args))
    except ConfigError as err:  # a setting such as SYNCD_SECRET_KEY: an operator message, not a traceback
        print(f"syncd: {err}", file=sys.stderr)
        return EXIT_CHECK_FAILED


if __name__ == "__main__":
    raise SystemExit(main())

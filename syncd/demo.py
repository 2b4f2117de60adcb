"""``syncd demo``: the sandbox simulators and the real daemon on a temporary SQLite database, live.

The demo's folder holds ``config/`` and ``var/`` (the database and the drop folders), the layout ``syncd`` reads
by default; ``--keep`` leaves it after the run and prints the commands to look around in it."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import secrets
import shlex
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from syncd.alerts.commands import list_open
from syncd.alerts.names import SEVERITY_WORDS
from syncd.daemon import run_daemon
from syncd.details import detail_text
from syncd.i18n import _
from syncd.runtime import build_runtime
from syncd.sandboxrun import (
    SANDBOX_SUPPLIERS,
    api_supplier_summary,
    copy_sandbox_config,
    hold_summary,
    load_sandbox_config,
    progress,
    progress_by_shop,
    supplier_dirs,
)
from syncd.settings import Settings
from syncd.stock.demo import StockStory
from syncd.store.db import open_database
from syncd.store.migrate import upgrade
from syncd.views import code_word, hold_word, pad, table


def main(args: argparse.Namespace) -> int:
    if "SYNCD_LOG_LEVEL" not in os.environ:
        logging.getLogger().setLevel(logging.WARNING)  # the live progress lines tell the story
    sandbox_mod: Any = importlib.import_module("syncd.adapters.sandbox.bundle")
    root = Path(tempfile.mkdtemp(prefix="syncd-demo-"))
    try:
        data_dir = root / "var"  # Settings' default data directory: `syncd --config config ...` run in root finds it
        specs = [sandbox_mod.SupplierSpec(sid, *supplier_dirs(data_dir, sid), fmt, enc)
                 for sid, fmt, enc in SANDBOX_SUPPLIERS]
        sandbox = sandbox_mod.Sandbox(orders=args.orders, seed=7, suppliers=specs, reply_delay=1.5,
                                      fault_rate=0.03, bad_row_rate=0.03, release_after=12.0, bot_interval=0.5)
        sandbox.start()
        try:
            code = _run(args, root, data_dir, sandbox)
        finally:
            sandbox.stop()
        if getattr(args, "keep", False):
            sys.stdout.write(look_around(root))
            sys.stdout.write(console_hint(root))
        return code
    finally:
        if not getattr(args, "keep", False):
            shutil.rmtree(root, ignore_errors=True)


def look_around(root: Path) -> str:
    """What ``--keep`` prints: where the demo's data stayed and the commands that read it."""
    return ("\n" + _("The demo's data stays in {root} (delete the folder when done). Look around:").format(root=root)
            + f"\n  cd {shlex.quote(str(root))}\n"
            "  syncd --config config status\n"
            "  syncd --config config orders list --state held\n"
            "  syncd --config config orders show ORDER_ID\n"
            "  syncd --config config alerts\n"
            "  ls var/suppliers/*/inbox/processed/   # "
            + _("reply files; *.errors.csv explain rejected rows") + "\n")


def console_hint(root: Path, port: int = 8080) -> str:
    """What ``--keep`` prints about the web console: a one-time password (shown once, never stored; its hash goes
    in ``console.env`` in the demo's folder) and the command that serves the console on the kept data."""
    from syncd.console.auth import hash_password

    password = secrets.token_urlsafe(12)
    env = root / "console.env"
    env.write_text(f"SYNCD_CONSOLE_PASSWORD_HASH={hash_password(password)}\n", encoding="utf-8")
    env.chmod(0o600)
    return ("\n" + _("The web console on this data: run the daemon with the password's hash from console.env, "
                     "then open {url} and sign in with the one-time password {password}").format(
        url=f"http://127.0.0.1:{port}/", password=password) + "\n"
        f"  cd {shlex.quote(str(root))}\n"
        "  env $(cat console.env) syncd --config config run\n")


def progress_line(p: Any) -> str:
    """The live progress line: orders by state, then parcels (a split order has several), labelled as such."""
    return _("orders {total} | new {new} | routed {routed} | at supplier {placed} | shipped {shipped} | held {held} | "
             "cancelled {cancelled} || parcels: with tracking {tracking}, on the storefront {uploaded}").format(
        total=f"{p.total:>6}", new=f"{p.new:>5}", routed=f"{p.routed:>5}", placed=f"{p.placed:>5}",
        shipped=f"{p.shipped:>5}", held=f"{p.held:>4}", cancelled=f"{p.cancelled:>4}", tracking=f"{p.tracking:>5}",
        uploaded=f"{p.uploaded:>5}")


def _run(args: argparse.Namespace, root: Path, data_dir: Path, sandbox: Any) -> int:
    config_dir = copy_sandbox_config(root / "config")
    config = load_sandbox_config(config_dir, sandbox.url)
    settings = Settings(config_dir=config_dir, data_dir=data_dir)
    db = open_database(settings.db_url())
    upgrade(db)
    rt = build_runtime(settings, config, db)
    print(_("syncd demo: sandbox shops {shops} at {url} with {orders} orders each, 2 drop-folder suppliers in "
            "{folder}").format(shops=", ".join(sandbox.storefronts), url=sandbox.url, orders=args.orders,
                               folder=data_dir / "suppliers") + "\n")
    started = time.monotonic()
    seen: dict[str, Any] = {"line": "", "changed": started}
    story = StockStory(sandbox, rt)  # issue 19: a SKU out of stock at a supplier, a price rise

    def tick() -> None:
        told = story.tick(time.monotonic() - started)
        if told:
            print(f"[{time.monotonic() - started:5.1f}s] {told}", flush=True)
        line = progress_line(progress(db))
        if line != seen["line"]:
            seen["line"], seen["changed"] = line, time.monotonic()
            print(f"[{time.monotonic() - started:5.1f}s] {line}", flush=True)

    def done() -> bool:
        p = progress(db)
        elapsed = time.monotonic() - started
        quiet = time.monotonic() - float(seen["changed"])
        # Held orders wait for a person; an order whose reply row was rejected waits for the supplier.
        expected = int(args.orders) * len(sandbox.storefronts)
        settled = p.total >= expected and p.new == p.routed == 0 and elapsed > 15 and quiet > 6
        return settled or elapsed > float(args.seconds)

    run_daemon(rt, install_signals=True, until=done, on_tick=tick)
    p = progress(db)
    elapsed = time.monotonic() - started
    print()
    _summary(rt, db, data_dir, sandbox, p, elapsed, keep=bool(getattr(args, "keep", False)))
    for line in story.summary():
        print("  " + line)
    rt.close()
    db.dispose()
    return 0 if p.total >= args.orders * len(sandbox.storefronts) and p.new == p.routed == 0 else 1


def _summary(rt: Any, db: Any, data_dir: Path, sandbox: Any, p: Any, elapsed: float, *, keep: bool) -> None:
    out = sys.stdout
    out.write(_("Summary after {seconds}s:").format(seconds=f"{elapsed:.1f}") + "\n")
    out.write("  " + _("{total} orders pulled; {shipped} shipped with tracking written back; {held} held for a "
                       "person; {cancelled} cancelled or shipped elsewhere").format(
        total=p.total, shipped=p.shipped, held=p.held, cancelled=p.cancelled) + "\n")
    if p.placed:
        where = (_("explained in var/suppliers/*/inbox/processed/*.errors.csv") if keep
                 else _("explained in an .errors.csv file: run with --keep to read them"))
        out.write("  " + _("{n} order(s) at a supplier without tracking yet (a rejected reply row is {where})").format(
            n=p.placed, where=where) + "\n")
    for reason, n, detail in hold_summary(db):
        out.write("    " + _("held {reason} {n}   e.g. {detail}").format(
            reason=pad(hold_word(reason), 20), n=f"{n:>4}", detail=detail_text(detail)) + "\n")
    for sid, _format, _encoding in SANDBOX_SUPPLIERS:
        outbox, inbox = supplier_dirs(data_dir, sid)
        files = sorted(f.name for f in outbox.iterdir() if not f.name.startswith(".")) if outbox.exists() else []
        errors = list((inbox / "processed").glob("*.errors.csv")) if inbox.exists() else []
        out.write("  " + _("supplier {supplier}: {files} outbox file(s), {errors} reply file(s) with rejected rows")
                  .format(supplier=sid, files=len(files), errors=len(errors))
                  + (f" ({inbox.relative_to(data_dir.parent) / 'processed'})" if errors and keep else "") + "\n")
    state = sandbox.state()
    for platform in sandbox.storefronts:
        parcels = sum(len(v) for v in state[platform].get("shipments", {}).values())
        errors = state[platform].get("errors", {})
        out.write("  " + _("{platform} simulator: {parcels} parcels recorded, errors answered: {errors}").format(
            platform=platform, parcels=parcels,
            errors=", ".join(f"{code} ×{n}" for code, n in sorted(errors.items())) or "0") + "\n")
    for sid, counts in api_supplier_summary(db, list(rt.api_suppliers)).items():
        out.write("  " + _("supplier {supplier} (API): {counts}").format(
            supplier=sid, counts=", ".join(f"{code_word(what)} {n}" for what, n in counts.items())) + "\n")
    partners = state.get("partners", {})
    if partners:
        dup = partners["1688"].get("duplicates", {})
        out.write("  " + _("1688 simulator: {orders} orders created, {twice} created twice, {lost} answers lost on "
                           "purpose").format(orders=partners["1688"].get("orders_total", 0), twice=len(dup),
                                             lost=partners["1688"].get("lost_replies", 0)) + "\n")
    alerts = list_open(db)
    by_rule = Counter(a["rule"] for a in alerts)
    rules = " (" + ", ".join(f"{r} {n}" for r, n in sorted(by_rule.items())) + ")" if alerts else ""
    out.write("  " + _("open alerts: {n}").format(n=len(alerts)) + rules + "\n")
    for a in alerts[:5]:
        out.write(f"    #{a['id']} {pad(_(SEVERITY_WORDS.get(a['severity'], a['severity'])), 8)} {a['title']}\n")
    if partners:
        robots = partners["robots"].get("accepted", {})
        out.write("  " + _("messages the robots accepted: {counts}").format(
            counts=", ".join(f"{k} {n}" for k, n in robots.items() if n) or "0") + "\n")
    calls = calls_table(rt.stats.calls)
    if calls:
        out.write("  " + _("outside calls:") + "\n" + calls + "\n")
    per_shop = {shop: n for shop, n in progress_by_shop(db).items()}
    out.write("  " + _("orders per shop: {counts}").format(
        counts=", ".join(f"{shop} {n}" for shop, n in per_shop.items())) + "\n")
    if not keep:
        out.write("\n" + _("Run `syncd demo --keep` to keep this run's data and look around in it afterwards."))
    out.write("\n" + _("The same daemon runs against real shops with `syncd run` and your own config/ (see README).")
              + "\n")


def calls_table(calls: Mapping[tuple[str, str], int]) -> str:
    """The outside calls of the run, one row per system and API, most called first."""
    rows = sorted(((system, api, n) for (system, api), n in calls.items()), key=lambda r: (-r[2], r[0], r[1]))
    return table((_("system"), "API", _("calls")), rows, right=(2,), indent="    ", max_width=60) if rows else ""

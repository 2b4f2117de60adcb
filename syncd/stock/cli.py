"""The operator's commands: ``syncd catalog sync|check`` and ``syncd stock status|sync|release``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from syncd import clock
from syncd.errors import NotFoundError, SyncdError
from syncd.i18n import _
from syncd.stock import catalog, engine, guard, status
from syncd.views import table

EXIT_OK, EXIT_FINDINGS = 0, 1


def add_parsers(sub: Any, audited: Any) -> None:
    """``catalog`` and ``stock`` with their actions (``sub``: syncd.cli's subcommand adder)."""
    cat = sub.add("catalog", "storefront catalogue link: which platform SKU carries each merchant SKU code")
    csub = type(sub)(cat.add_subparsers(dest="action", required=True, metavar="ACTION"))
    cs = csub.add("sync", "read a shop's product listing now (every stock-enabled shop when none is named)")
    cs.add_argument("shop", nargs="?", help="the shop's id in shops/")
    cc = csub.add("check", "SKUs on sale without a route, routes whose SKU is not on sale", json_form=True)
    cc.add_argument("--shop", help="only this shop")
    cat.set_defaults(fn=cmd_catalog)
    st = sub.add("stock", "stock and price kept in step with the suppliers (docs/stock.md)")
    ssub = type(sub)(st.add_subparsers(dest="action", required=True, metavar="ACTION"))
    ss = ssub.add("status", "per SKU: supplier stock, stock written, last write, margin", json_form=True)
    ss.add_argument("--shop", help="only this shop")
    ss.add_argument("--sku", action="append", help="only this merchant SKU code (repeatable)")
    sy = ssub.add("sync", "one stock pass now: read the suppliers, write what changed", json_form=True)
    sy.add_argument("--shop", action="append", help="only this shop (repeatable)")
    sy.add_argument("--sku", action="append", help="only this merchant SKU code (repeatable)")
    sy.add_argument("--dry-run", action="store_true", help="show what would be written; write nothing to a shop")
    sr = ssub.add("release", "price guard: let a SKU held at zero sell again at today's supplier price")
    sr.add_argument("sku", help="the merchant SKU code")
    sr.add_argument("--shop", help="only in this shop (default: every shop holding it)")
    audited(sr)
    st.set_defaults(fn=cmd_stock)


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def cmd_catalog(args: argparse.Namespace) -> int:
    from syncd.cli import _refused, _runtime

    try:
        with _runtime(args) as rt:
            shops = engine.stock_shops(rt)
            if args.action == "sync":
                names = [args.shop] if args.shop else sorted(shops)
                for name in names:
                    if name not in shops:
                        raise NotFoundError(_("shop {shop} has no stock sync (stock: enabled: true in its shop "
                                              "file) or is not enabled").format(shop=name))
                for name in names:
                    r = catalog.sync_shop(rt, name, shops[name])
                    print(_("shop {shop}: {skus} SKU(s) listed, {coded} with a merchant code").format(
                        shop=name, skus=r.skus, coded=r.coded))
                return EXIT_OK
            findings = catalog.check(rt, [args.shop] if args.shop else None)
    except SyncdError as err:
        return _refused(err)
    if args.json:
        _print_json([{"shop": f.shop_id, "kind": f.kind, "sku": f.merchant_sku, "detail": f.detail}
                     for f in findings])
    elif not findings:
        print(_("catalogue and routes agree: every SKU on sale has a route, every route's SKU is on sale"))
    else:
        words = {"unrouted": _("on sale, no route"), "not_on_sale": _("routed, not on sale"),
                 "never_synced": _("catalogue never read")}
        print(table((_("shop"), _("SKU"), _("problem"), _("detail")),
                    [[f.shop_id, f.merchant_sku, words.get(f.kind, f.kind), f.detail] for f in findings],
                    max_width=50))
    return EXIT_FINDINGS if findings else EXIT_OK


def cmd_stock(args: argparse.Namespace) -> int:
    from syncd.cli import _config, _db, _refused, _runtime, _settings, _who, _zone

    if args.action == "status":
        settings = _settings(args)
        config = _config(settings)
        found = status.rows(_db(settings), config.routes, [args.shop] if args.shop else None, args.sku)
        if args.json:
            _print_json(found)
            return EXIT_OK
        if not found:
            print(_("no stock recorded yet: run `syncd catalog sync` then `syncd stock sync`"))
            return EXIT_OK
        zone = _zone(settings, config)
        print(table((_("SKU"), _("shop"), _("supplier stock"), _("written"), _("last write"), _("margin"),
                     _("note")),
                    [[r["sku"], r["shop"], status.supply_text(r),
                      "-" if r["written"] is None else r["written"],
                      clock.local_text(r["written_at"], zone), status.yuan(r["margin_fen"]), _note(r)]
                     for r in found], right=(3, 5), max_width=48))
        return EXIT_OK
    if args.action == "release":
        settings = _settings(args)
        db = _db(settings)
        shops = guard.release(db, args.sku, _who(args), args.shop)
        if not shops:
            print(_("syncd: {sku} is not held by the price guard").format(sku=args.sku), file=sys.stderr)
            return 4
        from syncd.store.audit import record

        with db.begin() as s:
            for shop in shops:
                record(s, _who(args), "stock_release", f"{shop}/{args.sku}"[:128], args.reason or "")
        print(_("{sku} released in {shops}: its stock is written again at the next pass").format(
            sku=args.sku, shops=", ".join(shops)))
        return EXIT_OK
    try:
        with _runtime(args) as rt:
            report = engine.run_pass(rt, shops=args.shop, skus=args.sku, dry_run=args.dry_run)
    except SyncdError as err:
        return _refused(err)
    if args.json:
        _print_json({"dry_run": args.dry_run, "shops": report.shops, "read": report.read,
                     "read_errors": report.read_errors, "plans": [_plan(p) for p in report.plans],
                     "written": report.written, "failed": report.failed, "refused": report.refused,
                     "unchanged": report.unchanged, "calls": report.calls, "shop_errors": report.shop_errors,
                     "unknown": report.unknown})
        return EXIT_OK
    if not report.shops:
        print(_("no shop has stock sync on (stock: enabled: true in a shop file)"))
        return EXIT_OK
    if report.plans:
        print(table((_("shop"), _("SKU"), _("platform SKU"), _("before"), _("write"), _("note")),
                    [[p.shop_id, p.merchant_sku, p.sku_id, "-" if p.before is None else p.before, p.value,
                      _plan_note(p)]
                     for p in report.plans], right=(3, 4), max_width=60))
    for supplier, why in report.read_errors.items():
        print(_("supplier {supplier}: stock read failed, its last figures were used: {why}").format(
            supplier=supplier, why=why))
    if args.dry_run:
        print(_("dry run: {n} SKU(s) would be written, {same} unchanged, {unknown} without a supplier figure")
              .format(n=len(report.plans), same=report.unchanged, unknown=len(report.unknown)))
    else:
        print(_("{written} written, {failed} failed (retried at the next pass), {refused} refused by the platform, "
                "{same} unchanged, {unknown} without a supplier figure; {calls} write call(s)").format(
            written=report.written, failed=report.failed, refused=report.refused, same=report.unchanged,
            unknown=len(report.unknown), calls=report.calls))
    return EXIT_OK if not report.shop_errors else 2


def _plan(p: engine.Plan) -> dict[str, Any]:
    return {k: getattr(p, k) for k in p.__slots__}


def _plan_note(p: engine.Plan) -> str:
    if p.reason == "guard":
        return _("margin below the floor: kept at 0 until `syncd stock release {sku}`").format(sku=p.merchant_sku)
    if p.reason == "floor":
        return _("the platform holds {value} back; the suppliers can serve {target}").format(
            value=p.value, target=p.target)
    if p.reason == "resend":
        return _("an earlier write did not finish: sent again (a full value is safe to repeat)")
    return ""


def _note(r: dict[str, Any]) -> str:
    if r["held"]:
        return _("held at zero by the price guard (syncd stock release {sku})").format(sku=r["sku"])
    if r["pending"] is not None:
        return _("writing {n}").format(n=r["pending"])
    if r["margin_low"]:
        return _("margin below the floor")
    return str(r["error"] or "")

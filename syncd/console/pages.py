"""The console's pages: 总览 overview, 订单 orders (list, detail, actions), 告警 alerts, 供应商/物流 suppliers and
parcels. Each handler reads through :mod:`syncd.console.data` (in a worker thread) and renders a Jinja2 template;
each action calls the function behind the matching ``syncd`` command (:mod:`syncd.operations`,
:mod:`syncd.alerts.commands`), which checks it applies and writes the audit log with the signed-in user."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from syncd import clock, operations
from syncd.alerts import commands
from syncd.alerts.names import HOLD_REASON_WORDS, RULE_NAMES, SEVERITY_WORDS
from syncd.alerts.rules import scrub
from syncd.console import data
from syncd.console.advice import RULE_ADVICE, TIMELINE_WORDS
from syncd.console.auth import Session
from syncd.errors import SyncdError
from syncd.i18n import _, ngettext
from syncd.reports import GROUPINGS, Period, ReportOptions, build_report
from syncd.reports.render import GROUP_WORDS, sections
from syncd.reports.render import screen_text as cell_text  # the reports' one cell format (yuan, durations, shares)
from syncd.status import OrderFilter, list_orders, order_details
from syncd.store.db import Database
from syncd.store.models import Order
from syncd.views import ORDER_STATE_WORDS, hold_word, parcel_word, state_word

log = logging.getLogger("syncd.console")

PAGE_SIZE = 50
REPORT_DAYS = 92  # the reports page reads at most a quarter at once (a week at a million orders: 10–20 s)
CARRIER_DAYS = 7  # the suppliers page counts the parcels of the last 7 days per carrier (longer: the reports)
Resync = Callable[[str, str, str, str], int]  # (shop, platform order id, who, why) → changed


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(Path(__file__).with_name("templates")),
                      autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["scrub"] = lambda text: scrub(str(text)) if text else ""  # a mobile number in outside text, masked
    env.globals.update(_=_, ngettext=ngettext, state_word=state_word, hold_word=hold_word, parcel_word=parcel_word,
                       severity_word=lambda s: _(SEVERITY_WORDS[s]) if s in SEVERITY_WORDS else s,
                       rule_name=lambda r: _(RULE_NAMES[r]) if r in RULE_NAMES else r,
                       rule_advice=lambda r: _(RULE_ADVICE[r]) if r in RULE_ADVICE else "",
                       timeline_word=lambda k: _(TIMELINE_WORDS[k]) if k in TIMELINE_WORDS else k)
    return env


def _date(text: str | None, zone: ZoneInfo) -> datetime | None:
    """``YYYY-MM-DD`` (the seller's day) → its midnight as aware UTC; ValueError when it does not read."""
    if not text:
        return None
    day = datetime.strptime(text.strip(), "%Y-%m-%d")  # noqa: DTZ007 - a calendar day, placed in the zone below
    return day.replace(tzinfo=zone).astimezone(UTC)


class Pages:
    """The pages over one database. ``shops``/``suppliers``: the configured ids (the filters offer them);
    ``ship_within_hours``: per supplier, for "late"; ``resync``: reads an order again from its storefront (the
    daemon's runtime), None where there is no runtime (the resync button is then not offered); ``report_options``:
    commission per shop and parcel thresholds of the reports (:mod:`syncd.reports`)."""

    def __init__(self, db: Database, *, zone: ZoneInfo = clock.SHANGHAI, shops: Sequence[str] = (),
                 suppliers: Sequence[str] = (), ship_within_hours: dict[str, float] | None = None,
                 resync: Resync | None = None, report_options: ReportOptions | None = None,
                 now: Callable[[], datetime] = clock.now) -> None:
        self.db = db
        self.zone = zone
        self.shops = list(shops)
        self.suppliers = list(suppliers)
        self.hours = dict(ship_within_hours or {})
        self.resync = resync
        self.report_options = report_options or ReportOptions()
        self.now = now
        self.env = _env()
        self.env.globals["t"] = lambda v: clock.local_text(v, zone)

    def routes(self) -> list[tuple[str, Callable[..., Any], list[str]]]:
        """(path, handler, methods) of every page and action."""
        return [("/", self.overview, ["GET"]), ("/orders", self.orders, ["GET"]),
                ("/orders/{order_id:int}", self.order, ["GET"]),
                ("/orders/{order_id:int}/{action:str}", self.order_action, ["POST"]),
                ("/alerts", self.alerts, ["GET"]), ("/alerts/{alert_id:int}/ack", self.alert_ack, ["POST"]),
                ("/suppliers", self.suppliers_page, ["GET"]), ("/reports", self.reports, ["GET"])]

    def render(self, template: str, session: Session | None = None, status: int = 200, **values: Any) -> HTMLResponse:
        """A page; ``session`` supplies the user, the CSRF token and the messages to show once."""
        html = self.env.get_template(template).render(
            user=session.user if session else None, csrf=session.csrf if session else "",
            flash=session.take_flash() if session else [], **values)
        return HTMLResponse(html, status_code=status)

    def login(self, *, enabled: bool, error: str = "", next_url: str = "") -> str:
        """The sign-in page (``enabled``: a password is configured)."""
        return self.env.get_template("login.html").render(user=None, csrf="", flash=[], enabled=enabled,
                                                          error=error, next_url=next_url)

    def refusal(self, status: int, text: str) -> HTMLResponse:
        """A short page saying why a request was refused."""
        return self.render("refused.html", None, status, text=text)

    # ---- 总览 ----

    async def overview(self, request: Request, session: Session, form: dict[str, str]) -> Response:
        now = self.now()
        view = await run_in_threadpool(data.overview, self.db, now, self.zone)
        rows = view["per_shop_state"]
        shops, states = sorted({r["shop"] for r in rows}), sorted({r["state"] for r in rows})
        week = {(r["shop"], r["state"]): r["orders"] for r in rows}
        f = view["funnel"]
        charts = {"shops": {"categories": shops, "series": [
            {"name": state_word(st), "data": [week.get((sh, st), 0) for sh in shops]} for st in states]},
            "funnel": [{"name": _("pulled"), "value": f["pulled"]}, {"name": _("sent to supplier"),
                                                                      "value": f["forwarded"]},
                       {"name": _("shipped by supplier"), "value": f["supplier_shipped"]},
                       {"name": _("tracking on the storefront"), "value": f["uploaded"]}]}
        return self.render("overview.html", session, view=view, charts=charts, nav="overview", per_shop=rows,
                           today_total=sum(r["today"] for r in rows), week_total=sum(r["orders"] for r in rows))

    # ---- 订单 ----

    def _filter(self, q: dict[str, str]) -> tuple[OrderFilter, list[str]]:
        errors = []
        state = q.get("state") or None
        if state and state not in ORDER_STATE_WORDS:
            errors.append(_("unknown state {value}").format(value=state))
            state = None
        reason = q.get("hold_reason") or None
        if reason and reason not in HOLD_REASON_WORDS:
            errors.append(_("unknown hold reason {value}").format(value=reason))
            reason = None
        since = until = None
        try:
            since = _date(q.get("from"), self.zone)
            until = _date(q.get("to"), self.zone)
            until = until + timedelta(days=1) if until else None  # the whole last day
        except ValueError:
            errors.append(_("dates are written YYYY-MM-DD"))
        before = q.get("before", "")
        return OrderFilter(state=state, hold_reason=reason, shop=(q.get("shop") or None),
                           supplier=(q.get("supplier") or None), since=since, until=until,
                           before_id=int(before) if before.isdigit() else None, limit=PAGE_SIZE), errors

    async def orders(self, request: Request, session: Session, form: dict[str, str]) -> Response:
        q = {k: v[:64] for k, v in request.query_params.items()}
        f, errors = self._filter(q)
        search = q.get("q", "").strip()

        def find() -> list[dict[str, Any]]:
            ids = data.search_orders(self.db, search, self.now()) if search else None
            if ids is not None and not ids:
                return []
            return list_orders(self.db, OrderFilter(**{**f.__dict__, "order_ids": ids}))

        rows = await run_in_threadpool(find)
        more = len(rows) == PAGE_SIZE
        keep = {k: v for k, v in q.items() if v and k != "before"}
        return self.render("orders.html", session, rows=rows, q=q, errors=errors, nav="orders",
                           shops=self.shops, suppliers=self.suppliers, states=list(ORDER_STATE_WORDS),
                           reasons=list(HOLD_REASON_WORDS), more=more, keep=keep,
                           next_before=rows[-1]["id"] if more else None)

    async def order(self, request: Request, session: Session, form: dict[str, str]) -> Response:
        order_id = int(request.path_params["order_id"])

        def load() -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
            with self.db.read() as s:
                if s.get(Order, order_id) is None:
                    return None
            details = order_details(self.db, order_id)
            return details, data.timeline(self.db, details)

        found = await run_in_threadpool(load)
        if found is None:
            return self.render("refused.html", session, 404, text=_("There is no order #{id}.").format(id=order_id))
        details, events = found
        return self.render("order.html", session, o=details, events=events, nav="orders",
                           can_resync=self.resync is not None)

    async def order_action(self, request: Request, session: Session, form: dict[str, str]) -> Response:
        order_id, action = int(request.path_params["order_id"]), request.path_params["action"]
        who, why = f"console:{session.user}", form.get("reason", "").strip()[:500]

        def act() -> str:
            if action == "release":
                state = operations.release(self.db, order_id, who, why)
                return _("Released: the order is now {state}.").format(state=state_word(state))
            if action == "hold":
                if not why:
                    raise _Refused(_("Say why the order is held."))
                operations.hold(self.db, order_id, why, by=who)
                return _("Held: nothing moves for this order until someone releases it.")
            if action == "resync" and self.resync is not None:
                with self.db.read() as s:
                    o = s.get(Order, order_id)
                    if o is None:
                        raise _Refused(_("There is no order #{id}.").format(id=order_id))
                    shop, pid = o.shop_id, o.platform_order_id
                changed = self.resync(shop, pid, who, why)
                return _("Read again from the storefront: changed.") if changed else \
                    _("Read again from the storefront: no change.")
            raise _Refused(_("Unknown action."))

        try:
            session.flash.append(("ok", await run_in_threadpool(act)))
            log.info("console: %s did %s on order #%d", session.user, action, order_id)
        except (SyncdError, _Refused) as err:
            session.flash.append(("error", str(err)))
        except Exception as err:  # noqa: BLE001 - one failed action must not take the console down
            log.error("console: %s on order #%d failed: %s", action, order_id, type(err).__name__)
            session.flash.append(("error", _("The action failed; see the daemon's log.")))
        return RedirectResponse(f"/orders/{order_id}", status_code=303)

    # ---- 告警 ----

    async def alerts(self, request: Request, session: Session, form: dict[str, str]) -> Response:
        lists = await run_in_threadpool(data.alert_lists, self.db, self.now())
        return self.render("alerts.html", session, lists=lists, nav="alerts")

    async def alert_ack(self, request: Request, session: Session, form: dict[str, str]) -> Response:
        alert_id = int(request.path_params["alert_id"])
        who, why = f"console:{session.user}", form.get("reason", "").strip()[:500]
        try:
            done = await run_in_threadpool(commands.ack, self.db, alert_id, who, why)
            session.flash.append(("ok", (_("Alert #{id} closed.") if done["closed"] else
                                         _("Alert #{id} acknowledged: no more reminders.")).format(id=alert_id)))
            log.info("console: %s acknowledged alert #%d", session.user, alert_id)
        except SyncdError as err:
            session.flash.append(("error", str(err)))
        return RedirectResponse("/alerts", status_code=303)

    # ---- 供应商 / 物流 ----

    async def suppliers_page(self, request: Request, session: Session, form: dict[str, str]) -> Response:
        since = self.now() - timedelta(days=CARRIER_DAYS)

        def load() -> dict[str, Any]:
            return {"suppliers": data.supplier_figures(self.db, self.suppliers, self.hours),
                    "carriers": data.carrier_figures(self.db, since),
                    "parcels": data.troubled_parcels(self.db)}

        view = await run_in_threadpool(load)
        states = sorted({st for c in view["carriers"] for st in c["states"]})
        charts = {"carriers": {"categories": [c["carrier"] for c in view["carriers"]], "series": [
            {"name": parcel_word(st), "data": [c["states"].get(st, 0) for c in view["carriers"]]} for st in states]}}
        return self.render("suppliers.html", session, view=view, charts=charts, nav="suppliers", days=CARRIER_DAYS)


    # ---- 报表 ----

    async def reports(self, request: Request, session: Session, form: dict[str, str]) -> Response:
        q = {k: v[:32] for k, v in request.query_params.items()}
        today = clock.ensure_utc(self.now()).astimezone(self.zone).date()
        errors, by = [], q.get("by") or "supplier"
        if by not in GROUPINGS:
            errors.append(_("unknown grouping {value}").format(value=by))
            by = "supplier"
        try:
            first = date.fromisoformat(q["from"]) if q.get("from") else today - timedelta(days=6)
            last = date.fromisoformat(q["to"]) if q.get("to") else today
            if last < first or (last - first).days >= REPORT_DAYS:
                raise ValueError
        except ValueError:
            errors.append(_("a period is written YYYY-MM-DD, ends after it starts and spans at most {n} days")
                          .format(n=REPORT_DAYS))
            first, last = today - timedelta(days=6), today
        period = Period(first, last, self.zone)
        report = await run_in_threadpool(build_report, self.db.engine, period, by, self.report_options, self.now())
        tables = [{"title": sec.title, "headers": sec.headers, "notes": sec.notes,
                   "right": [k != "text" for k in sec.kinds],
                   "rows": [[cell_text(k, v) for k, v in zip(sec.kinds, row, strict=True)] for row in sec.rows]}
                  for sec in sections(report)]
        return self.render("reports.html", session, tables=tables, errors=errors, nav="reports", by=by,
                           first=first.isoformat(), last=last.isoformat(),
                           groupings=[(g, _(GROUP_WORDS[g])) for g in GROUPINGS])


class _Refused(Exception):
    """An action refused before it reached :mod:`syncd.operations` (its text is shown to the user)."""

"""The callback endpoints of the HTTP listener: Kuaidi100 pushes and webhook suppliers' pushes.

Nothing unverified is trusted: the provider's / supplier's own signature check runs first (in the adapter);
a supplier push must name a supplier order we sent to that supplier, and its event id is accepted once
(a replay changes nothing). Bodies may hold personal data: they are never logged.

Every refusal before the sender is known to be genuine answers the same bytes (401 ``refused``): an unknown
supplier id, a supplier that does not push, a missing or bad signature, a stale timestamp. Otherwise the
answers would tell a stranger which supplier ids exist. The reason goes to the log, aggregated (one line per
source per minute, :class:`syncd.httpserver.RefusalLog`), so a flood of forgeries cannot flood the log.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from syncd import clock
from syncd.errors import RejectedError, SyncdError
from syncd.httpserver import RefusalLog
from syncd.runtime import Runtime
from syncd.stages.supplier_api import apply_status
from syncd.stages.track import apply_push
from syncd.store.models import CallbackSeen, SupplierOrder

log = logging.getLogger("syncd.callbacks")

Reply = tuple[int, dict[str, str], bytes]
Handler = Callable[[str, Mapping[str, str], Mapping[str, str], bytes], Reply]

REFUSALS = RefusalLog(log, "callback(s)")
MAX_SHIPMENT_ID = 2**31 - 1  # the largest id the shipments table holds on every database (PostgreSQL integer)
_REFUSED_BODY: dict[str, object] = {
    "error": {"code": "refused", "message": "refused: unknown sender, or signature or timestamp not accepted"}}


def database_id(raw: str, *, largest: int = MAX_SHIPMENT_ID) -> int | None:
    """A row id sent from outside: ASCII digits only (``'²'.isdigit()`` is True, and ``int()`` reads Arabic-Indic
    and full-width digits too) and within the database's integer range; None otherwise."""
    if not raw or len(raw) > len(str(largest)) or not raw.isascii() or not raw.isdigit():
        return None
    value = int(raw)
    return value if 0 < value <= largest else None


def _json(status: int, payload: dict[str, object]) -> Reply:
    return status, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(payload, ensure_ascii=False).encode()


def refused(err: RejectedError, source: str) -> Reply:
    """A signed push refused by its adapter: 400 when malformed (only raised once the signature matched: the
    sender is genuine and may fix it), else the same 401 as an unknown sender; one aggregated log line."""
    code = getattr(err, "code", None) or "refused"
    REFUSALS.note(source, _reason(err))
    if code == "malformed":
        return _json(400, {"error": {"code": code, "message": str(err)[:300]}})
    return _json(401, _REFUSED_BODY)


def _reason(err: RejectedError) -> str:
    """A refusal's reason for the log: its code, or its message cut short (adapters keep secrets out of it)."""
    code = getattr(err, "code", None)
    return repr(code) if code else repr(str(err)[:120])


def kuaidi100_handler(rt: Runtime) -> Handler:
    """``POST /callbacks/kuaidi100[?sid=SHIPMENT]``: a subscription push (form fields ``param`` and ``sign``)."""

    def handle(path: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes) -> Reply:
        provider = rt.tracker
        if provider is None:
            return _json(404, {"error": "no tracking provider is configured"})
        try:
            form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            form = {}
        sid = query.get("sid", "")
        shipment_id = database_id(sid) if sid else None
        if sid and shipment_id is None:
            REFUSALS.note("kuaidi100", "sid is not a shipment id (400)")
            return _json(400, {"result": False, "returnCode": "400", "message": "sid is not a shipment id"})
        try:
            push = provider.parse_push(form)
        except RejectedError as err:
            REFUSALS.note("kuaidi100", _reason(err))
            status, ctype, reply = provider.push_reply(False, str(err))
            return status, {"Content-Type": ctype}, reply
        n = apply_push(rt, push, shipment_id)
        if n == 0:
            log.warning("kuaidi100 push for a tracking number syncd does not follow (%s)", push.carrier)
        status, ctype, reply = provider.push_reply(True, "成功")
        return status, {"Content-Type": ctype}, reply

    return handle


def supplier_handler(rt: Runtime) -> Handler:
    """``POST /callbacks/suppliers/{id}``: a webhook supplier's signed push (tracking, status)."""

    def handle(path: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes) -> Reply:
        supplier_id = path.rstrip("/").rsplit("/", 1)[-1]
        adapter = rt.api_suppliers.get(supplier_id)
        if adapter is None:
            # the id comes from outside: never echoed into a log line as is (a flood of made-up ids would
            # open one log source each), and answered exactly as a bad signature
            REFUSALS.note("suppliers (unknown id)", "no such supplier (401)")
            return _json(401, _REFUSED_BODY)
        try:
            cb = adapter.parse_callback(headers, body, clock.now())
        except RejectedError as err:
            return refused(err, f"supplier {supplier_id}")
        with rt.db.read() as s:
            so_id = s.scalar(select(SupplierOrder.id).where(SupplierOrder.supplier_id == supplier_id,
                                                            SupplierOrder.idempotency_key == cb.idempotency_key))
        if so_id is None:
            REFUSALS.note(f"supplier {supplier_id}", "an order syncd never sent to it (404)")
            return _json(404, {"error": {"code": "unknown_order", "message": "no order with this Idempotency-Key"}})
        try:
            with rt.db.begin() as s:
                if cb.event_id:
                    s.add(CallbackSeen(source=f"supplier:{supplier_id}"[:64], event_id=cb.event_id[:128],
                                       at=clock.now()))
                    s.flush()
                n = apply_status(rt, s, supplier_id, so_id, cb.status, source=f"{supplier_id} push")
        except IntegrityError:
            return _json(200, {"ok": True, "duplicate": True})
        except SyncdError as err:
            return _json(422, {"error": {"code": "unreadable", "message": str(err)}})
        log.info("supplier %s: push recorded (%d new parcel(s))", supplier_id, n)
        return _json(200, {"ok": True})

    return handle

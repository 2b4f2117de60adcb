"""The callback endpoints of the HTTP listener: Kuaidi100 pushes and webhook suppliers' pushes.

Nothing unverified is trusted: the provider's / supplier's own signature check runs first (in the adapter);
a supplier push must name a supplier order we sent to that supplier, and its event id is accepted once
(a replay changes nothing). Bodies may hold personal data: they are never logged.
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
from syncd.runtime import Runtime
from syncd.stages.supplier_api import apply_status
from syncd.stages.track import apply_push
from syncd.store.models import CallbackSeen, SupplierOrder

log = logging.getLogger("syncd.callbacks")

Reply = tuple[int, dict[str, str], bytes]
Handler = Callable[[str, Mapping[str, str], Mapping[str, str], bytes], Reply]


def _json(status: int, payload: dict[str, object]) -> Reply:
    return status, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(payload, ensure_ascii=False).encode()


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
        try:
            push = provider.parse_push(form)
        except RejectedError as err:
            log.warning("kuaidi100 push refused: %s", err)
            status, ctype, reply = provider.push_reply(False, str(err))
            return status, {"Content-Type": ctype}, reply
        sid = query.get("sid", "")
        n = apply_push(rt, push, int(sid) if sid.isdigit() else None)
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
            return _json(404, {"error": {"code": "unknown_supplier", "message": "no such supplier"}})
        try:
            cb = adapter.parse_callback(headers, body, clock.now())
        except RejectedError as err:
            log.warning("supplier %s: push refused: %s", supplier_id, err)
            code = getattr(err, "code", None) or "refused"
            return _json(400 if code == "malformed" else 401, {"error": {"code": code, "message": str(err)}})
        with rt.db.read() as s:
            so_id = s.scalar(select(SupplierOrder.id).where(SupplierOrder.supplier_id == supplier_id,
                                                            SupplierOrder.idempotency_key == cb.idempotency_key))
        if so_id is None:
            log.warning("supplier %s: push for an order syncd never sent to it; refused", supplier_id)
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

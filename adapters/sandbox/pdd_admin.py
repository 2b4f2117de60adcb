"""Unsigned admin endpoints of the Pinduoduo simulator, under ``/pdd/_sandbox/`` (tests and the demo).

======  ==================  ===================================================================
GET     state               counts and effects, see :meth:`PddSimulator.state`
GET     order/<order_sn>    the order as the platform shows it
POST    expire_token        every access token issued so far expires now
POST    faults              ``{"fault_rate"?, "qps"?, "lost_reply_rate"?}``
POST    refund              ``{"order_sn", "line_id"?, "kind": requested|refunded|closed}``
======  ==================  ===================================================================
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from syncd.adapters.sandbox.httpserver import Response, json_response
from syncd.adapters.sandbox.products import admin_stock

if TYPE_CHECKING:
    from syncd.adapters.sandbox.pdd_sim import PddSimulator


def admin(sim: PddSimulator, method: str, route: str, body: bytes) -> Response:
    """Answer one admin request (``route`` is the path below ``_sandbox/``); the caller holds the lock."""
    try:
        payload = json.loads(body) if body.strip() else {}
    except ValueError:
        return json_response(400, {"error": "body is not JSON"})
    if not isinstance(payload, dict):
        return json_response(400, {"error": "body must be a JSON object"})
    head, _, arg = route.partition("/")
    stock = admin_stock(sim.products, method, route, payload)
    if stock is not None:
        return stock
    if method == "GET" and route == "state":
        return json_response(200, sim.state())
    if method == "GET" and head == "order":
        order = sim.book.orders.get(arg)
        if order is None:
            return json_response(404, {"error": f"no order {arg}"})
        return json_response(200, {"order": sim.book.view(order)})
    if method == "POST" and route == "expire_token":
        return json_response(200, {"expired": sim.tokens.expire_all(sim.clock())})
    if method == "POST" and route == "faults":
        if "fault_rate" in payload:
            sim.fault_rate = float(payload["fault_rate"])
        if "lost_reply_rate" in payload:
            sim.lost_reply_rate = float(payload["lost_reply_rate"])
        if "qps" in payload:
            sim.qps = payload["qps"]
            sim._buckets.clear()
        return json_response(200, {"fault_rate": sim.fault_rate, "qps": sim.qps,
                                   "lost_reply_rate": sim.lost_reply_rate})
    if method == "POST" and route == "refund":
        sn, kind = payload.get("order_sn"), payload.get("kind")
        if sn not in sim.book.orders or kind not in ("requested", "refunded", "closed"):
            return json_response(400, {"error": 'expected {"order_sn": known, "kind": requested|refunded|closed}'})
        try:
            record = sim.book.set_refund(sn, payload.get("line_id"), kind, sim.clock())
        except ValueError:
            return json_response(404, {"error": f"order {sn} has no line {payload.get('line_id')}"})
        return json_response(200, {"refund": record})
    return json_response(404, {"error": f"no admin endpoint {method} _sandbox/{route}"})

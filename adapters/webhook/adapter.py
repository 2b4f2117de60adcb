"""A supplier speaking syncd's signed JSON contract (docs/webhook-supplier.md): ApiSupplierAdapter."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from syncd import clock
from syncd.adapters.common.replay import ReplayGuard
from syncd.adapters.webhook import mapping, stock
from syncd.adapters.webhook.client import WebhookClient, mask_text
from syncd.adapters.webhook.config import Api, WebhookSupplierConfig
from syncd.adapters.webhook.errors import NotFound
from syncd.adapters.webhook.signing import SignatureRefused, verify
from syncd.domain import (
    CancelResult,
    PlacedOrder,
    StockAnswer,
    StockLine,
    SupplierCallback,
    SupplierLine,
    SupplierOrderRequest,
    SupplierOrderStatus,
    TrackResult,
)
from syncd.errors import ProtocolError, RejectedError, SyncdError
from syncd.registry import AdapterContext
from syncd.stockmodel import StockReadResult, SupplierStock

log = logging.getLogger("syncd.adapters.webhook")

_MAX_REASON = 200


class WebhookSupplier:
    """:class:`syncd.protocols.ApiSupplierAdapter` for one supplier with its own HTTP API."""

    kind: str = "webhook"

    def __init__(self, config: WebhookSupplierConfig, ctx: AdapterContext, client: WebhookClient | None = None) -> None:
        self._config = config
        self._client = client or WebhookClient(config, ctx)
        self._seen = ReplayGuard()

    # ---- orders -----------------------------------------------------------------------------------

    def check_stock(self, request: SupplierOrderRequest) -> StockAnswer | None:
        """``POST stock`` for the order's SKUs; None when the supplier file says ``stock: false``.

        A 422 is the supplier refusing to answer for these SKUs: a StockAnswer that cannot say per line,
        with the supplier's words in ``detail``."""
        if not self._config.stock:
            return None
        wanted = mapping.wanted_per_sku(request)
        try:
            reply = self._client.call("stock", "POST", payload=mapping.stock_body(wanted))
        except RejectedError as err:
            lines = [StockLine(supplier_sku=sku, wanted=qty, available=None) for sku, qty in wanted.items()]
            return StockAnswer(lines=lines, detail=f"stock check refused: {err.code}: {err.platform_message or ''}"
                               .rstrip(": "))
        return mapping.stock_answer(reply.data, wanted, self._where("stock", "POST"))

    def check_stock_batch(self, orders: Sequence[Sequence[SupplierLine]]) -> list[StockAnswer] | None:
        """The stock of a batch of orders in one ``POST stock`` (each SKU once, quantities summed over the batch;
        at most READ_LINES SKUs a request, more in several): one answer per order, as :meth:`check_stock` would
        give it alone. None when the supplier file says ``stock: false``, or when the supplier refuses (422) or
        fails the batch's call: each order is then asked about alone, and what that call says counts for it."""
        if not self._config.stock or not orders:
            return None
        wanted = [mapping.sum_per_sku(lines) for lines in orders]
        total = mapping.sum_per_sku(ln for lines in orders for ln in lines)
        skus = list(total)
        available: dict[str, int | None] = {}
        notes: dict[str, str] = {}
        try:
            for i in range(0, len(skus), stock.READ_LINES):
                chunk = {sku: total[sku] for sku in skus[i:i + stock.READ_LINES]}
                reply = self._client.call("stock", "POST", payload=mapping.stock_body(chunk))
                got, said = mapping.stock_figures(reply.data, self._where("stock", "POST"))
                available.update((sku, got.get(sku)) for sku in chunk)
                notes.update((sku, said[sku]) for sku in chunk if sku in said)
        except SyncdError as err:
            log.info("webhook supplier %s: the batch stock check of %d orders failed (%s); each order is asked "
                     "about alone", self._config.id, len(orders), err)
            return None
        return [mapping.answer_for(w, available, notes) for w in wanted]

    def place(self, request: SupplierOrderRequest) -> PlacedOrder:
        """``POST orders`` with the order's Idempotency-Key: 201 a new order, 200 the one the key already made.

        Timeouts and 5xx are retried with the same key (the contract makes that safe); when they persist,
        TransientError: the outcome is unknown and the core asks :meth:`find`."""
        r = request.receiver
        reply = self._client.call("create", "POST", payload=mapping.order_body(request),
                                  idempotency_key=request.idempotency_key,
                                  private=(r.name, r.phone, r.street, r.detail, r.full_address()))
        placed = mapping.placed_order(reply.data, request.idempotency_key, self._where("create", "POST"))
        if reply.status == 200:
            log.info("webhook supplier %s already had order %s for key %s (a resend answered with the same order)",
                     self._config.id, placed.supplier_ref, request.idempotency_key)
        return placed

    def find(self, idempotency_key: str, placed_after: datetime) -> PlacedOrder | None:
        """``GET status`` by key: the order the key made, or None (404 ``not_found``): nothing was created."""
        try:
            reply = self._client.call("status", "GET", key=idempotency_key)
        except NotFound:
            return None
        return mapping.placed_order(reply.data, idempotency_key, self._where("status", "GET"))

    def pay(self, order: PlacedOrder) -> PlacedOrder:
        """Webhook suppliers are paid on account: the order as it is."""
        return order

    def status(self, idempotency_key: str, supplier_ref: str) -> SupplierOrderStatus:
        """``GET status``: phase and parcels (carrier normalised, line refs kept)."""
        where = self._where("status", "GET")
        reply = self._client.call("status", "GET", key=idempotency_key)
        key, status = mapping.order_status(reply.data, where)
        if key != idempotency_key:
            raise ProtocolError(f"{where}idempotency_key: expected {idempotency_key!r}, found {key[:80]!r}")
        if supplier_ref and status.supplier_ref != supplier_ref:
            raise ProtocolError(f"{where}supplier_order_id: expected {supplier_ref!r} (as placed), "
                                f"found {status.supplier_ref[:80]!r}")
        status.detail = mask_text(status.detail)
        return status

    def cancel(self, idempotency_key: str, supplier_ref: str, reason: str) -> CancelResult:
        """``POST cancel``: cancelled, or too_late once the supplier has handed parcels over."""
        reply = self._client.call("cancel", "POST", key=idempotency_key, payload={"reason": reason[:_MAX_REASON]})
        result = mapping.cancel_result(reply.data, idempotency_key, self._where("cancel", "POST"))
        result.detail = mask_text(result.detail)
        return result

    def trace(self, supplier_ref: str, tracking_no: str) -> TrackResult | None:
        """The contract has no logistics trace: the tracking provider follows the parcels."""
        return None

    # ---- callbacks --------------------------------------------------------------------------------

    def parse_callback(self, headers: Mapping[str, str], body: bytes, now: datetime) -> SupplierCallback:
        """Verify a push (signature over ``POST`` and the callback path, timestamp window) and read it."""
        who = f"webhook supplier {self._config.id} callback"
        if self._config.tracking != "push":
            raise RejectedError(f"{who}: this supplier does not push (tracking: poll in its file)", code="not_push")
        raw, _ = self._verified(who, self._config.signed_callback_path, headers, body, now)
        try:
            event_id, key, status = mapping.callback(raw)
        except ProtocolError as err:
            raise RejectedError(f"{who} refused: {err}", code="malformed") from None
        status.detail = mask_text(status.detail)
        return SupplierCallback(idempotency_key=key, status=status, event_id=event_id)

    def _verified(self, who: str, path: str, headers: Mapping[str, str], body: bytes,
                  now: datetime) -> tuple[dict[str, Any], int]:
        """(JSON object, signed timestamp) of a push signed over ``POST`` and ``path`` inside the window."""
        try:
            stamp = verify(self._config.secret.get_secret_value(), headers, "POST", path, body,
                           now=clock.ensure_utc(now).timestamp(), window=self._config.timestamp_window_seconds)
        except SignatureRefused as err:
            raise RejectedError(f"{who} refused: {err}", code=err.code) from None
        try:
            raw = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise RejectedError(f"{who} refused: body is not UTF-8 JSON ({len(body)} bytes)",
                                code="malformed") from None
        if not isinstance(raw, dict):
            raise RejectedError(f"{who} refused: body is JSON {type(raw).__name__}, expected an object",
                                code="malformed")
        return raw, stamp

    # ---- stock and price (syncd.stockmodel.SupplierStockSource) -------------------------------------

    def read_stock(self, supplier_skus: Sequence[str]) -> StockReadResult:
        """``POST stock`` for figures, at most 100 SKUs a call; ``available`` and ``price_fen`` per SKU. A 422
        (the supplier will not answer for these SKUs) defers them; a supplier without the call (``stock:
        false``) is not asked."""
        result = StockReadResult()
        skus = list(dict.fromkeys(supplier_skus))
        if not self._config.stock:
            result.deferred.update(dict.fromkeys(skus, "the supplier file says stock: false"))
            return result
        where = self._where("stock", "POST")
        for i in range(0, len(skus), stock.READ_LINES):
            chunk = skus[i:i + stock.READ_LINES]
            try:
                reply = self._client.call("stock", "POST", payload=stock.read_body(chunk))
            except RejectedError as err:
                why = f"stock read refused: {err.code}: {err.platform_message or ''}".rstrip(": ")[:_MAX_REASON]
                result.deferred.update(dict.fromkeys(chunk, why))
                continue
            stock.read_result(reply.data, chunk, where, result)
        return result

    def parse_stock_push(self, headers: Mapping[str, str], body: bytes, now: datetime) -> list[SupplierStock]:
        """A signed push of stock changes to ``/callbacks/suppliers/<id>/stock`` (docs/webhook-supplier.md §9.1):
        signature and window checked, then the signed push taken once (the same timestamp and event_id again inside
        the window: code ``replay``; a resend signed afresh is read again)."""
        who = f"webhook supplier {self._config.id} stock push"
        raw, stamp = self._verified(who, self._config.signed_stock_callback_path, headers, body, now)
        try:
            event_id, figures = stock.push(raw, clock.from_epoch(stamp))
        except ProtocolError as err:
            raise RejectedError(f"{who} refused: {err}", code="malformed") from None
        # A resend after a failed answer is signed afresh (new timestamp) and taken again: its figures are full
        # values, so twice does no harm. The same signed bytes a second time are a replay.
        if not self._seen.first_time(f"{stamp}:{event_id}", clock.ensure_utc(now).timestamp(),
                                     self._config.timestamp_window_seconds):
            raise RejectedError(f"{who}: event {event_id[:40]} at {stamp} was taken already", code="replay")
        return figures

    # ---- lifecycle --------------------------------------------------------------------------------

    def ensure_token(self) -> None:
        """No token: every request is signed with the shared secret."""

    def close(self) -> None:
        """Nothing to release: the HTTP client belongs to the core."""

    def _where(self, api: Api, method: str) -> str:
        return f"{self._client.what(api, method)}: "


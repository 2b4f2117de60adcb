"""1688 (阿里巴巴1688) as a dropship supplier: preview, order, find, pay, status, cancel, trace.

reference/suppliers-tracking-alerts.md §A.4–A.6, field-notes §2. Ordering is not idempotent:
``place`` never retries; after an unknown outcome the core calls ``find`` (getBuyerOrderList by
``outOrderId``) before it ever sends again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from syncd.adapters.alibaba import mapping as m
from syncd.adapters.alibaba.client import (
    CANCEL,
    CREATE,
    LOGISTICS_INFOS,
    LOGISTICS_TRACE,
    ORDER_DETAIL,
    ORDER_LIST,
    PREVIEW,
    PROTOCOL_PAY,
    AlibabaClient,
)
from syncd.adapters.alibaba.config import AlibabaSupplierConfig
from syncd.adapters.alibaba.messages import MessageReader
from syncd.adapters.alibaba.products import ProductReader
from syncd.domain import (
    CancelOutcome,
    CancelResult,
    LogisticsState,
    PlacedOrder,
    StockAnswer,
    StockLine,
    SupplierCallback,
    SupplierOrderPhase,
    SupplierOrderRequest,
    SupplierOrderStatus,
    TrackResult,
)
from syncd.errors import OutOfStockError, ProtocolError, RejectedError, TransientError
from syncd.registry import AdapterContext
from syncd.stockmodel import StockReadResult, SupplierStock

log = logging.getLogger("syncd.adapters.alibaba")

WEBSITE = "1688"
PAGE_SIZE = 20
MAX_PAGES = 50  # 1,000 orders since the key's first attempt: far more than one buyer places in the window
NOT_SHIPPED = "500_2"  # getLogisticsInfos: 订单尚未发货，暂无物流详情
NO_TRACE = "404"  # getLogisticsTraceInfo: 无法找到相对应的物流单跟踪信息
TOO_OLD = "order.createtime.history"  # traces older than a year
TOO_FAST = "CLOSE_ORDER_TOO_FAST"  # cancel within ~10 s of creation
OK_CARGO = frozenset({"", "200", "0", "success", "true"})
_STOCK_WORDS = ("库存", "起批", "起订", "下架", "stock", "500_005", "offline", "不足")
LOGISTICS_FIELDS = "company.name,sender,receiver,sendgood"


class AlibabaAdapter:
    """:class:`syncd.protocols.ApiSupplierAdapter` for one 1688 buyer account and supplier."""

    kind: str = "1688"

    def __init__(self, config: AlibabaSupplierConfig, ctx: AdapterContext,
                 client: AlibabaClient | None = None) -> None:
        self._config = config
        self._client = client or AlibabaClient(config, ctx)
        self.products = ProductReader(self._client, config.products, config.id)
        self._messages = MessageReader(config, self.products)

    # ---- before ordering -----------------------------------------------------------------------------

    def check_stock(self, request: SupplierOrderRequest) -> StockAnswer | None:
        """alibaba.createOrder.preview: a cargo 1688 refuses counts as short (available 0) with its words."""
        params = {"flow": self._config.flow, "addressParam": m.address_param(request.receiver),
                  "cargoParamList": m.cargo_list(request.lines)}
        answer = self._client.call(PREVIEW, params, hide=m.sensitive(request.receiver), refusals=True)
        wanted = [(ln.supplier_sku, ln.quantity, m.parse_sku(ln.supplier_sku)) for ln in request.lines]
        if answer.code:
            words = f"{answer.code} {answer.message}".strip()
            if not any(w in words.lower() for w in _STOCK_WORDS):
                raise RejectedError(f"1688 {PREVIEW}: error {words}", code=answer.code,
                                    platform_message=answer.message or None)
            return StockAnswer([StockLine(sku, qty, 0) for sku, qty, _ in wanted], detail=f"1688: {words}")
        results = m.objects(answer.body.get("orderPreviewResuslt"), PREVIEW, "orderPreviewResuslt")
        refused: dict[tuple[str, str], str] = {}
        for result in results:
            for cargo in m.objects(result.get("cargoList"), PREVIEW, "cargoList"):
                code = m.text(cargo.get("resultCode"))
                if code.lower() not in OK_CARGO:
                    key = (m.text(cargo.get("offerId")), m.text(cargo.get("specId")))
                    refused[key] = f"{code} {m.text(cargo.get('message'))}".strip()
        lines: list[StockLine] = []
        details: list[str] = []
        for sku, qty, (offer, spec) in wanted:
            why = refused.get((str(offer), spec or "")) or (None if spec else _by_offer(refused, str(offer)))
            lines.append(StockLine(sku, qty, 0 if why else None))
            if why:
                details.append(f"{sku}: {why}")
        return StockAnswer(lines, detail="; ".join(details))

    # ---- ordering --------------------------------------------------------------------------------------

    def place(self, request: SupplierOrderRequest) -> PlacedOrder:
        """alibaba.trade.fastCreateOrder with outOrderId = the idempotency key; never retried here."""
        params: dict[str, Any] = {
            "flow": self._config.flow, "outOrderId": request.idempotency_key, "fenxiaoChannel": request.platform,
            "addressParam": m.address_param(request.receiver), "cargoParamList": m.cargo_list(request.lines),
            "message": m.message_for(self._config, request)}
        try:
            answer = self._client.call(CREATE, params, retried=False, hide=m.sensitive(request.receiver))
        except OutOfStockError:
            raise
        except RejectedError as err:
            words = f"{err.code or ''} {err.platform_message or ''}".lower()
            if any(w in words for w in _STOCK_WORDS):  # 500_006 库存不足, 500_005 起批量: nothing was created
                raise OutOfStockError(str(err), code=err.code, platform_message=err.platform_message) from err
            raise
        except TransientError as err:
            raise type(err)(f"{err}; the order may exist at 1688: look it up by outOrderId "
                            f"{request.idempotency_key} before sending again", retry_after=err.retry_after,
                            code=err.code) from err
        result = m.obj(answer.body.get("result"), CREATE, "result")
        ref = m.text(result.get("orderId"))
        if not (ref.isascii() and ref.isdigit()):
            raise ProtocolError(f"1688 {CREATE}: success without an orderId for outOrderId "
                                f"{request.idempotency_key}: look it up before sending again")
        failed = m.objects(result.get("failedOfferList"), CREATE, "result.failedOfferList")
        if failed:
            offers = ", ".join(f"{m.text(f.get('offerId'))} {m.text(f.get('errorCode'))} "
                               f"{m.text(f.get('errorMessage'))}".strip() for f in failed)
            log.error("1688 supplier %s: order %s (outOrderId %s) was created without some offers: %s",
                      self._config.id, ref, request.idempotency_key, offers)
        return PlacedOrder(supplier_ref=ref, paid=False, amount_fen=m.fen(result.get("totalSuccessAmount")))

    def find(self, idempotency_key: str, placed_after: datetime) -> PlacedOrder | None:
        """getBuyerOrderList by outOrderId since ``placed_after``, paged through; None when 1688 has none."""
        found: list[dict[str, Any]] = []
        seen = 0
        for page in range(1, MAX_PAGES + 1):
            body = self._client.call(ORDER_LIST, {
                "outOrderId": idempotency_key, "createStartTime": m.format_time(placed_after),
                "page": page, "pageSize": PAGE_SIZE}).body
            entries = m.objects(body.get("result"), ORDER_LIST, "result")
            seen += len(entries)
            for entry in entries:
                base = m.base_info(entry, ORDER_LIST)
                tagged = m.text(base.get("outOrderId")) or m.text(entry.get("outOrderId"))
                # 1688 filters by outOrderId itself; an entry that names another key is not ours.
                if not tagged or tagged == idempotency_key:
                    found.append(entry)
            total = m.text(body.get("totalRecord"))
            if not entries or len(entries) < PAGE_SIZE or (total.isascii() and total.isdigit() and seen >= int(total)):
                break
        else:
            raise ProtocolError(f"1688 {ORDER_LIST}: more than {MAX_PAGES} pages for outOrderId {idempotency_key}")
        if not found:
            return None
        placed = [m.placed_from(e, ORDER_LIST) for e in found]
        if len(placed) > 1:
            log.error("1688 supplier %s: %d orders carry outOrderId %s (%s): a person should cancel the "
                      "duplicates", self._config.id, len(placed), idempotency_key,
                      ", ".join(p.supplier_ref for p in placed))
        return min(placed, key=lambda p: (not p.paid, int(p.supplier_ref)))

    def pay(self, order: PlacedOrder) -> PlacedOrder:
        """protocolPay.preparePay (免密支付) when the file says ``payment: protocol_pay``."""
        if self._config.payment != "protocol_pay":
            raise RejectedError(f"1688 order {order.supplier_ref}: awaiting payment by a person",
                                code="manual-payment")
        if order.paid:
            return order
        paid = self._client.call(PROTOCOL_PAY, {"tradeWithholdPreparePayParam": {"orderId": int(order.supplier_ref)}})
        result = paid.body.get("result")
        if isinstance(result, dict) and m.is_true(result.get("paySuccess")):
            # 1688 says the withholding went through: no read-back (the next status check sees it paid anyway)
            return PlacedOrder(supplier_ref=order.supplier_ref, paid=True, amount_fen=order.amount_fen)
        detail = self._client.call(ORDER_DETAIL, {"orderId": order.supplier_ref, "webSite": WEBSITE}).body
        now = m.placed_from(m.obj(detail.get("result"), ORDER_DETAIL, "result"), ORDER_DETAIL)
        return PlacedOrder(supplier_ref=order.supplier_ref, paid=now.paid,
                           amount_fen=now.amount_fen if now.amount_fen is not None else order.amount_fen)

    # ---- after ordering --------------------------------------------------------------------------------

    def status(self, idempotency_key: str, supplier_ref: str) -> SupplierOrderStatus:
        """get.buyerView, plus getLogisticsInfos.buyerView once the order can have parcels.

        Parcels' ``line_refs`` are supplier SKUs (``offerId`` / ``offerId:specId``) of the items they
        hold; the core maps them onto its lines.
        """
        body = self._client.call(ORDER_DETAIL, {"orderId": supplier_ref, "webSite": WEBSITE}).body
        result = m.obj(body.get("result"), ORDER_DETAIL, "result")
        base = m.base_info(result, ORDER_DETAIL)
        status = m.status_of(base, ORDER_DETAIL)
        phase = m.phase_of(status, ORDER_DETAIL)
        detail = f"1688 status {status}"
        if status in m.NEVER_SHIPS:
            reason = m.text(base.get("closeReason"))
            return SupplierOrderStatus(supplier_ref, phase, [], detail + (f" ({reason})" if reason else ""))
        skus = m.item_skus(m.objects(result.get("productItems"), ORDER_DETAIL, "productItems"))
        native = m.native_entries(result.get("nativeLogistics"))
        if status in m.NOT_SENT and isinstance(result.get("nativeLogistics"), dict) and not native:
            # The order names no parcel yet: no logistics call. An order is asked about every poll until it
            # ships (a day or two): this halves the calls while it waits. Without nativeLogistics, ask.
            return SupplierOrderStatus(supplier_ref, phase, [], detail)
        answer = self._client.call(LOGISTICS_INFOS, {"orderId": supplier_ref, "webSite": WEBSITE,
                                                     "fields": LOGISTICS_FIELDS}, tolerate={NOT_SHIPPED})
        infos = [] if answer.code else m.objects(answer.body.get("result"), LOGISTICS_INFOS, "result")
        parcels = m.parcels_from(infos, skus, native, LOGISTICS_INFOS)
        if phase is SupplierOrderPhase.ACCEPTED and parcels:
            phase = SupplierOrderPhase.PARTIAL
        return SupplierOrderStatus(supplier_ref, phase, parcels, detail)

    def cancel(self, idempotency_key: str, supplier_ref: str, reason: str) -> CancelResult:
        """alibaba.trade.cancel while unpaid; paid or shipped orders are a person's job (refund APIs)."""
        body = self._client.call(ORDER_DETAIL, {"orderId": supplier_ref, "webSite": WEBSITE}).body
        status = m.status_of(m.base_info(m.obj(body.get("result"), ORDER_DETAIL, "result"), ORDER_DETAIL),
                             ORDER_DETAIL)
        if status in ("cancel", "terminated"):
            return CancelResult(CancelOutcome.CANCELLED, f"1688 order {supplier_ref} is already {status}")
        if status != m.UNPAID:
            return CancelResult(CancelOutcome.TOO_LATE, f"1688 order {supplier_ref} is {status}: paid orders "
                                "are cancelled through a refund in 1688 by a person")
        answer = self._client.call(CANCEL, {"webSite": WEBSITE, "tradeID": supplier_ref,
                                            "cancelReason": "buyerCancel", "remark": reason[:200]},
                                   tolerate={TOO_FAST}, refusals=True)
        if not answer.code:
            return CancelResult(CancelOutcome.CANCELLED, f"1688 order {supplier_ref} cancelled")
        words = f"{answer.code} {answer.message}".strip()
        if answer.code == TOO_FAST:
            return CancelResult(CancelOutcome.RETRY, f"1688: {words} (cancel again in a few seconds)")
        return CancelResult(CancelOutcome.TOO_LATE, f"1688 refused to cancel order {supplier_ref}: {words}")

    def trace(self, supplier_ref: str, tracking_no: str) -> TrackResult | None:
        """getLogisticsTraceInfo.buyerView: steps → events (acceptTime Shanghai → UTC), state from words."""
        answer = self._client.call(LOGISTICS_TRACE, {"orderId": supplier_ref, "webSite": WEBSITE},
                                   tolerate={NO_TRACE, TOO_OLD})
        if answer.code == NO_TRACE:
            return TrackResult(state=LogisticsState.NONE, events=[], verdict="no_records")
        if answer.code == TOO_OLD:
            return None
        body = answer.body
        raw = body.get("logisticsTrace") if body.get("logisticsTrace") is not None else body.get("result")
        traces = m.objects(raw, LOGISTICS_TRACE, "logisticsTrace")
        return m.trace_from(traces, tracking_no, LOGISTICS_TRACE)

    def parse_callback(self, headers: Mapping[str, str], body: bytes, now: datetime) -> SupplierCallback:
        """1688's push envelope and its signature are unconfirmed (§A.6): nothing pushed is trusted."""
        raise RejectedError("1688 pushes are not supported; syncd polls", code="no-push")

    # ---- stock and price (syncd.stockmodel.SupplierStockSource) ----------------------------------------

    def read_stock(self, supplier_skus: Sequence[str]) -> StockReadResult:
        """Stock and price per spec through ``products.api``, one call per offer (adapters/alibaba/products.py)."""
        return self.products.read(supplier_skus)

    def parse_stock_push(self, headers: Mapping[str, str], body: bytes, now: datetime) -> list[SupplierStock]:
        """A followed product's stock / price / delisting message, verified (adapters/alibaba/messages.py)."""
        return self._messages.parse(headers, body, now)

    def ensure_token(self) -> None:
        """Refresh the access token ahead of expiry; extend the refresh token in its last 30 days."""
        self._client.ensure_token()

    def close(self) -> None:
        """Nothing of its own to release (the HTTP client is shared)."""


def _by_offer(refused: Mapping[tuple[str, str], str], offer: str) -> str | None:
    """A line given as a bare offerId matches a refusal of any spec of that offer."""
    return next((why for (o, _), why in refused.items() if o == offer), None)

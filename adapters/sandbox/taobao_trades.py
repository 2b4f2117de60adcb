"""The trade side of the Taobao simulator: listing, fullinfo, oaid decryption, shipping, refunds.

Not thread-safe by itself: :class:`adapters.sandbox.taobao_sim.TaobaoSimulator` serialises calls.
Facts from reference/storefronts.md §3.4–3.6. Where the reference leaves a refusal's sub_code open the
simulator picks: unknown trade → 15 ``isv.trade-not-exist``; a tracking number already used by another
trade → ``…:F02``; a sub-order not of the trade → ``…:CD27``; a refunded sub-order → ``…:CD28``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from syncd.adapters.sandbox import taobao_seed as tseed
from syncd.adapters.sandbox.taobao_errors import TopError, invalid, logistics, missing

_DAY = 86400
_LOOKBACK = 92 * _DAY  # "only the last 3 months"
TRACKING_RE = re.compile(r"^[A-Za-z0-9]{8,20}$")
MAX_DECRYPT = 20
SHIPPABLE = ("WAIT_SELLER_SEND_GOODS", "SELLER_CONSIGNED_PART")
OAID_FIELDS = ("receiver_name", "receiver_address", "created", "receiver_mobile", "receiver_phone")
# The saved real answer of reference §3.6, plus JD and J&T (their real codes are unconfirmed: the sandbox's pick).
COMPANIES: list[dict[str, Any]] = [
    {"id": i, "code": c, "name": n, "reg_mail_no": "^[A-Za-z0-9]{8,20}$"} for i, c, n in (
        (505, "SF", "顺丰速运"), (500, "ZTO", "中通快递"), (101, "YTO", "圆通速递"), (100, "STO", "申通快递"),
        (102, "YUNDA", "韵达快递"), (2, "EMS", "EMS"), (1, "POST", "中国邮政"), (200734, "POSTB", "邮政快递包裹"),
        (502, "HTKY", "百世快递"), (103, "ZJS", "宅急送"), (107, "DBL", "德邦物流"),
        (5000000110730, "DBKD", "德邦快递"), (9001, "JD", "京东物流"), (9002, "JTSD", "极兔速递"),
        (-1, "OTHER", "其他"))]
_COMPANY = {c["code"]: c for c in COMPANIES}


def _int(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise invalid(name, f"{name}必须在{low}到{high}之间")
    return int(raw)


def _time(params: dict[str, str], name: str) -> float:
    try:
        return tseed.parse(params[name])
    except ValueError:
        raise invalid(name, f"{name}格式错误，应为yyyy-MM-dd HH:mm:ss") from None


def _window(params: dict[str, str], now: float, *, required: bool, max_span: float | None) -> tuple[str, str]:
    """``[start_modified, end_modified]`` as text (which sorts like time), checked."""
    for name in ("start_modified", "end_modified"):
        if not params.get(name) and required:
            raise missing(name)
    start = _time(params, "start_modified") if params.get("start_modified") else now - _LOOKBACK
    end = _time(params, "end_modified") if params.get("end_modified") else now
    if end < start:
        raise invalid("end_modified", "end_modified不能早于start_modified")
    if max_span is not None and end - start > max_span:
        raise invalid("start_modified", "start_modified与end_modified的时间跨度不能超过一天")
    if start < now - _LOOKBACK:
        raise invalid("start_modified", "只能查询三个月内的数据")
    return tseed.text(start), tseed.text(end)


def _page(params: dict[str, str], hits: list[dict[str, Any]], list_key: str, item_key: str,
          project: Any) -> dict[str, Any]:
    page_no = _int(params, "page_no", 1, 1, 1_000_000)
    size = _int(params, "page_size", 40, 1, 100)
    chunk = [project(h) for h in hits[(page_no - 1) * size:page_no * size]]
    body: dict[str, Any] = {list_key: {item_key: chunk}} if chunk else {}
    if params.get("use_has_next") == "true":
        body["has_next"] = page_no * size < len(hits)
    else:
        body["total_results"] = len(hits)
    return body


def _fields(params: dict[str, str]) -> set[str]:
    if not params.get("fields"):
        raise missing("fields")
    return {f.strip() for f in params["fields"].split(",") if f.strip()}


class TradeBook:
    """Trades of one shop and everything that happened to them."""

    def __init__(self, trades: Iterable[dict[str, Any]], *, list_oaid: bool = False) -> None:
        self.trades: dict[str, dict[str, Any]] = {}
        self.current_oaid: dict[str, str] = {}
        self.receivers: dict[tuple[str, str], tseed.Receiver] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.shipments: dict[str, list[dict[str, Any]]] = {}
        self.ship_calls: Counter[str] = Counter()
        self._tracking_owner: dict[str, str] = {}
        self.list_oaid = list_oaid
        self.add(trades)

    # ---- setup --------------------------------------------------------------------------------

    def add(self, trades: Iterable[dict[str, Any]]) -> tuple[list[str], list[str]]:
        """Add generated trades; returns (added tids, skipped tids already present)."""
        added, skipped = [], []
        for trade in trades:
            tid = str(trade["tid_str"])
            if tid in self.trades:
                skipped.append(tid)
                continue
            self.trades[tid] = trade
            self.current_oaid[tid] = trade["oaid"]
            self.receivers.update(tseed.decrypt_table([trade]))
            for line in trade["orders"]["order"]:
                if line.get("refund_status") not in (None, "", "NO_REFUND"):
                    self.refund_record(trade, line, line["refund_status"], trade["modified"])
            added.append(tid)
        return added, skipped

    def trade(self, tid: str) -> dict[str, Any]:
        """The trade, or 15 ``isv.trade-not-exist``."""
        trade = self.trades.get(tid)
        if trade is None:
            raise TopError(15, "isv.trade-not-exist", f"交易{tid}不存在")
        return trade

    @staticmethod
    def line(trade: dict[str, Any], oid: str | None) -> dict[str, Any]:
        """A sub-order by oid (the first when None); KeyError when it is not there."""
        lines: list[dict[str, Any]] = trade["orders"]["order"]
        for line in lines:
            if oid is None or line["oid_str"] == str(oid):
                return line
        raise KeyError(oid)

    def refund_record(self, trade: dict[str, Any], line: dict[str, Any], status: str, modified: str) -> None:
        """Create or update the refund of one sub-order (what ``taobao.refunds.receive.get`` lists)."""
        refund_id = str(line.setdefault("refund_id", int(line["oid"]) + 50))
        rec = self.refunds.setdefault(refund_id, {
            "refund_id": int(refund_id), "tid": trade["tid"], "oid": line["oid"], "created": modified,
            "refund_fee": line["payment"], "title": line["title"], "num": line["num"],
            "has_good_return": False, "good_status": "BUYER_NOT_RECEIVED"})
        rec.update(status=status, modified=modified)

    # ---- taobao.trades.sold.increment.get / taobao.trade.fullinfo.get ----------------------------

    def sold_increment(self, params: dict[str, str], now: float) -> dict[str, Any]:
        """``taobao.trades.sold.increment.get``: sorted by ``modified`` descending."""
        start, end = _window(params, now, required=True, max_span=_DAY)
        fields = _fields(params)
        status = params.get("status")
        hits = [t for t in self.trades.values()
                if start <= t["modified"] <= end and (not status or t["status"] == status)]
        hits.sort(key=lambda t: (t["modified"], t["tid"]), reverse=True)
        return _page(params, hits, "trades", "trade",
                     lambda t: self._project(t, fields, with_oaid=self.list_oaid and "oaid" in fields))

    def fullinfo(self, params: dict[str, str]) -> dict[str, Any]:
        """``taobao.trade.fullinfo.get``: the oaid only when every receiver field is asked for."""
        tid = params.get("tid")
        if not tid:
            raise missing("tid")
        fields = _fields(params)
        trade = self.trade(tid)
        wants = "oaid" in fields or params.get("include_oaid") == "true"
        return {"trade": self._project(trade, fields, with_oaid=wants and all(f in fields for f in OAID_FIELDS))}

    @staticmethod
    def _project(trade: dict[str, Any], fields: set[str], *, with_oaid: bool) -> dict[str, Any]:
        out = {k: v for k, v in trade.items() if k in fields and k not in ("oaid", "orders")}
        if "tid" in fields:
            out["tid_str"] = trade["tid_str"]
        sub = {f.split(".", 1)[1] for f in fields if f.startswith("orders.")}
        if "orders" in fields or sub:
            lines = trade["orders"]["order"]
            out["orders"] = {"order": [dict(line) if not sub else {k: line[k] for k in sub if k in line}
                                       for line in lines]}
        if with_oaid:
            out["oaid"] = trade["oaid"]
        return out

    # ---- taobao.top.oaid.decrypt --------------------------------------------------------------

    def decrypt(self, params: dict[str, str]) -> dict[str, Any]:
        """``taobao.top.oaid.decrypt``: at most 20 ``{oaid, tid}``; unknown pairs get no receiver."""
        raw = params.get("query_list")
        if not raw:
            raise missing("query_list")
        try:
            query = json.loads(raw)
        except ValueError:
            raise invalid("query_list", "query_list不是合法的JSON") from None
        if not isinstance(query, list) or not all(isinstance(q, dict) for q in query):
            raise invalid("query_list", "query_list必须是对象列表")
        if len(query) > MAX_DECRYPT:
            raise invalid("query_list", f"query_list最多{MAX_DECRYPT}个")
        out = []
        for q in query:
            tid, oaid = str(q.get("tid") or ""), str(q.get("oaid") or "")
            plain = self.receivers.get((tid, oaid))
            if plain is None:
                continue
            out.append({"tid": tid, "oaid": oaid, "name": plain["name"], "mobile": plain["mobile"], "phone": "",
                        "address_detail": plain["address_detail"], "state": plain["state"],
                        "city": plain["city"], "district": plain["district"], "town": plain["town"],
                        "country": "中国", "matched": self.current_oaid.get(tid) == oaid,
                        "privacy_protection": "-" in plain["mobile"]})
        return {"receiver_list": {"receiver": out}} if out else {}

    # ---- taobao.logistics.offline.send -----------------------------------------------------------

    def ship(self, params: dict[str, str], now: float) -> dict[str, Any]:
        """``taobao.logistics.offline.send``: the whole trade, or the sub-orders of ``sub_tid``."""
        for name in ("tid", "out_sid", "company_code"):
            if not params.get(name):
                raise missing(name)
        split, sub_tid = params.get("is_split", ""), params.get("sub_tid", "")
        if bool(split) != bool(sub_tid) or split not in ("", "0", "1") or (split == "0" and sub_tid):
            raise logistics("CD25", "is_split与sub_tid必须同时传入")
        tid, tracking, code = params["tid"], params["out_sid"], params["company_code"]
        trade = self.trades.get(tid)
        if trade is None:
            raise logistics("B01", "订单不存在")
        if code not in _COMPANY:
            raise logistics("B56", "物流公司不存在")
        if not TRACKING_RE.match(tracking):
            raise logistics("B60", "运单号不符合规则")
        if self._tracking_owner.get(tracking, tid) != tid:
            raise logistics("F02", "运单号已被其他订单使用")
        if trade["status"] not in SHIPPABLE:
            raise logistics("B04", "物流订单状态不对，已发货或已关闭，不能再次发货")
        lines = self._lines_to_ship(trade, sub_tid)
        stamp = tseed.text(now)
        for line in lines:
            line.update(invoice_no=tracking, logistics_company=_COMPANY[code]["name"], consign_time=stamp,
                        status="WAIT_BUYER_CONFIRM_GOODS")
        open_lines = [x for x in trade["orders"]["order"]
                      if x["status"] not in ("WAIT_BUYER_CONFIRM_GOODS", "TRADE_CLOSED")]
        trade.update(status="SELLER_CONSIGNED_PART" if open_lines else "WAIT_BUYER_CONFIRM_GOODS",
                     consign_time=trade.get("consign_time") or stamp, modified=stamp)
        self._tracking_owner[tracking] = tid
        self.shipments.setdefault(tid, []).append({"tracking_no": tracking, "company_code": code, "effective": True,
                                                   "sub_tids": [x["oid_str"] for x in lines], "at": stamp})
        self.ship_calls[tid] += 1
        return {"shipping": {"is_success": True}}

    def _lines_to_ship(self, trade: dict[str, Any], sub_tid: str) -> list[dict[str, Any]]:
        if not sub_tid:
            lines = [x for x in trade["orders"]["order"]
                     if x["status"] in SHIPPABLE and x.get("refund_status") != "SUCCESS"]
            if not lines:
                raise logistics("B04", "物流订单状态不对，已发货或已关闭，不能再次发货")
            return lines
        lines = []
        for oid in (o.strip() for o in sub_tid.split(",") if o.strip()):
            try:
                line = self.line(trade, oid)
            except KeyError:
                raise logistics("CD27", f"子订单{oid}不属于该交易") from None
            if line.get("refund_status") == "SUCCESS":
                raise logistics("CD28", f"子订单{oid}已退款，不能发货")
            if line["status"] not in SHIPPABLE:
                raise logistics("B04", f"子订单{oid}已发货或已关闭，不能再次发货")
            lines.append(line)
        return lines

    # ---- taobao.refunds.receive.get ----------------------------------------------------------------

    def refunds_received(self, params: dict[str, str], now: float) -> dict[str, Any]:
        """``taobao.refunds.receive.get``: sorted by ``modified`` descending."""
        start, end = _window(params, now, required=False, max_span=None)
        fields = _fields(params)
        status = params.get("status")
        hits = [r for r in self.refunds.values()
                if start <= r["modified"] <= end and (not status or r["status"] == status)]
        hits.sort(key=lambda r: (r["modified"], r["refund_id"]), reverse=True)
        return _page(params, hits, "refunds", "refund", lambda r: {k: v for k, v in r.items() if k in fields})

    # ---- what the storefront-neutral controls need ---------------------------------------------------

    def set_refund(self, tid: str, oid: str | None, kind: str, now: float) -> None:
        """A refund on one sub-order (every one when ``oid`` is None): requested, refunded or closed."""
        trade = self.trade(tid)
        lines = trade["orders"]["order"] if oid is None else [self.line(trade, oid)]
        stamp = tseed.text(now)
        status = {"requested": "WAIT_SELLER_AGREE", "refunded": "SUCCESS", "closed": "CLOSED"}[kind]
        for line in lines:
            line["refund_status"] = status
            if kind == "refunded" and line["status"] in (*SHIPPABLE, "PAID_FORBID_CONSIGN"):
                line["status"] = "TRADE_CLOSED"
            self.refund_record(trade, line, status, stamp)
        if kind == "refunded" and all(x["status"] == "TRADE_CLOSED" for x in trade["orders"]["order"]):
            trade.update(status="TRADE_CLOSED", end_time=stamp)
        elif kind == "refunded" and trade["status"] == "SELLER_CONSIGNED_PART" and not any(
                x["status"] in SHIPPABLE for x in trade["orders"]["order"]):
            trade["status"] = "WAIT_BUYER_CONFIRM_GOODS"
        trade["modified"] = stamp

    def tracking_numbers(self, tid: str) -> list[str]:
        """Effective tracking numbers of the trade, each once, in upload order."""
        out: list[str] = []
        for shipment in self.shipments.get(tid, []):
            if shipment["effective"] and shipment["tracking_no"] not in out:
                out.append(shipment["tracking_no"])
        return out

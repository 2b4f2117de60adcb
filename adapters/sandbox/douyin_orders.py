"""The order side of the Douyin simulator: listing, detail, decryption, shipping, after-sale.

Not thread-safe by itself: :class:`adapters.sandbox.douyin_sim.DouyinSimulator` serialises calls.
Facts from reference/storefronts.md §1.4–1.6; error codes from its tables.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from syncd.adapters.sandbox import seed as seedmod
from syncd.adapters.sandbox.douyin_aftersale import AfterSaleBook
from syncd.adapters.sandbox.douyin_errors import MAX_DEPTH, ApiError, business, int_param, invalid, missing
from syncd.adapters.sandbox.douyin_index import TimeIndex
from syncd.carriers import CARRIERS

TRACKING_RE = re.compile(r"^[A-Z0-9]{8,20}$")
COMPANIES: list[dict[str, Any]] = [{"id": i + 1, "name": c.name, "code": c.code} for i, c in enumerate(CARRIERS)]
_COMPANY_BY_CODE = {c["code"]: c for c in COMPANIES}
_SF_CODES = {"shunfeng", "shunfengkuaiyun"}
REFUND_PENDING = {6, 7, 8, 11}  # after-sale applied / in progress: shipping needs a decision first
_LOOKBACK = 90 * 86400

__all__ = ["COMPANIES", "MAX_DEPTH", "OrderBook", "int_param", "set_status"]


def _id_param(params: dict[str, Any], name: str, sub: str = "") -> str:
    v = params.get(name)
    if v is None or v == "":
        raise missing(name, sub)
    if isinstance(v, bool) or not isinstance(v, int | str) or not str(v).isdigit():
        raise invalid(name)
    return str(v)


def set_status(order: dict[str, Any], status: int, lines: Iterable[dict[str, Any]] | None = None) -> None:
    desc = seedmod.STATUS_DESC.get(status, "")
    order.update(order_status=status, order_status_desc=desc, main_status=status, main_status_desc=desc)
    for line in order["sku_order_list"] if lines is None else lines:
        line.update(order_status=status, order_status_desc=desc)


class OrderBook:
    """Orders of one shop and everything that happened to them.

    Orders are indexed by ``update_time`` for ``order.searchList``: whatever changes an order's
    ``update_time`` (or replaces its fields wholesale) goes through :meth:`stamp` or :meth:`reindex`.
    """

    def __init__(self, orders: Iterable[dict[str, Any]]) -> None:
        self.orders: dict[str, dict[str, Any]] = {}
        self.by_update = TimeIndex()
        self.decrypt_table: dict[tuple[str, str], str] = {}
        self.shipments: dict[str, list[dict[str, Any]]] = {}
        self.ship_calls: Counter[str] = Counter()
        self.ship_replays: Counter[str] = Counter()
        self._requests: dict[str, tuple[str, dict[str, Any]]] = {}  # request_id → (order_id, first answer)
        self._tracking_owner: dict[str, str] = {}
        self._shipped_units: Counter[str] = Counter()  # sub-order id → units shipped
        self.aftersales = AfterSaleBook(self.reindex)
        self._events: list[tuple[float, int, str, str]] = []
        self._event_seq = 0
        self._pack_serial = 0
        self.add(orders)

    # ---- setup and evolution ------------------------------------------------------------------

    def add(self, orders: Iterable[dict[str, Any]], now: float | None = None) -> tuple[list[str], list[str]]:
        """Add orders (Douyin-shaped dicts); returns (added ids, skipped ids already present)."""
        added, skipped = [], []
        for order in orders:
            oid = str(order["order_id"])
            if oid in self.orders:
                skipped.append(oid)
                continue
            order["order_id"] = oid
            if now is not None and not order.get("update_time"):
                order["update_time"] = int(now)
            self.orders[oid] = order
            self.reindex(order)
            self.decrypt_table.update(seedmod.decrypt_table([order]))
            self.aftersales.seeded(order)
            added.append(oid)
        return added, skipped

    def reindex(self, order: dict[str, Any]) -> None:
        """Put the order back in the update-time index after its ``update_time`` changed."""
        self.reindex_id(str(order["order_id"]))

    def reindex_id(self, order_id: str) -> None:
        """Put the order held under ``order_id`` back in the index (after any change to its fields)."""
        order = self.orders.get(order_id)
        if order is None:
            return
        # An order whose id field no longer is its key sorts differently: the index sets it aside (a scan).
        self.by_update.put(order_id, order.get("update_time") if order.get("order_id") == order_id else None)

    def stamp(self, order: dict[str, Any], when: int) -> None:
        """Set the order's ``update_time`` and keep the index in step."""
        order["update_time"] = when
        self.reindex(order)

    def schedule(self, at: float, order_id: str, action: str) -> None:
        """Run ``action`` (release | refund) on the order when the clock reaches ``at``."""
        self._event_seq += 1
        heapq.heappush(self._events, (at, self._event_seq, order_id, action))

    def advance(self, now: float) -> None:
        """Apply every scheduled change that is due; the order's update_time becomes the change's time."""
        while self._events and self._events[0][0] <= now:
            at, _, oid, action = heapq.heappop(self._events)
            order = self.orders.get(oid)
            if order is None:
                continue
            if action == "release" and order["order_status"] == 105:
                set_status(order, 2)
                self.stamp(order, int(at))
            elif action == "refund" and order["order_status"] == 2:
                self.request_refund(order, None, int(at))

    def request_refund(self, order: dict[str, Any], sku_order_id: str | None, now: int) -> dict[str, Any]:
        """The buyer asks for a refund on one line (the first when not given)."""
        line = self.line(order, sku_order_id)
        shipped = order["order_status"] in (3, 101, 5)
        self.aftersales.change(order, line, now, after_sale_status=6, after_sale_type=1 if shipped else 2,
                               refund_status=1)
        return line

    def refund_succeeded(self, order: dict[str, Any], line: dict[str, Any], now: int) -> None:
        """The money of one line went back; an unshipped order with every line refunded is cancelled."""
        self.aftersales.change(order, line, now, after_sale_status=12, refund_status=3)
        if order["order_status"] in (2, 105) and all(
                e["after_sale_info"].get("after_sale_status") == 12 for e in order["sku_order_list"]):
            set_status(order, 4)
            order["cancel_reason"] = "退款成功"

    @staticmethod
    def line(order: dict[str, Any], sku_order_id: str | None) -> dict[str, Any]:
        """A line of the order by sub-order id (the first when None)."""
        lines: list[dict[str, Any]] = order["sku_order_list"]
        for line in lines:
            if sku_order_id is None or str(line["order_id"]) == str(sku_order_id):
                return line
        raise KeyError(sku_order_id)

    # ---- order.searchList / order.orderDetail ------------------------------------------------

    def search(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        """``order.searchList``."""
        upd_start, cre_start = p.get("update_time_start"), p.get("create_time_start")
        if upd_start is None and cre_start is None:
            raise missing("update_time_start或create_time_start", "20011")
        page = int_param(p, "page", 0)
        size = int_param(p, "size", 10)
        if not 1 <= size <= 100:
            raise ApiError(40004, "isv.parameter-invalid:20008", "size超过最大值100")
        if (page + 1) * size > MAX_DEPTH:
            raise ApiError(40004, "isv.parameter-invalid:20013", "查询深度超过5万条，请缩小查询时间范围")
        windows = []
        for field, start_key, end_key in (("update_time", "update_time_start", "update_time_end"),
                                          ("create_time", "create_time_start", "create_time_end")):
            if p.get(start_key) is None:
                continue
            start = int_param(p, start_key, 0)
            end = int_param(p, end_key, int(now)) if p.get(end_key) is not None else int(now)
            if start < now - _LOOKBACK:
                raise ApiError(40004, "isv.parameter-invalid:20022", "只能查询最近90天的订单")
            if end < start:
                raise invalid(f"{end_key}小于{start_key}")
            windows.append((field, start, end))
        statuses = self._status_filter(p.get("combine_status"))
        order_by = p.get("order_by", "create_time")
        if order_by not in ("create_time", "update_time"):
            raise invalid("order_by")
        asc = p.get("order_asc", False)
        if not isinstance(asc, bool):
            raise invalid("order_asc")
        aftersale = p.get("after_sale_status_desc")
        wanted = slice(page * size, (page + 1) * size)
        by_update = next(((s, e) for f, s, e in windows if f == "update_time"), None)
        if by_update is None or self.by_update.odd:
            candidates: Iterable[dict[str, Any]] = self.orders.values()
        else:
            span = self.by_update.span(*by_update)
            if (len(windows) == 1 and statuses is None and aftersale in (None, "", "all")
                    and order_by == "update_time"):
                # The daemon's query: the window's slice of the index is the answer, already in order.
                positions = span if asc else span[::-1]
                chunk = [self.orders[k] for k in self.by_update.keys(positions[wanted])]
                return {"page": page, "size": size, "total": len(span), "shop_order_list": chunk}
            candidates = [self.orders[k] for k in self.by_update.keys(span)]
        hits = [o for o in candidates
                if all(s <= o[f] <= e for f, s, e in windows)
                and (statuses is None or str(o["order_status"]) in statuses)
                and self._aftersale_match(o, aftersale)]
        hits.sort(key=lambda o: (o[order_by], o["order_id"]), reverse=not asc)
        return {"page": page, "size": size, "total": len(hits), "shop_order_list": hits[wanted]}

    @staticmethod
    def _status_filter(combine: Any) -> set[str] | None:
        if combine is None:
            return None
        if not isinstance(combine, list) or len(combine) != 1 or not isinstance(combine[0], dict):
            raise ApiError(40004, "isv.parameter-invalid:20012", "combine_status只能传一个元素")
        status = combine[0].get("order_status")
        if status is None:
            return None
        if not isinstance(status, str):
            raise ApiError(40004, "isv.parameter-invalid:20012", "order_status必须是字符串")
        return {s.strip() for s in status.split(",") if s.strip()}

    @staticmethod
    def _aftersale_match(order: dict[str, Any], desc: Any) -> bool:
        if desc in (None, "", "all"):
            return True
        codes = {line["after_sale_info"]["after_sale_status"] for line in order["sku_order_list"]}
        wanted = {"in_aftersale": {6, 7, 8, 11, 13}, "refund": {6, 7, 8, 11}, "refund_success": {12},
                  "refund_fail": {27, 28, 29}, "exchange_success": {14}, "aftersale_close": {27, 28, 29, 51}}
        if desc not in wanted:
            raise invalid("after_sale_status_desc")
        return bool(codes & wanted[desc])

    def detail(self, p: dict[str, Any]) -> dict[str, Any]:
        """``order.orderDetail``."""
        oid = _id_param(p, "shop_order_id")
        if oid not in self.orders:
            raise invalid("shop_order_id(订单不存在)")
        detail: dict[str, Any] = {"shop_order_detail": self.orders[oid]}
        return detail

    # ---- order.batchDecrypt --------------------------------------------------------------------

    def decrypt(self, p: dict[str, Any], now: float) -> tuple[bool, dict[str, Any]]:
        """``order.batchDecrypt``: (all succeeded, data)."""
        infos = p.get("cipher_infos")
        if infos is None or infos == []:
            raise missing("cipher_infos")
        if not isinstance(infos, list) or not all(isinstance(i, dict) for i in infos):
            raise invalid("cipher_infos")
        if len(infos) > 50:
            raise ApiError(40004, "isv.parameter-invalid:cipher_infos", "cipher_infos最多50个")
        out, ok = [], True
        for info in infos:
            auth_id, ct = str(info.get("auth_id", "")), str(info.get("cipher_text", ""))
            plain = self.decrypt_table.get((auth_id, ct))
            item: dict[str, Any] = {"auth_id": auth_id, "cipher_text": ct, "data_type": 0,
                                    "is_virtual_tel": False, "phone_no_a": "", "phone_no_b": "", "expire_time": 0}
            if plain is None:
                ok = False
                item.update(decrypt_text="", err_no=300008, err_msg="解密失败: 密文不存在或不属于该订单")
            else:
                item.update(decrypt_text=plain, err_no=0, err_msg="")
                main, _, ext = plain.partition("-")
                if ext and main.isdigit() and ext.isdigit():
                    item.update(is_virtual_tel=True, phone_no_a=main, phone_no_b=ext,
                                expire_time=int(now) + 15 * 86400)
            out.append(item)
        custom = {} if ok else {"err_code": 300008, "err_msg": "部分密文解密失败"}
        return ok, {"decrypt_infos": out, "custom_err": custom}

    # ---- shipping ---------------------------------------------------------------------------------

    def _order_for_ship(self, p: dict[str, Any]) -> dict[str, Any]:
        oid = _id_param(p, "order_id")
        order = self.orders.get(oid)
        if order is None:
            raise invalid("order_id(订单不存在)")
        return order

    def _check_parcel(self, company_code: Any, logistics_code: Any, order_id: str) -> tuple[str, str]:
        if not company_code:
            raise missing("company_code", "60011")
        if not logistics_code:
            raise missing("logistics_code")
        if not isinstance(company_code, str) or company_code not in _COMPANY_BY_CODE:
            raise business("60018", "物流公司不支持或已过期")
        if not isinstance(logistics_code, str) or not TRACKING_RE.match(logistics_code):
            raise business("60017", "运单号不符合规则")
        if logistics_code.startswith("SF") and company_code not in _SF_CODES:
            raise business("60128", "物流公司与运单号识别结果不一致")
        owner = self._tracking_owner.get(logistics_code)
        if owner is not None and owner != order_id:
            raise business("70022", "运单号已被其他订单使用")
        return company_code, logistics_code

    @staticmethod
    def _check_status(order: dict[str, Any], *, allow_partial: bool) -> None:
        status = order["order_status"]
        if status == 3 or (status == 101 and not allow_partial):
            raise business("60110", "订单已发货，不允许再次执行发货")
        refusals = {1: ("60137", "订单未支付"), 4: ("60021", "订单已取消"), 5: ("60113", "订单已完成"),
                    105: ("60109", "订单风控审核中，请待备货中后再发货")}
        if status in refusals:
            raise business(*refusals[status])
        if status not in (2, 101):
            raise business("60120", "订单状态不允许发货")

    @staticmethod
    def _pending_refunds(order: dict[str, Any]) -> list[dict[str, Any]]:
        return [line for line in order["sku_order_list"]
                if line["after_sale_info"].get("after_sale_status") in REFUND_PENDING]

    @staticmethod
    def _refunded(line: dict[str, Any]) -> bool:
        info = line["after_sale_info"]
        return info.get("after_sale_status") == 12 and info.get("after_sale_type") in (2, 4, 5)

    def _record(self, order: dict[str, Any], company_code: str, tracking: str, lines: list[tuple[str, int]],
                now: int) -> str:
        self._pack_serial += 1
        pack_id = f"P{self._pack_serial:012d}"
        by_id = {str(line["order_id"]): line for line in order["sku_order_list"]}
        order["logistics_info"].append({
            "tracking_no": tracking, "company": company_code,
            "company_name": _COMPANY_BY_CODE[company_code]["name"], "ship_time": now, "delivery_id": pack_id,
            "product_info": [{"sku_order_id": sid, "product_name": by_id[sid]["product_name"],
                              "product_count": n, "outer_sku_id": by_id[sid]["code"]} for sid, n in lines],
        })
        self._tracking_owner[tracking] = order["order_id"]
        self.shipments.setdefault(order["order_id"], []).append(
            {"tracking_no": tracking, "company_code": company_code, "effective": True, "pack_id": pack_id,
             "sub_orders": [sid for sid, _ in lines]})
        return pack_id

    def ship(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        """``order.logisticsAdd``: the whole order in one parcel."""
        order = self._order_for_ship(p)
        company, tracking = self._check_parcel(p.get("company_code"), p.get("logistics_code"), order["order_id"])
        self._check_status(order, allow_partial=False)
        reject = bool(p.get("is_reject_refund") or p.get("is_refund_reject"))
        pending = self._pending_refunds(order)
        if pending and not reject:
            raise business("60040", "存在待处理的退款申请，请先处理售后或选择拒绝退款后发货")
        lines = [line for line in order["sku_order_list"] if not self._refunded(line)]
        if not lines:
            raise business("60068", "订单已全部退款成功，不能发货")
        t = int(now)
        for line in pending:
            self.aftersales.change(order, line, t, after_sale_status=27, refund_status=4)
        units = [(str(line["order_id"]), int(line["item_num"]) - self._shipped_units[str(line["order_id"])])
                 for line in lines]
        for sid, n in units:
            self._shipped_units[sid] += n
        self._record(order, company, tracking, units, t)
        set_status(order, 3, lines)
        order.update(order_status=3, order_status_desc=seedmod.STATUS_DESC[3], main_status=3, ship_time=t)
        self.stamp(order, t)
        self.ship_calls[order["order_id"]] += 1
        return {}

    def ship_multi(self, p: dict[str, Any], now: float) -> dict[str, Any]:
        """``order.logisticsAddMultiPack``: parcels of sub-orders, idempotent by ``request_id``."""
        request_id = p.get("request_id")
        if not request_id:
            raise missing("request_id")
        order = self._order_for_ship(p)
        if str(request_id) in self._requests:
            first_order, first_answer = self._requests[str(request_id)]
            if first_order != order["order_id"]:
                raise ApiError(40003, "isv.idempotent-id-existed", "request_id已被其他请求使用")
            self.ship_replays[first_order] += 1
            return first_answer
        packs = p.get("pack_list")
        if not packs:
            raise missing("pack_list")
        if not isinstance(packs, list) or not all(isinstance(k, dict) for k in packs):
            raise invalid("pack_list")
        self._check_status(order, allow_partial=True)
        if self._pending_refunds(order):
            raise business("60040", "存在待处理的退款申请，整单发货失败")
        by_id = {str(line["order_id"]): line for line in order["sku_order_list"]}
        planned: Counter[str] = Counter()
        parsed: list[tuple[str, str, list[tuple[str, int]]]] = []
        codes_in_call: set[str] = set()
        for pack in packs:
            company, tracking = self._check_parcel(pack.get("company_code"), pack.get("logistics_code"),
                                                   order["order_id"])
            if tracking in codes_in_call:
                raise invalid("pack_list(运单号重复)")
            codes_in_call.add(tracking)
            infos = pack.get("shipped_order_info")
            if not infos or not isinstance(infos, list):
                raise missing("shipped_order_info")
            items: list[tuple[str, int]] = []
            for info in infos:
                sid = str(info.get("shipped_order_id", "")) if isinstance(info, dict) else ""
                line = by_id.get(sid)
                if line is None:
                    raise invalid("shipped_order_id(子订单不属于该订单)")
                left = int(line["item_num"]) - self._shipped_units[sid] - planned[sid]
                if self._refunded(line):
                    raise business("60068", f"子订单{sid}已退款成功，不能发货")
                if left <= 0:
                    raise business("60110", f"子订单{sid}已发货，不允许再次执行发货")
                num = info.get("shipped_num", left)
                if isinstance(num, bool) or not isinstance(num, int) or not 1 <= num <= left:
                    raise invalid("shipped_num")
                planned[sid] += num
                items.append((sid, num))
            parsed.append((company, tracking, items))
        t = int(now)
        answer: dict[str, Any] = {"pack_list": []}
        for company, tracking, items in parsed:
            pack_id = self._record(order, company, tracking, items, t)
            answer["pack_list"].append({"pack_id": pack_id, "logistics_code": tracking, "shipped_order_info": [
                {"shipped_order_id": sid, "shipped_num": n} for sid, n in items]})
        for sid, n in planned.items():
            self._shipped_units[sid] += n
        done = [line for line in order["sku_order_list"]
                if self._shipped_units[str(line["order_id"])] >= int(line["item_num"])]
        set_status(order, 3, done)
        open_lines = [line for line in order["sku_order_list"]
                      if line not in done and not self._refunded(line)]
        status = 101 if open_lines else 3
        order.update(order_status=status, order_status_desc=seedmod.STATUS_DESC[status], main_status=status,
                     ship_time=order.get("ship_time") or t)
        self.stamp(order, t)
        self.ship_calls[order["order_id"]] += 1
        self._requests[str(request_id)] = (order["order_id"], answer)
        return answer

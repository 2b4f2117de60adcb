"""Deterministic TOP-shaped trades for the Taobao simulator (reference/storefronts.md §3.4).

``generate_taobao_orders(n, seed, now)`` gives the same trades for the same arguments, drawn from the
shared sandbox catalog (:mod:`adapters.sandbox.seed`) with the same mix of cases as the Douyin
generator: unmapped SKU, incomplete address, unpaid (``WAIT_BUYER_PAY``), paid but not releasable
(``PAID_FORBID_CONSIGN``), refund requested before shipping, closed (``TRADE_CLOSED``), trades split over
the two suppliers, and a 2-pack listing. :func:`classify` tells which case a trade is.

A trade lists its receiver masked and carries an ``oaid``; the plaintext is never in the trade. It is
derived from the tid (:func:`receiver_for`), so :func:`decrypt_table` rebuilds it for any trade this
module made, and only the simulator's ``taobao.top.oaid.decrypt`` hands it out.
"""

from __future__ import annotations

import base64
import hashlib
import random
from datetime import datetime, timedelta, timezone
from typing import Any

from syncd.adapters.sandbox import cipher
from syncd.adapters.sandbox import seed as shared

SANDBOX_TAOBAO_APP_KEY = "23000001"
SANDBOX_TAOBAO_APP_SECRET = "sandbox-taobao-secret-not-for-production"  # noqa: S105 - a public sandbox value
SANDBOX_TAOBAO_SESSION = "6100a1sandbox0session0not0for0production01"
SANDBOX_TAOBAO_REFRESH = "6102a1sandbox0refresh0not0for0production01"
SANDBOX_TAOBAO_SESSIONS = {SANDBOX_TAOBAO_SESSION: SANDBOX_TAOBAO_REFRESH}  # session → its refresh token
SANDBOX_TAOBAO_USER_ID = "2200000000001"
SANDBOX_TAOBAO_NICK = "沙盒淘宝店"

CST = timezone(timedelta(hours=8))
READY = "WAIT_SELLER_SEND_GOODS"
STATUS_BY_CASE = {"unpaid": "WAIT_BUYER_PAY", "paid_pending": "PAID_FORBID_CONSIGN", "cancelled": "TRADE_CLOSED"}
Receiver = dict[str, str]


def text(ts: float) -> str:
    """Unix seconds → ``yyyy-MM-dd HH:mm:ss`` in GMT+8."""
    return datetime.fromtimestamp(int(ts), CST).strftime("%Y-%m-%d %H:%M:%S")


def parse(value: str) -> float:
    """``yyyy-MM-dd HH:mm:ss`` in GMT+8 → Unix seconds (ValueError when malformed)."""
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CST).timestamp()


def yuan(fen: int) -> str:
    """Fen → yuan text with two decimals."""
    return f"{fen // 100}.{fen % 100:02d}"


def oaid_for(tid: str, version: int = 0) -> str:
    """The opaque Open Addressee ID of a trade's receiver (a new version when the address changes)."""
    digest = hashlib.sha256(f"taobao-oaid|{tid}|{version}".encode()).digest()
    return "1" + base64.b32encode(digest).decode().rstrip("=")[:39]


def receiver_for(tid: str, incomplete: bool = False) -> Receiver:
    """The plaintext receiver of a generated trade: name, mobile, address_detail, state, city, district, town."""
    rcv = shared._receiver(random.Random(f"taobao-receiver|{tid}"))  # noqa: S311 - reproducible fake data
    (prov, _), (city, _), (district, _), (town, _) = rcv["place"]
    return {"name": rcv["name"], "mobile": rcv["tel"], "address_detail": "" if incomplete else rcv["detail"],
            "state": prov, "city": city, "district": district, "town": town}


def _line(rng: random.Random, oid: int, code: str, status: str) -> dict[str, Any]:
    if code in shared.CATALOG:
        item = shared.CATALOG[code]
        title, spec, price = item.title, item.spec, shared.PRICES[code][0]
    else:  # listed in the shop but routed nowhere (or a code a test made up)
        title, spec, price = shared.UNMAPPED.get(code, (code, (), 1990))
    num = 1 if rng.random() < 0.75 else rng.randint(2, 3)
    return {
        "oid": oid, "oid_str": str(oid), "num_iid": shared._stable_int("item|" + title, 12),
        "sku_id": str(shared._stable_int("sku|" + code, 13)), "outer_iid": code.rsplit("-", 1)[0],
        "outer_sku_id": code, "title": title, "sku_properties_name": ";".join(f"{k}:{v}" for k, v in spec),
        "num": num, "price": yuan(price), "total_fee": yuan(price * num), "payment": yuan(price * num),
        "status": status, "refund_status": "NO_REFUND", "invoice_no": "", "logistics_company": "",
        "shipping_type": "express",
    }


def make_trade(rng: random.Random, tid: int, case: str, created: int, now: int,
               codes: list[str] | None = None) -> dict[str, Any]:
    """One trade of the given case (see :data:`adapters.sandbox.seed.CASES`), all times ≤ ``now - 120``."""
    latest = now - 120
    status = STATUS_BY_CASE.get(case, READY)
    paid = None if case == "unpaid" else min(created + rng.randint(5, 600), latest)
    modified = created if paid is None else min(paid + rng.randint(0, 180), latest)
    if case in ("refund_requested", "cancelled") and paid is not None:
        modified = min(paid + rng.randint(300, 3600), latest)
    tid_s = str(tid)
    rcv = receiver_for(tid_s, incomplete=case == "address_incomplete")
    lines = [_line(rng, tid + 1 + i, code, status)
             for i, code in enumerate(codes if codes is not None else shared._lines_for(case, rng))]
    if case == "refund_requested":
        lines[0]["refund_status"] = "WAIT_SELLER_AGREE"
        lines[0]["refund_id"] = tid + 90
    if case == "cancelled":
        for line in lines:
            line.update(refund_status="SUCCESS", refund_id=line["oid"] + 80)
    amount = sum(int(line["payment"].replace(".", "")) for line in lines)
    trade: dict[str, Any] = {
        "tid": tid, "tid_str": tid_s, "status": status, "type": "fixed",
        "created": text(created), "modified": text(modified),
        "buyer_message": rng.choice(shared._BUYER_WORDS), "seller_memo": rng.choice(shared._SELLER_WORDS),
        "seller_flag": 0, "payment": yuan(amount), "total_fee": yuan(amount), "post_fee": "0.00",
        "receiver_name": cipher.mask_name(rcv["name"]), "receiver_mobile": cipher.mask_tel(rcv["mobile"]),
        "receiver_phone": "", "receiver_state": rcv["state"], "receiver_city": rcv["city"],
        "receiver_district": rcv["district"], "receiver_town": rcv["town"],
        "receiver_address": cipher.mask_detail(rcv["address_detail"]), "receiver_zip": "000000",
        "oaid": oaid_for(tid_s), "orders": {"order": lines},
    }
    if paid is not None:
        trade.update(pay_time=text(paid), delivery_time=text(paid + 48 * 3600))
    if status == "TRADE_CLOSED":
        trade["end_time"] = text(modified)
    return trade


def generate_taobao_orders(n: int, seed: int, now: float, span_hours: float = 24) -> list[dict[str, Any]]:
    """``n`` trades created over ``[now - span_hours, now - 2 min]``, the same for the same arguments."""
    rng = random.Random(f"syncd-sandbox-taobao|{seed}")  # noqa: S311 - reproducible fake data
    now_i = int(now)
    earliest = now_i - int(span_hours * 3600)
    latest = now_i - 120
    trades: list[dict[str, Any]] = []
    seen: set[int] = set()
    for case in shared._case_list(n, rng):
        tid = new_tid(rng, seen)
        trades.append(make_trade(rng, tid, case, rng.randint(earliest, max(earliest, latest)), now_i))
    return trades


def new_tid(rng: random.Random, seen: set[int]) -> int:
    """A fresh 19-digit tid ending in 00 (its sub-orders are tid+1, tid+2...)."""
    while True:
        tid = int(shared._digits(rng, 17, rng.choice("1234"))) * 100
        if tid not in seen:
            seen.add(tid)
            return tid


def decrypt_table(trades: list[dict[str, Any]]) -> dict[tuple[str, str], Receiver]:
    """(tid, oaid) → plaintext receiver, for every trade this module made."""
    return {(str(t["tid_str"]), str(t["oaid"])): receiver_for(str(t["tid_str"]), t["receiver_address"] == "")
            for t in trades if t.get("oaid")}


def classify(trade: dict[str, Any]) -> str:
    """Which case a generated trade is (the first that applies, in the order the daemon checks)."""
    status = trade["status"]
    lines = trade["orders"]["order"]
    if status in ("TRADE_CLOSED", "TRADE_CLOSED_BY_TAOBAO"):
        return "cancelled"
    if status == "WAIT_BUYER_PAY":
        return "unpaid"
    if status == "PAID_FORBID_CONSIGN":
        return "paid_pending"
    if any(line["refund_status"] == "WAIT_SELLER_AGREE" for line in lines):
        return "refund_requested"
    if trade["receiver_address"] == "":
        return "address_incomplete"
    if any(line["outer_sku_id"] not in shared.CATALOG for line in lines):
        return "unmapped"
    suppliers = {shared.CATALOG[line["outer_sku_id"]].supplier for line in lines}
    if len(suppliers) > 1:
        return "split"
    if any(shared.CATALOG[line["outer_sku_id"]].multiplier > 1 for line in lines):
        return "twopack"
    return "multi" if len(lines) > 1 else "normal"

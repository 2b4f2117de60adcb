"""Deterministic Pinduoduo-shaped orders for the sandbox (reference/storefronts.md §2.4).

``generate_pdd_orders(n, seed, now)`` gives the same orders for the same arguments, from the shared
catalog of :mod:`adapters.sandbox.seed` and with the same mix of cases as the Douyin generator: unmapped
SKU, incomplete address, unpaid (not 成交), paid but held (risk review or ``ship_hold``), refund in
progress, cancelled (refunded before shipping), split over the two suppliers, a 2-pack listing.
:func:`classify` tells which case an order is. Receivers are encrypted with :mod:`adapters.sandbox.cipher`
in PDD's ``~…~`` shape; only the simulator decrypts them. Times are Beijing-time texts, money yuan.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime
from typing import Any

from syncd import clock
from syncd.adapters.pdd.mapping import line_ids
from syncd.adapters.sandbox import cipher
from syncd.adapters.sandbox.seed import CATALOG, PRICES, UNMAPPED, _case_list, _lines_for, _receiver

SANDBOX_PDD_CLIENT_ID = "5d3a0c1e2b4f46a8a1c9e7f0b2d4c6e8"
SANDBOX_PDD_CLIENT_SECRET = "pdd-sandbox-secret-not-for-production"  # noqa: S105 - a public sandbox value
SANDBOX_PDD_MALL_ID = "660001"
SANDBOX_PDD_MALL_NAME = "拼多多沙盒店"
# A pair the simulator issues at start, so a shop file can carry it as if authorised by hand.
SANDBOX_PDD_ACCESS_TOKEN = "pdd-sandbox-access-0001"  # noqa: S105 - a public sandbox value
SANDBOX_PDD_REFRESH_TOKEN = "pdd-sandbox-refresh-0001"  # noqa: S105 - a public sandbox value
SANDBOX_PDD_AUTH_CODE = "pdd-sandbox-auth-code"  # pdd.pop.auth.token.create accepts it any number of times

# pdd.logistics.companies.get, ids and codes from a saved real answer (§2.6); 百世 marked unavailable
COMPANIES: list[dict[str, Any]] = [
    {"id": 1, "logistics_company": "申通快递", "code": "STO", "available": 1},
    {"id": 3, "logistics_company": "百世快递", "code": "HT", "available": 0},
    {"id": 44, "logistics_company": "顺丰速运", "code": "SF", "available": 1},
    {"id": 85, "logistics_company": "圆通快递", "code": "YTO", "available": 1},
    {"id": 115, "logistics_company": "中通快递", "code": "ZTO", "available": 1},
    {"id": 118, "logistics_company": "EMS", "code": "EMS", "available": 1},
    {"id": 120, "logistics_company": "京东配送", "code": "JD", "available": 1},
    {"id": 121, "logistics_company": "韵达快递", "code": "YUNDA", "available": 1},
    {"id": 131, "logistics_company": "德邦快递", "code": "DB", "available": 1},
    {"id": 132, "logistics_company": "邮政快递包裹", "code": "YZXB", "available": 1},
    {"id": 384, "logistics_company": "极兔快递", "code": "JTKD", "available": 1},
]
DATA_TYPES = {"name": 5, "tel": 6, "addr": 8}  # decrypt data_type of each receiver field

_BUYER_MEMOS = ("", "", "", "", "请尽快发货", "不要放发票", "包装好一点，送人的", "周末送货")
_REMARKS = ("", "", "", "", "", "加急", "老客户", "已电话确认尺码")


def encrypt(order_sn: str, plaintext: str, kind: cipher.Kind) -> str:
    """PDD-shaped ciphertext (``~index~blob~1~~``) of one receiver field, bound to its order."""
    text = cipher.encrypt(order_sn, plaintext, kind)
    return text.replace(text[0], "~")  # base64 never holds the delimiters


def text_time(ts: float) -> str:
    """Unix seconds → ``yyyy-MM-dd HH:mm:ss`` Beijing time, as PDD writes times."""
    return clock.shanghai_text(clock.from_epoch(int(ts)))


def epoch_of(text: str) -> int:
    """The inverse of :func:`text_time`."""
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=clock.SHANGHAI).timestamp())


def yuan(fen: int) -> float:
    """Fen → yuan as PDD sends amounts (a JSON number)."""
    return round(fen / 100, 2)


def _stable_int(text: str, digits: int) -> int:
    h = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    return int(10 ** (digits - 1) + h % (9 * 10 ** (digits - 1)))


def order_sn_for(rng: random.Random, created: int) -> str:
    """``yymmdd-`` + 15 digits, the date in Beijing time."""
    day = clock.from_epoch(created).astimezone(clock.SHANGHAI).strftime("%y%m%d")
    return f"{day}-{rng.randint(10**14, 10**15 - 1)}"


def item(code: str, count: int = 1) -> dict[str, Any]:
    """One ``item_list`` entry for a merchant SKU code (catalog, unmapped list, or anything else)."""
    if code in CATALOG:
        title, spec, price = CATALOG[code].title, CATALOG[code].spec, PRICES[code][0]
    elif code in UNMAPPED:
        title, spec, price = UNMAPPED[code]
    else:
        title, spec, price = code, (), 1990
    return {"goods_id": _stable_int("goods|" + title, 12), "goods_name": title,
            "sku_id": _stable_int("sku|" + code, 12), "outer_id": code, "outer_goods_id": "",
            "goods_count": count, "goods_price": yuan(price), "goods_spec": ",".join(v for _, v in spec),
            "goods_img": f"https://img.pddpic.com/sandbox/{_stable_int('img|' + code, 8)}.jpg"}


def make_pdd_order(rng: random.Random, order_sn: str, case: str, created: int, now: int,
                   codes: list[str] | None = None, counts: list[int] | None = None,
                   receiver: dict[str, Any] | None = None) -> dict[str, Any]:
    """One order of the given case (see :data:`adapters.sandbox.seed.CASES`), all times ≤ ``now - 120``
    unless ``created`` is later."""
    latest = max(now - 120, created)
    paid = case != "unpaid"
    pay_time = min(created + rng.randint(5, 600), latest) if paid else 0
    updated = min(pay_time + rng.randint(0, 180), latest) if paid else created
    if case in ("refund_requested", "cancelled"):
        updated = min(pay_time + rng.randint(300, 3600), latest)
    rcv = receiver or _receiver(rng)
    detail = "" if case == "address_incomplete" else rcv["detail"]
    (province, province_id), (city, city_id), (town, town_id), _street = rcv["place"]
    codes = codes if codes is not None else _lines_for(case, rng)
    counts = counts if counts is not None else [1 if rng.random() < 0.75 else rng.randint(2, 3) for _ in codes]
    items = [item(code, n) for code, n in zip(codes, counts, strict=True)]
    goods = sum(round(i["goods_price"] * 100) * i["goods_count"] for i in items)
    held_by_risk = case == "paid_pending" and rng.random() < 0.5
    main, _, extension = rcv["tel"].partition("-")
    full = f"{province}{city}{town}{detail}"
    order: dict[str, Any] = {
        "order_sn": order_sn, "order_status": 1, "confirm_status": 1 if paid else 0, "group_status": 1 if paid else 0,
        "refund_status": 1, "after_sales_status": 0, "risk_control_status": 1 if held_by_risk else 0,
        "order_tag_list": [{"name": "ship_hold", "value": 1 if case == "paid_pending" and not held_by_risk else 0},
                           {"name": "self_contained", "value": 0}],
        "stock_out_handle_status": -1, "is_stock_out": 0, "trade_type": 0, "step_order_info": None,
        "is_lucky_flag": 1, "is_pre_sale": 0, "pre_sale_time": "",
        "created_time": text_time(created), "confirm_time": text_time(pay_time) if paid else "",
        "pay_time": text_time(pay_time) if paid else "", "updated_at": text_time(updated),
        "shipping_time": "", "receive_time": "",
        "last_ship_time": text_time(pay_time + 48 * 3600) if paid else "",
        "buyer_memo": rng.choice(_BUYER_MEMOS), "remark": rng.choice(_REMARKS), "remark_tag": 0,
        "goods_amount": yuan(goods), "pay_amount": yuan(goods), "postage": 0, "discount_amount": 0,
        "platform_discount": 0, "seller_discount": 0, "capital_free_discount": 0,
        "pay_type": "WEIXIN" if paid else "", "pay_no": f"4200{_stable_int('pay|' + order_sn, 16)}" if paid else "",
        "country": "中国", "province": province, "province_id": province_id, "city": city, "city_id": city_id,
        "town": town, "town_id": town_id,
        "receiver_name": encrypt(order_sn, rcv["name"], "name"),
        "receiver_phone": encrypt(order_sn, main, "tel"),
        "receiver_address": encrypt(order_sn, detail, "addr"),
        "address": encrypt(order_sn, full, "addr"),
        "receiver_name_mask": cipher.mask_name(rcv["name"]), "receiver_phone_mask": cipher.mask_tel(main),
        "receiver_address_mask": cipher.mask_detail(detail),
        "address_mask": f"{province}{city}{town}{cipher.mask_detail(detail)}",
        "logistics_id": 0, "tracking_number": "", "extra_delivery_list": [],
        "item_list": items,
    }
    if extension:
        order["_virtual_extension"] = extension  # the simulator answers it as virtual_identify_number
    if case == "refund_requested":
        order.update(refund_status=2, after_sales_status=2)
    if case == "cancelled":
        order.update(refund_status=4, after_sales_status=10)
    return order


def generate_pdd_orders(n: int, seed: int, now: float, span_hours: float = 24) -> list[dict[str, Any]]:
    """``n`` orders created over ``[now - span_hours, now - 2 min]``, the same for the same arguments."""
    rng = random.Random(f"syncd-sandbox-pdd|{seed}")  # noqa: S311 - reproducible fake data
    now_i = int(now)
    earliest = now_i - int(span_hours * 3600)
    latest = now_i - 120
    orders: list[dict[str, Any]] = []
    seen: set[str] = set()
    for case in _case_list(n, rng):
        created = rng.randint(earliest, max(earliest, latest))
        order_sn = order_sn_for(rng, created)
        while order_sn in seen:
            order_sn = order_sn_for(rng, created)
        seen.add(order_sn)
        orders.append(make_pdd_order(rng, order_sn, case, created, now_i))
    return orders


def receiver_of(order: dict[str, Any]) -> dict[str, str]:
    """Decrypted receiver of a seeded order: name, tel, detail (for tests and the simulator)."""
    sn = str(order["order_sn"])
    return {"name": cipher.decrypt(sn, order["receiver_name"]) or "",
            "tel": cipher.decrypt(sn, order["receiver_phone"]) or "",
            "detail": cipher.decrypt(sn, order["receiver_address"]) or ""}


def decrypt_table(orders: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[str, int]]:
    """(data_tag = order_sn, ciphertext) → (plaintext, data_type) for every ciphertext in the orders."""
    table: dict[tuple[str, str], tuple[str, int]] = {}
    for order in orders:
        sn = str(order["order_sn"])
        for key, kind in (("receiver_name", "name"), ("receiver_phone", "tel"), ("receiver_address", "addr"),
                          ("address", "addr")):
            text = order.get(key)
            if isinstance(text, str) and text:
                plain = cipher.decrypt(sn, text)
                if plain is not None:
                    table[(sn, text)] = (plain, 7 if key == "address" else DATA_TYPES[kind])
    return table


def classify(order: dict[str, Any]) -> str:
    """Which case a seeded order is (the first that applies, in the order the daemon checks)."""
    if order["refund_status"] == 4 or order["confirm_status"] == 2:
        return "cancelled"
    if order["confirm_status"] == 0:
        return "unpaid"
    tags = {t["name"] for t in order.get("order_tag_list") or [] if t.get("value")}
    if order["risk_control_status"] == 1 or "ship_hold" in tags:
        return "paid_pending"
    if order["refund_status"] in (2, 3):
        return "refund_requested"
    if receiver_of(order)["detail"] == "":
        return "address_incomplete"
    items = order["item_list"]
    if any(i["outer_id"] not in CATALOG for i in items):
        return "unmapped"
    if len({CATALOG[i["outer_id"]].supplier for i in items}) > 1:
        return "split"
    if any(CATALOG[i["outer_id"]].multiplier > 1 for i in items):
        return "twopack"
    return "multi" if len(items) > 1 else "normal"


def order_line_ids(order: dict[str, Any]) -> list[str]:
    """The adapter's ids of the order's lines (PDD itself has none)."""
    return line_ids(order["item_list"])

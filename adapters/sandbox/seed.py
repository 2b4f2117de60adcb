"""Deterministic Douyin-shaped orders for the sandbox (reference/storefronts.md §1.4).

``generate_orders(n, seed, now)`` gives the same orders for the same arguments. Besides ordinary
paid orders it mixes in every case the daemon must handle: unmapped SKU, incomplete address,
unpaid, paid-but-not-releasable (105), refund requested before shipping, cancelled, orders split
over the two suppliers, and a 2-pack listing. :func:`classify` tells which case an order is.
Receiver data is encrypted with :mod:`adapters.sandbox.cipher`; only the simulator decrypts it.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any, NamedTuple

from syncd.adapters.sandbox import cipher

SANDBOX_APP_KEY = "7000000000000000001"
SANDBOX_APP_SECRET = "sandbox-secret-not-for-production"  # noqa: S105 - a public sandbox value
SANDBOX_SHOP_ID = "880001"
SANDBOX_SHOP_NAME = "沙盒小店"

SUPPLIERS = ("yiwu-goods", "gz-apparel")


class CatalogItem(NamedTuple):
    """One storefront listing and the supplier goods behind it."""

    supplier: str
    supplier_sku: str
    multiplier: int
    title: str
    spec: tuple[tuple[str, str], ...]


CATALOG: dict[str, CatalogItem] = {
    "SB-TEE-RED-M": CatalogItem("gz-apparel", "GZ-T001-RED-M", 1, "纯棉短袖T恤", (("颜色", "红色"), ("尺码", "M"))),
    "SB-TEE-RED-L": CatalogItem("gz-apparel", "GZ-T001-RED-L", 1, "纯棉短袖T恤", (("颜色", "红色"), ("尺码", "L"))),
    "SB-TEE-BLK-M": CatalogItem("gz-apparel", "GZ-T001-BLK-M", 1, "纯棉短袖T恤", (("颜色", "黑色"), ("尺码", "M"))),
    "SB-TEE-BLK-L": CatalogItem("gz-apparel", "GZ-T001-BLK-L", 1, "纯棉短袖T恤", (("颜色", "黑色"), ("尺码", "L"))),
    "SB-SOCK-5P": CatalogItem("gz-apparel", "GZ-S010-GRY", 1, "中筒棉袜5双装", (("颜色", "灰色"),)),
    "SB-TEE-WHT-2PK": CatalogItem("gz-apparel", "GZ-T001-WHT-M", 2, "纯棉T恤两件装", (("颜色", "白色"), ("尺码", "M"))),
    "SB-MUG-WHT": CatalogItem("yiwu-goods", "YW-M100-WHT", 1, "陶瓷马克杯", (("颜色", "白色"),)),
    "SB-BOTTLE-500": CatalogItem("yiwu-goods", "YW-B500-BLU", 1, "运动水杯500ml",
                                 (("颜色", "蓝色"), ("容量", "500ml"))),
    "SB-UMB-BLK": CatalogItem("yiwu-goods", "YW-U300-BLK", 1, "晴雨两用折叠伞", (("颜色", "黑色"),)),
    "SB-HOOK-10P": CatalogItem("yiwu-goods", "YW-H010", 1, "免打孔挂钩10个装", (("规格", "10个"),)),
    "SB-CABLE-2PK": CatalogItem("yiwu-goods", "YW-C001-1M", 2, "快充数据线两条装", (("长度", "1米"),)),
}

# storefront price (fen) and supplier cost per supplier unit (yuan), as in config/sandbox/routes.yaml
PRICES: dict[str, tuple[int, float]] = {
    "SB-TEE-RED-M": (3990, 18.5), "SB-TEE-RED-L": (3990, 18.5), "SB-TEE-BLK-M": (3990, 18.5),
    "SB-TEE-BLK-L": (3990, 18.5), "SB-SOCK-5P": (2590, 9.8), "SB-TEE-WHT-2PK": (6990, 18.5),
    "SB-MUG-WHT": (2900, 8.5), "SB-BOTTLE-500": (3500, 12.0), "SB-UMB-BLK": (4900, 19.9),
    "SB-HOOK-10P": (990, 2.6), "SB-CABLE-2PK": (2990, 5.5),
}

# listed in the shop, routed nowhere: the daemon must hold these as unmapped_sku
UNMAPPED: dict[str, tuple[str, tuple[tuple[str, str], ...], int]] = {
    "SB-HAT-NEW": ("渔夫帽", (("颜色", "卡其"),), 3900),
    "SB-BAG-CANVAS": ("帆布托特包", (("颜色", "米白"),), 4500),
}

STATUS_DESC = {1: "待支付", 105: "已支付", 2: "备货中", 101: "部分发货", 3: "已发货", 4: "已取消", 5: "已完成"}

CASES = ("normal", "multi", "split", "twopack", "unmapped", "address_incomplete", "unpaid",
         "paid_pending", "refund_requested", "cancelled")
_SPECIAL_SHARE = {"unmapped": 0.03, "address_incomplete": 0.03, "unpaid": 0.03, "paid_pending": 0.03,
                  "refund_requested": 0.03, "cancelled": 0.03, "split": 0.06, "twopack": 0.05, "multi": 0.04}

_PLACES = (  # province, city, town, street: (name, id)
    (("广东省", 440000), ("广州市", 440100), ("天河区", 440106), ("天河南街道", 440106001)),
    (("广东省", 440000), ("深圳市", 440300), ("南山区", 440305), ("粤海街道", 440305007)),
    (("浙江省", 330000), ("杭州市", 330100), ("西湖区", 330106), ("文新街道", 330106012)),
    (("浙江省", 330000), ("金华市", 330700), ("义乌市", 330782), ("稠城街道", 330782001)),
    (("上海市", 310000), ("上海市", 310100), ("浦东新区", 310115), ("张江镇", 310115125)),
    (("北京市", 110000), ("北京市", 110100), ("朝阳区", 110105), ("望京街道", 110105026)),
    (("江苏省", 320000), ("南京市", 320100), ("鼓楼区", 320106), ("宁海路街道", 320106002)),
    (("四川省", 510000), ("成都市", 510100), ("武侯区", 510107), ("玉林街道", 510107003)),
    (("湖北省", 420000), ("武汉市", 420100), ("洪山区", 420111), ("珞南街道", 420111004)),
    (("山东省", 370000), ("青岛市", 370200), ("市南区", 370202), ("八大关街道", 370202010)),
)
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余"
_GIVEN = ("伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛",
          "明", "超", "秀兰", "霞", "平", "刚", "桂英", "晓东", "雨桐", "子涵", "浩然", "欣怡", "志强", "佳琪")
_ROADS = ("建设路", "人民路", "解放路", "中山路", "和平路", "新华路", "文化路", "青年路", "科技路", "滨江路")
_ESTATES = ("阳光花园", "锦绣苑", "翠湖小区", "金色家园", "万科城", "碧桂园", "幸福里", "书香门第")
_BUYER_WORDS = ("", "", "", "", "请尽快发货", "不要放发票", "包装好一点，送人的", "周末送货")
_SELLER_WORDS = ("", "", "", "", "", "加急", "老客户", "已电话确认尺码")


def _digits(rng: random.Random, n: int, first: str = "") -> str:
    return first + "".join(rng.choice("0123456789") for _ in range(n - len(first)))


def _stable_int(text: str, digits: int) -> int:
    h = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    return int(10 ** (digits - 1) + h % (9 * 10 ** (digits - 1)))


def _case_list(n: int, rng: random.Random) -> list[str]:
    if n < 10:  # too few to hold every case: draw each one
        cases = list(_SPECIAL_SHARE)
        return [rng.choice(cases) if rng.random() < 0.3 else "normal" for _ in range(n)]
    out: list[str] = []
    for case, share in _SPECIAL_SHARE.items():
        out += [case] * max(1, round(n * share))
    out = out[:n]
    out += ["normal"] * (n - len(out))
    rng.shuffle(out)
    return out


def _receiver(rng: random.Random) -> dict[str, Any]:
    name = rng.choice(_SURNAMES) + rng.choice(_GIVEN)
    main = _digits(rng, 11, "1" + rng.choice("3456789"))
    virtual = rng.random() < 0.15
    tel = f"{main}-{_digits(rng, 4)}" if virtual else main
    detail = (f"{rng.choice(_ROADS)}{rng.randint(1, 999)}号{rng.choice(_ESTATES)}"
              f"{rng.randint(1, 30)}栋{rng.randint(1, 4)}单元{rng.randint(1, 33)}0{rng.randint(1, 4)}")
    return {"name": name, "tel": tel, "virtual": virtual, "detail": detail, "place": rng.choice(_PLACES)}


def _lines_for(case: str, rng: random.Random) -> list[str]:
    plain = [c for c, item in CATALOG.items() if item.multiplier == 1]
    by_supplier = {s: [c for c in plain if CATALOG[c].supplier == s] for s in SUPPLIERS}
    if case == "split":
        return [rng.choice(by_supplier["yiwu-goods"]), rng.choice(by_supplier["gz-apparel"])]
    if case == "multi":
        return rng.sample(by_supplier[rng.choice(SUPPLIERS)], 2)
    if case == "twopack":
        return [rng.choice([c for c, item in CATALOG.items() if item.multiplier > 1])]
    if case == "unmapped":
        return [rng.choice(sorted(UNMAPPED))]
    return [rng.choice(plain)]


def _sku_line(rng: random.Random, parent: str, sub_id: str, code: str) -> dict[str, Any]:
    if code in CATALOG:
        item = CATALOG[code]
        title, spec, price = item.title, item.spec, PRICES[code][0]
    else:
        title, spec, price = UNMAPPED[code]
    num = 1 if rng.random() < 0.75 else rng.randint(2, 3)
    product_id = _stable_int("product|" + title, 19)
    return {
        "order_id": sub_id, "parent_order_id": parent,
        "product_id": product_id, "product_id_str": str(product_id), "product_name": title,
        "sku_id": _stable_int("sku|" + code, 16), "out_sku_id": "", "out_product_id": "", "supplier_id": "",
        "code": code, "item_num": num, "origin_amount": price, "sum_amount": price * num,
        "pay_amount": price * num, "spec": [{"name": k, "value": v} for k, v in spec],
        "after_sale_info": {"after_sale_status": 0, "after_sale_type": 0, "refund_status": 0},
        "bundle_sku_info": [], "given_product_type": "MASTER", "need_serial_number": False,
    }


def make_order(rng: random.Random, order_id: str, case: str, create_time: int, now: int) -> dict[str, Any]:
    """One shop order of the given case (see :data:`CASES`), all times ≤ ``now - 120``."""
    latest = now - 120
    status = {"unpaid": 1, "paid_pending": 105, "cancelled": 4}.get(case, 2)
    pay_time = 0 if status == 1 else min(create_time + rng.randint(5, 600), latest)
    update_time = create_time if status == 1 else min(pay_time + rng.randint(0, 180), latest)
    if case in ("refund_requested", "cancelled"):
        update_time = min(pay_time + rng.randint(300, 3600), latest)
    exp_ship = pay_time + 48 * 3600 if pay_time else 0

    rcv = _receiver(rng)
    detail = "" if case == "address_incomplete" else rcv["detail"]
    (prov, prov_id), (city, city_id), (town, town_id), (street, street_id) = rcv["place"]
    c_name = cipher.encrypt(order_id, rcv["name"], "name")
    c_tel = cipher.encrypt(order_id, rcv["tel"], "tel")
    c_detail = cipher.encrypt(order_id, detail, "addr")

    def region(detail_value: str) -> dict[str, Any]:
        return {"province": {"name": prov, "id": str(prov_id)}, "city": {"name": city, "id": str(city_id)},
                "town": {"name": town, "id": str(town_id)}, "street": {"name": street, "id": str(street_id)},
                "detail": detail_value}

    lines = []
    used: set[str] = {order_id}
    for code in _lines_for(case, rng):
        sub_id = _digits(rng, 19, "6")
        while sub_id in used:
            sub_id = _digits(rng, 19, "6")
        used.add(sub_id)
        lines.append(_sku_line(rng, order_id, sub_id, code))
    if case == "refund_requested":
        lines[0]["after_sale_info"] = {"after_sale_status": 6, "after_sale_type": 2, "refund_status": 1}
    if case == "cancelled":
        for line in lines:
            line["after_sale_info"] = {"after_sale_status": 12, "after_sale_type": 2, "refund_status": 3}
    for line in lines:
        line.update(order_status=status, order_status_desc=STATUS_DESC[status], exp_ship_time=exp_ship,
                    create_time=create_time, pay_time=pay_time, update_time=update_time)
    amount = sum(line["pay_amount"] for line in lines)
    post_addr = region(c_detail)
    post_addr["encrypt_detail"] = c_detail
    return {
        "order_id": order_id, "shop_id": int(SANDBOX_SHOP_ID),
        "order_status": status, "order_status_desc": STATUS_DESC[status], "main_status": status,
        "main_status_desc": STATUS_DESC[status],
        "create_time": create_time, "pay_time": pay_time, "update_time": update_time,
        "finish_time": 0, "ship_time": 0, "exp_ship_time": exp_ship, "appointment_ship_time": 0,
        "cancel_reason": "买家不想要了" if status == 4 else "",
        "buyer_words": rng.choice(_BUYER_WORDS), "seller_words": rng.choice(_SELLER_WORDS),
        "seller_remark_stars": 0, "order_type": 0, "trade_type": 0, "b_type": 2, "b_type_desc": "抖音",
        "pay_type": 1, "order_amount": amount, "pay_amount": amount, "post_amount": 0,
        "post_receiver": c_name, "encrypt_post_receiver": c_name,
        "post_tel": c_tel, "encrypt_post_tel": c_tel, "post_addr": post_addr,
        "mask_post_receiver": cipher.mask_name(rcv["name"]), "mask_post_tel": cipher.mask_tel(rcv["tel"]),
        "mask_post_addr": region(cipher.mask_detail(detail)),
        "doudian_open_id": "1@#" + hashlib.sha256(f"buyer|{order_id}".encode()).hexdigest()[:32],
        "logistics_info": [], "sku_order_list": lines,
    }


def generate_orders(n: int, seed: int, now: float, span_hours: float = 24) -> list[dict[str, Any]]:
    """``n`` shop orders created over ``[now - span_hours, now - 2 min]``, the same for the same args."""
    rng = random.Random(f"syncd-sandbox|{seed}")  # noqa: S311 - reproducible fake data
    now_i = int(now)
    earliest = now_i - int(span_hours * 3600)
    latest = now_i - 120
    orders: list[dict[str, Any]] = []
    seen: set[str] = set()
    for case in _case_list(n, rng):
        oid = _digits(rng, 19, rng.choice("456"))
        while oid in seen:
            oid = _digits(rng, 19, rng.choice("456"))
        seen.add(oid)
        orders.append(make_order(rng, oid, case, rng.randint(earliest, max(earliest, latest)), now_i))
    return orders


def receiver_of(order: dict[str, Any]) -> dict[str, str]:
    """Decrypted receiver of a seeded order: name, tel, detail (for tests and the simulator)."""
    oid = str(order["order_id"])
    return {"name": cipher.decrypt(oid, order["encrypt_post_receiver"]) or "",
            "tel": cipher.decrypt(oid, order["encrypt_post_tel"]) or "",
            "detail": cipher.decrypt(oid, order["post_addr"]["encrypt_detail"]) or ""}


def decrypt_table(orders: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(auth_id, cipher_text) → plaintext for every ciphertext in the orders."""
    table: dict[tuple[str, str], str] = {}
    for order in orders:
        oid = str(order["order_id"])
        for ct in (order.get("encrypt_post_receiver"), order.get("encrypt_post_tel"),
                   (order.get("post_addr") or {}).get("encrypt_detail"),
                   order.get("post_receiver"), order.get("post_tel"), (order.get("post_addr") or {}).get("detail")):
            if isinstance(ct, str) and ct:
                plain = cipher.decrypt(oid, ct)
                if plain is not None:
                    table[(oid, ct)] = plain
    return table


def classify(order: dict[str, Any]) -> str:
    """Which of :data:`CASES` a seeded order is (the first that applies, in the order the daemon checks)."""
    status = int(order["order_status"])
    lines = order["sku_order_list"]
    if status == 4:
        return "cancelled"
    if status == 1:
        return "unpaid"
    if status == 105:
        return "paid_pending"
    if any(line["after_sale_info"]["after_sale_status"] == 6 for line in lines):
        return "refund_requested"
    if receiver_of(order)["detail"] == "":
        return "address_incomplete"
    if any(line["code"] not in CATALOG for line in lines):
        return "unmapped"
    suppliers = {CATALOG[line["code"]].supplier for line in lines}
    if len(suppliers) > 1:
        return "split"
    if any(CATALOG[line["code"]].multiplier > 1 for line in lines):
        return "twopack"
    return "multi" if len(lines) > 1 else "normal"

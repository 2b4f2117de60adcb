"""One internal carrier identity (the Kuaidi100 ``com`` code) and the free-text names that mean it.

Platform codes are NOT kept here: each storefront adapter fetches its platform's carrier list and
maps it onto these identities by name (reference: field-notes §6). An unknown name is never guessed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Carrier:
    code: str  # internal identity = Kuaidi100 com
    name: str  # the usual Chinese name
    aliases: tuple[str, ...]  # other names, English codes (Kdniao ShipperCode), short forms


CARRIERS: tuple[Carrier, ...] = (
    Carrier("shunfeng", "顺丰速运", ("顺丰", "顺丰快递", "SF", "SF EXPRESS", "SFEXPRESS", "顺丰速递")),
    Carrier("shunfengkuaiyun", "顺丰快运", ("SFKY",)),
    Carrier("zhongtong", "中通快递", ("中通", "ZTO", "中通速递", "ZTO EXPRESS")),
    Carrier("yuantong", "圆通速递", ("圆通", "圆通快递", "YTO", "YTO EXPRESS")),
    Carrier("shentong", "申通快递", ("申通", "STO", "STO EXPRESS")),
    Carrier("yunda", "韵达快递", ("韵达", "韵达速递", "YD", "YUNDA")),
    Carrier("jtexpress", "极兔速递", ("极兔", "极兔快递", "J&T", "J&T EXPRESS", "JT", "JTSD", "JTEXPRESS")),
    Carrier("ems", "EMS", ("中国邮政EMS", "邮政EMS", "EMS快递")),
    Carrier("youzhengguonei", "邮政快递包裹", ("邮政", "中国邮政", "邮政包裹", "邮政国内", "YZPY", "CHINA POST")),
    Carrier("jd", "京东物流", ("京东", "京东快递", "JD", "JDL")),
    Carrier("debangkuaidi", "德邦快递", ("德邦", "德邦物流", "DBL", "DEPPON")),
    Carrier("huitongkuaidi", "百世快递", ("百世", "百世汇通", "汇通", "HTKY", "BEST")),
    Carrier("zhaijisong", "宅急送", ("ZJS",)),
    Carrier("shansong", "闪送", ()),
    Carrier("danniao", "丹鸟", ("丹鸟快递",)),
    Carrier("fengwang", "丰网速运", ("丰网",)),
)

_SPACES = re.compile(r"\s+")


def _key(text: str) -> str:
    # NFKC folds full-width letters and digits ("ＺＴＯ" → "ZTO"); case and spaces never matter.
    return _SPACES.sub("", unicodedata.normalize("NFKC", text)).upper()


_INDEX: dict[str, str] = {}
for _c in CARRIERS:
    for _name in (_c.code, _c.name, *_c.aliases):
        _INDEX[_key(_name)] = _c.code

BY_CODE: dict[str, Carrier] = {c.code: c for c in CARRIERS}


def normalize(text: str) -> str | None:
    """Free text a supplier or a platform wrote → internal carrier code, or None when unknown."""
    key = _key(text)
    if not key:
        return None
    if key in _INDEX:
        return _INDEX[key]
    # "中通快递(网点)" / "韵达快递有限公司": accept a known full name followed by decoration, never a fragment.
    for c in CARRIERS:
        if key.startswith(_key(c.name)):
            return c.code
    return None


def display_name(code: str) -> str:
    """The Chinese name of an internal code (the code itself when unknown)."""
    carrier = BY_CODE.get(code)
    return carrier.name if carrier else code

"""The storefront simulators' products and SKUs (issue 19), shared by the Douyin, Pinduoduo and Taobao simulators.

Seeded from :data:`adapters.sandbox.seed.CATALOG` and ``UNMAPPED`` (the merchant codes of config/sandbox/routes.yaml
and of the seeded orders), one product per title, with the ids each platform's order seeds give the same goods
(:data:`DOUYIN_IDS`, :data:`PDD_IDS`, :data:`TAOBAO_IDS`), so an order line's product and SKU ids are the listing's.
``extra`` adds filler products (codes ``SB-FILL-<n>-<k>``, routed nowhere) to exercise paging.

Each SKU has a sellable ``stock``, a ``reserved`` quantity held by unpaid orders and a ``locked`` quantity an
activity holds: a full write below the larger of them is refused (:class:`Refusal`, ``floor`` set). A product may
be ``under_review`` / ``banned`` / ``deleted`` (no write accepted) or off sale.

Control hooks for tests and the demo take the merchant code: :meth:`ProductBook.set_reserved`,
:meth:`~ProductBook.set_locked`, :meth:`~ProductBook.set_on_sale`, :meth:`~ProductBook.set_state`,
:meth:`~ProductBook.stock_of`; ``writes`` counts accepted writes per merchant code, ``write_calls`` the stock-write
calls per API. The same over HTTP: :func:`admin_stock` (``/<platform>/_sandbox/stock``).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from syncd.adapters.sandbox.httpserver import Response, json_response
from syncd.adapters.sandbox.seed import CATALOG, PRICES, UNMAPPED, _stable_int

State = Literal["ok", "under_review", "banned", "deleted"]
DAY = 86_400.0


class IdScheme(NamedTuple):
    """A platform's product id from a product title and SKU id from a merchant code (as its order seeds make them)."""

    product: Callable[[str], str]
    sku: Callable[[str], str]


DOUYIN_IDS = IdScheme(lambda title: str(_stable_int("product|" + title, 19)),
                      lambda code: str(_stable_int("sku|" + code, 16)))
PDD_IDS = IdScheme(lambda title: str(_stable_int("goods|" + title, 12)),
                   lambda code: str(_stable_int("sku|" + code, 12)))
TAOBAO_IDS = IdScheme(lambda title: str(_stable_int("item|" + title, 12)),
                      lambda code: str(_stable_int("sku|" + code, 13)))


@dataclass
class SimSku:
    """One SKU of a simulated product."""

    sku_id: str
    code: str
    spec: tuple[tuple[str, str], ...]
    price_fen: int
    stock: int
    reserved: int = 0
    locked: int = 0
    on_sale: bool = True


@dataclass
class SimProduct:
    """One simulated product (Douyin product, Pinduoduo goods, Taobao item)."""

    product_id: str
    title: str
    skus: dict[str, SimSku]  # sku_id → SKU, in listing order
    modified: float
    on_sale: bool = True
    state: State = "ok"


@dataclass(frozen=True)
class Refusal:
    """Why a write was refused; the simulator turns it into its platform's error."""

    kind: Literal["no_product", "no_sku", "state", "floor", "negative", "short"]
    floor: int | None = None
    held_by: Literal["locked", "reserved"] | None = None
    state: State = "ok"


@dataclass
class ProductBook:
    """Every product of one simulated shop, with the write rules of :mod:`adapters.sandbox.products`."""

    ids: IdScheme
    started: float = 0.0
    stock: int = 100
    extra: int = 0
    seed: int = 0
    products: dict[str, SimProduct] = field(default_factory=dict)
    writes: Counter[str] = field(default_factory=Counter)
    write_calls: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        rng = random.Random(f"products|{self.seed}")  # noqa: S311 - reproducible
        goods: dict[str, list[tuple[str, tuple[tuple[str, str], ...], int]]] = {}
        for code, item in CATALOG.items():
            goods.setdefault(item.title, []).append((code, item.spec, PRICES[code][0]))
        for code, (title, spec, price) in UNMAPPED.items():
            goods.setdefault(title, []).append((code, spec, price))
        for n in range(self.extra):
            title = f"沙盒填充商品{n:05d}"
            goods[title] = [(f"SB-FILL-{n:05d}-{k}", (("款式", str(k)),), 1990 + k * 100)
                            for k in range(1 + n % 3)]
        for title, skus in goods.items():
            pid = self.ids.product(title)
            self.products[pid] = SimProduct(
                product_id=pid, title=title, modified=self.started - DAY * (1 + rng.random() * 60),
                skus={self.ids.sku(code): SimSku(self.ids.sku(code), code, spec, price, self.stock)
                      for code, spec, price in skus})
        self._by_sku = {sid: p for p in self.products.values() for sid in p.skus}
        self._by_code = {s.code: (p, s) for p in self.products.values() for s in p.skus.values()}

    # ---- reads -----------------------------------------------------------------------------------

    def ordered(self, modified_from: float | None = None, modified_to: float | None = None, *,
                exclusive: bool = False, on_sale: bool | None = None) -> list[SimProduct]:
        """Products (deleted ones left out) in id order, filtered by modified time and on-sale state."""
        out = []
        for p in sorted(self.products.values(), key=lambda p: p.product_id):
            if p.state == "deleted" or (on_sale is not None and p.on_sale != on_sale):
                continue
            if modified_from is not None and (p.modified <= modified_from if exclusive else p.modified < modified_from):
                continue
            if modified_to is not None and (p.modified >= modified_to if exclusive else p.modified > modified_to):
                continue
            out.append(p)
        return out

    def product(self, product_id: str) -> SimProduct | None:
        """The product with this id, unless deleted."""
        p = self.products.get(str(product_id).strip())
        return None if p is None or p.state == "deleted" else p

    def find(self, product_id: str | None, sku_id: str | None = None, code: str | None = None
             ) -> tuple[SimProduct | None, SimSku | None]:
        """(product, SKU) by product id and SKU id or merchant code; the product alone from a SKU id."""
        p = self.product(product_id) if product_id not in (None, "") else None
        if p is None and sku_id not in (None, ""):
            p = self._by_sku.get(str(sku_id))
        if p is None and code:
            p = self._by_code.get(code, (None, None))[0]
        if p is None:
            return None, None
        if sku_id not in (None, ""):
            return p, p.skus.get(str(sku_id))
        if code:
            found = self._by_code.get(code)
            return p, (found[1] if found and found[0] is p else None)
        return p, None

    # ---- writes ----------------------------------------------------------------------------------

    def check(self, p: SimProduct | None, s: SimSku | None, quantity: int, *, incremental: bool = False
              ) -> Refusal | None:
        """Why writing ``quantity`` (a delta when incremental) would be refused; None when it would pass."""
        if p is None:
            return Refusal("no_product")
        if s is None:
            return Refusal("no_sku")
        if p.state != "ok":
            return Refusal("state", state=p.state)
        target = s.stock + quantity if incremental else quantity
        if target < 0:
            return Refusal("short" if incremental else "negative")
        floor = max(s.locked, s.reserved)
        if target < floor:
            return Refusal("floor", floor=floor, held_by="locked" if s.locked >= s.reserved else "reserved")
        return None

    def apply(self, p: SimProduct, s: SimSku, quantity: int, now: float, *, incremental: bool = False) -> int:
        """Write a checked quantity (full, or a delta); returns the new stock."""
        s.stock = s.stock + quantity if incremental else quantity
        p.modified = now
        self.writes[s.code] += 1
        return s.stock

    def write(self, product_id: str | None, sku_id: str | None, quantity: int, now: float, *,
              code: str | None = None, incremental: bool = False) -> Refusal | None:
        """Check and apply one SKU's write; the refusal, or None when written."""
        p, s = self.find(product_id, sku_id, code)
        refusal = self.check(p, s, quantity, incremental=incremental)
        if refusal is None and p is not None and s is not None:
            self.apply(p, s, quantity, now, incremental=incremental)
        return refusal

    # ---- control hooks (by merchant code) ----------------------------------------------------------

    def sku(self, code: str) -> SimSku:
        """The SKU with this merchant code (KeyError naming it when there is none)."""
        if code not in self._by_code:
            raise KeyError(f"no SKU with merchant code {code!r} in the simulated shop")
        return self._by_code[code][1]

    def ids_of(self, code: str) -> tuple[str, str]:
        """(product id, SKU id) of a merchant code."""
        self.sku(code)
        p, s = self._by_code[code]
        return p.product_id, s.sku_id

    def stock_of(self, code: str) -> int:
        """The SKU's sellable stock as the storefront shows it now."""
        return self.sku(code).stock

    def set_stock(self, code: str, quantity: int) -> None:
        """Set a SKU's stock directly (as a person in the back office would)."""
        self.sku(code).stock = quantity

    def set_reserved(self, code: str, quantity: int) -> None:
        """Quantity held by unpaid orders: a full write below it is refused."""
        self.sku(code).reserved = quantity

    def set_locked(self, code: str, quantity: int) -> None:
        """Quantity an activity holds: a full write below it is refused."""
        self.sku(code).locked = quantity

    def set_on_sale(self, code: str, on_sale: bool) -> None:
        """Delist or relist the product of this SKU."""
        self.sku(code)
        self._by_code[code][0].on_sale = on_sale

    def set_state(self, code: str, state: State) -> None:
        """Put the product of this SKU under review, ban or delete it (or back to ``ok``)."""
        self.sku(code)
        self._by_code[code][0].state = state

    def codes(self) -> Iterable[str]:
        """Every merchant code in the shop."""
        return self._by_code.keys()

    def view(self, code: str) -> dict[str, Any]:
        """One SKU as the admin endpoint shows it."""
        s = self.sku(code)
        p = self._by_code[code][0]
        return {"code": code, "product_id": p.product_id, "sku_id": s.sku_id, "title": p.title, "stock": s.stock,
                "reserved": s.reserved, "locked": s.locked, "on_sale": p.on_sale, "state": p.state,
                "price_fen": s.price_fen, "writes": self.writes[code]}


_SETTERS: dict[str, str] = {"stock": "set_stock", "reserved": "set_reserved", "locked": "set_locked"}


def admin_stock(book: ProductBook, method: str, route: str, payload: dict[str, Any]) -> Response | None:
    """The simulators' ``_sandbox/stock`` admin endpoints; None when ``route`` is not one of them.

    ``GET stock``: every SKU and the write calls per API. ``GET stock/<code>``: one SKU. ``POST stock/<code>`` with
    any of ``stock``, ``reserved``, ``locked`` (whole numbers ≥ 0), ``on_sale`` (bool), ``state``
    (ok / under_review / banned / deleted): change it as the back office or an activity would.
    """
    head, _, code = route.partition("/")
    if head != "stock":
        return None
    if method == "GET" and not code:
        return json_response(200, {"skus": [book.view(c) for c in sorted(book.codes())],
                                   "write_calls": dict(book.write_calls)})
    if code not in book.codes():
        return json_response(404, {"error": f"no SKU with merchant code {code!r}"})
    if method == "POST":
        for key, value in payload.items():
            if key in _SETTERS and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                getattr(book, _SETTERS[key])(code, value)
            elif key == "on_sale" and isinstance(value, bool):
                book.set_on_sale(code, value)
            elif key == "state" and value in ("ok", "under_review", "banned", "deleted"):
                book.set_state(code, value)
            else:
                return json_response(400, {"error": f"{key}: unknown key or bad value {value!r}"})
    elif method != "GET":
        return json_response(405, {"error": "GET or POST"})
    return json_response(200, book.view(code))

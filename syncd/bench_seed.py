"""``syncd bench --seed-orders N``: N finished orders written straight into the database, fast.

A seller's database only grows: the benchmark (and the report and console pages) must be timed against a
store that already holds a year of history, not an empty one. This writes N orders that went the whole way
— storefront lines, supplier orders (drop-folder ones in daily export batches, API ones paid), parcels
uploaded and delivered with their tracking events — spread over the last ``days`` days with a daily rhythm,
across shops, suppliers, carriers and provinces in realistic proportions. About 3 % were cancelled before
anything shipped.

The rows go in with the database's bulk path, not through the ORM: ``executemany`` of plain tuples on
SQLite, ``COPY`` on PostgreSQL, in transactions of ``chunk`` orders, with ids taken after the highest
already there (PostgreSQL's sequences are moved past them afterwards). Every value a column's Python-side
default would give is written explicitly, so the rows read back through the models like the daemon's own.
Storefront order numbers are 19 digits starting with 9 (the sandbox's start with 4, 5 or 6): seeded
history never collides with orders the benchmark then pulls. The same ``seed`` gives the same rows.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from syncd import clock, jsoncodec
from syncd.routing import idempotency_key
from syncd.store.db import Database
from syncd.store.models import Order, OrderLine, Shipment, SupplierOrder, TrackingEvent

DEFAULT_SHOPS: tuple[tuple[str, str], ...] = (("douyin-demo", "douyin"), ("pdd-demo", "pdd"),
                                              ("taobao-demo", "taobao"))
# (supplier, kind, share of supplier orders): the sandbox's two drop-folder and two API suppliers
DEFAULT_SUPPLIERS: tuple[tuple[str, str, float], ...] = (("yiwu-goods", "file", 0.35), ("gz-apparel", "file", 0.30),
                                                         ("ali-factory", "1688", 0.20),
                                                         ("hz-warehouse", "webhook", 0.15))
# carrier code and share of parcels, roughly the market of a dropshipping seller
CARRIERS: tuple[tuple[str, float], ...] = (
    ("zhongtong", 0.24), ("yuantong", 0.18), ("yunda", 0.15), ("jtexpress", 0.12), ("shentong", 0.11),
    ("youzhengguonei", 0.07), ("shunfeng", 0.06), ("ems", 0.03), ("jd", 0.03), ("debangkuaidi", 0.01))
# (province, city, share of buyers): coastal provinces dominate, remote regions are rare but present
PROVINCES: tuple[tuple[str, str, float], ...] = (
    ("广东省", "深圳市", 0.14), ("浙江省", "杭州市", 0.09), ("江苏省", "苏州市", 0.09), ("山东省", "济南市", 0.07),
    ("河南省", "郑州市", 0.06), ("四川省", "成都市", 0.06), ("湖北省", "武汉市", 0.05), ("福建省", "厦门市", 0.05),
    ("上海市", "上海市", 0.05), ("北京市", "北京市", 0.05), ("湖南省", "长沙市", 0.04), ("河北省", "石家庄市", 0.04),
    ("安徽省", "合肥市", 0.04), ("辽宁省", "沈阳市", 0.03), ("陕西省", "西安市", 0.03),
    ("广西壮族自治区", "南宁市", 0.03),
    ("江西省", "南昌市", 0.02), ("云南省", "昆明市", 0.02), ("重庆市", "重庆市", 0.02), ("黑龙江省", "哈尔滨市", 0.01),
    ("甘肃省", "兰州市", 0.005), ("内蒙古自治区", "呼和浩特市", 0.005), ("新疆维吾尔自治区", "乌鲁木齐市", 0.003),
    ("西藏自治区", "拉萨市", 0.001), ("海南省", "海口市", 0.006))
# storefront SKU, title, spec, price (fen): what the sandbox shops list
SKUS: tuple[tuple[str, str, str, int], ...] = (
    ("SB-TEE-RED-M", "纯棉短袖T恤", "颜色:红色;尺码:M", 3990),
    ("SB-TEE-BLK-L", "纯棉短袖T恤", "颜色:黑色;尺码:L", 3990),
    ("SB-SOCK-5P", "中筒棉袜5双装", "颜色:灰色", 2590), ("SB-MUG-WHT", "陶瓷马克杯", "颜色:白色", 2900),
    ("SB-BOTTLE-500", "运动水杯500ml", "颜色:蓝色;容量:500ml", 3500),
    ("SB-UMB-BLK", "晴雨两用折叠伞", "颜色:黑色", 4900),
    ("SB-HOOK-10P", "免打孔挂钩10个装", "规格:10个", 990), ("SB-CABLE-2PK", "快充数据线两条装", "长度:1米", 2990))
PLATFORM_STATUS = {"douyin": "3", "pdd": "2", "taobao": "WAIT_BUYER_CONFIRM_GOODS"}
# a day's rhythm: share of orders per hour (Asia/Shanghai), evenings busiest
_HOURS = (1, 0.5, 0.3, 0.2, 0.2, 0.3, 0.8, 1.5, 2.5, 3.5, 4, 4, 4.5, 4.5, 4, 4, 4, 4.5, 5, 6, 7, 7.5, 6, 3)
_EVENTS = (("collected", "快件已揽收"), ("in_transit", "快件已到达转运中心"),
           ("in_transit", "快件离开转运中心，发往目的地"), ("delivering", "快件正在派送中"),
           ("delivered", "快件已签收，签收人：本人"))
_FAR = frozenset({"新疆维吾尔自治区", "西藏自治区"})  # three days more on the road

TABLES = ("orders", "order_lines", "export_batches", "supplier_orders", "shipments", "tracking_events")


@dataclass
class SeedSummary:
    orders: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def orders_per_second(self) -> float:
        return self.orders / self.seconds if self.seconds else 0.0


def _cols(model: Any) -> tuple[str, ...]:
    return tuple(c.name for c in model.__table__.columns)


ORDER_COLS = _cols(Order)
LINE_COLS = _cols(OrderLine)
SO_COLS = _cols(SupplierOrder)
SHIP_COLS = _cols(Shipment)
EVENT_COLS = _cols(TrackingEvent)
assert LINE_COLS == ("id", "order_id", "platform_line_id", "platform_sku_id", "merchant_sku", "title", "spec",
                     "quantity", "unit_price_fen", "refund_state")
assert EVENT_COLS == ("id", "shipment_id", "at", "state", "text", "location", "digest", "source")
BATCH_COLS = ("id", "supplier_id", "kind", "state", "file_stem", "file_name", "row_count", "created_at",
              "written_at")


def _defaults(model: Any) -> dict[str, Any]:
    """Each column's Python-side default (None where it has none or a callable one): the value of a column the
    seeder does not know (one a later revision added) is what the ORM would have written."""
    out: dict[str, Any] = {}
    for c in model.__table__.columns:
        d = c.default
        out[c.name] = d.arg if d is not None and getattr(d, "is_scalar", False) else None
    return out


DEFAULTS = {"orders": _defaults(Order), "supplier_orders": _defaults(SupplierOrder),
            "shipments": _defaults(Shipment)}


def _pick(rng: random.Random, table: Sequence[tuple[Any, ...]]) -> Callable[[], tuple[Any, ...]]:
    """A fast weighted choice over ``table`` (its last field is the weight)."""
    items = list(table)
    weights = [float(t[-1]) for t in items]
    cum: list[float] = []
    acc = 0.0
    for w in weights:
        acc += w
        cum.append(acc)
    from bisect import bisect

    def pick() -> tuple[Any, ...]:
        return items[min(bisect(cum, rng.random() * acc), len(items) - 1)]
    return pick


class _Writer:
    """Bulk rows into one database: executemany on SQLite, COPY on PostgreSQL, one transaction per flush."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.sqlite = db.is_sqlite

    def next_ids(self) -> dict[str, int]:
        with self.db.read() as s:
            return {t: int(s.execute(select(func.coalesce(func.max(text("id")), 0)).select_from(text(t))).scalar_one())
                    + 1 for t in TABLES}

    def write(self, batch: dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]]) -> None:
        with self.db.engine.connect() as conn:
            raw: Any = conn.connection.dbapi_connection
            if self.sqlite:
                raw.execute("BEGIN IMMEDIATE")
                try:
                    for table in TABLES:
                        if table in batch and batch[table][1]:
                            cols, rows = batch[table]
                            # table and column names are the models' own, never input
                            sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"  # noqa: S608
                            raw.executemany(sql, rows)
                    raw.execute("COMMIT")
                except BaseException:
                    raw.execute("ROLLBACK")
                    raise
            else:
                with raw.cursor() as cur:
                    for table in TABLES:
                        if table in batch and batch[table][1]:
                            cols, rows = batch[table]
                            with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                                for row in rows:
                                    copy.write_row(row)
                raw.commit()

    def finish(self) -> None:
        if self.sqlite:
            return
        with self.db.engine.begin() as conn:
            for table in TABLES:
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 - our names
                                  f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"))
            # as autovacuum would soon: plans from real statistics. Only the tables written: a database-wide ANALYZE
            # also locks the catalogues and every other schema's tables, and deadlocked with DDL running beside it
            conn.execute(text(f"ANALYZE {', '.join(TABLES)}"))


def seed_orders(db: Database, n: int, *, days: int = 60, seed: int = 7, now: datetime | None = None,
                shops: Sequence[tuple[str, str]] = DEFAULT_SHOPS,
                suppliers: Sequence[tuple[str, str, float]] = DEFAULT_SUPPLIERS,
                chunk: int = 20_000, report: Callable[[int, float], None] | None = None) -> SeedSummary:
    """Write ``n`` finished orders (and their lines, supplier orders, parcels and tracking events) created over
    the ``days`` before ``now``; returns how many rows went into each table and how long it took."""
    if n < 0 or days < 1 or not shops or not suppliers:
        raise ValueError("seed_orders: n >= 0, days >= 1, at least one shop and one supplier")
    started = time.monotonic()
    now = (now or clock.now()).astimezone(UTC)
    rng = random.Random(f"syncd-bench-seed|{seed}")  # noqa: S311 - reproducible fake data
    writer = _Writer(db)
    ids = writer.next_ids()
    gen = _Generator(rng, now, days, shops, suppliers, writer.sqlite, ids)
    summary = SeedSummary(rows=dict.fromkeys(TABLES, 0))
    done = 0
    while done < n:
        size = min(chunk, n - done)
        batch = gen.batch(size)
        writer.write(batch)
        for table, written in batch.items():
            summary.rows[table] += len(written[1])
        done += size
        if report:
            report(done, time.monotonic() - started)
    writer.finish()
    summary.orders = n
    summary.seconds = time.monotonic() - started
    return summary


class _Generator:
    def __init__(self, rng: random.Random, now: datetime, days: int, shops: Sequence[tuple[str, str]],
                 suppliers: Sequence[tuple[str, str, float]], sqlite: bool, ids: dict[str, int]) -> None:
        self.rng = rng
        self.now_ts = now.timestamp()
        self.days = days
        self.shops = list(shops)
        self.pick_supplier = _pick(rng, suppliers)
        self.kinds = {str(s[0]): str(s[1]) for s in suppliers}
        self.pick_carrier = _pick(rng, CARRIERS)
        self.pick_province = _pick(rng, PROVINCES)
        self.pick_hour = _pick(rng, [(h, w) for h, w in enumerate(_HOURS)])
        self.sqlite = sqlite
        self.ids = ids
        self.batches: dict[tuple[str, int], int] = {}  # (file supplier, day) -> export batch id

    # values as the driver takes them: SQLite keeps naive UTC text, booleans as 0/1 and JSON as text
    def ts(self, t: float | None) -> Any:
        if t is None:
            return None
        d = datetime.fromtimestamp(t, UTC)
        # what SQLAlchemy writes for SQLite (2026-12-06 10:00:00.000000), isoformat being 5x faster than strftime
        return d.isoformat(" ", "microseconds")[:26] if self.sqlite else d

    def _next(self, table: str) -> int:
        i = self.ids[table]
        self.ids[table] = i + 1
        return i

    def _created(self) -> float:
        """A creation time in the window: uniform day, busy evenings (hours in Asia/Shanghai)."""
        rng = self.rng
        # the last 3 days stay free: a seeded order's whole life (parcel delivered) fits before now
        day = 3 + rng.randrange(max(self.days - 3, 1))
        hour = int(self.pick_hour()[0])
        local_midnight = (self.now_ts // 86400 - day) * 86400 - 8 * 3600
        t = local_midnight + hour * 3600 + rng.random() * 3600
        return min(t, self.now_ts - 3 * 86400)

    def _batch_id(self, supplier: str, t: float, rows: list[tuple[Any, ...]]) -> int:
        day = int(t // 86400)
        key = (supplier, day)
        if key not in self.batches:
            bid = self._next("export_batches")
            self.batches[key] = bid
            stamp = datetime.fromtimestamp(day * 86400, UTC).strftime("%Y%m%d")
            rows.append((bid, supplier, "orders", "written", f"{supplier}-{stamp}-seed{bid}",
                         f"{supplier}-{stamp}-seed{bid}.xlsx", 0, self.ts(day * 86400 + 3600),
                         self.ts(day * 86400 + 3600)))
        return self.batches[key]

    def batch(self, size: int) -> dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]]:
        rng = self.rng
        dumps = jsoncodec.dumps
        sqlite = self.sqlite

        def js(v: Any) -> Any:
            return dumps(v)

        def b(v: bool) -> Any:
            return int(v) if sqlite else v

        orders: list[tuple[Any, ...]] = []
        lines: list[tuple[Any, ...]] = []
        batches: list[tuple[Any, ...]] = []
        sos: list[tuple[Any, ...]] = []
        ships: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        ts = self.ts
        for _ in range(size):
            oid = self._next("orders")
            shop_id, platform = self.shops[rng.randrange(len(self.shops))]
            poid = f"9{oid:018d}"
            created = self._created()
            paid = created + 30 + rng.random() * 600
            cancelled = rng.random() < 0.03
            province, city, _w = self.pick_province()
            receiver = {"name_cipher": f"#seed#{oid}#n", "phone_cipher": f"#seed#{oid}#p",
                        "address_cipher": f"#seed#{oid}#a", "name_masked": "*" + "某",
                        "phone_masked": f"138****{oid % 10000:04d}", "address_masked": "******",
                        "province": province, "city": city, "district": "", "street": ""}
            order_lines = []
            for k in range(1 + (rng.random() < 0.25) + (rng.random() < 0.08)):
                sku, title, spec, price = SKUS[rng.randrange(len(SKUS))]
                qty = 1 + (rng.random() < 0.2)
                lid = self._next("order_lines")
                order_lines.append((lid, f"{poid}{k + 1:02d}", sku, title, spec, qty))
                lines.append((lid, oid, f"{poid}{k + 1:02d}", f"sku{sku}", sku, title, spec, qty, price, "none"))
            # which supplier each line went to (mostly one supplier per order)
            first = self.pick_supplier()
            parts: dict[str, list[dict[str, Any]]] = {}
            for ln in order_lines:
                sup = first if rng.random() < 0.9 else self.pick_supplier()
                parts.setdefault(str(sup[0]), []).append(
                    {"order_line_id": ln[0], "platform_line_id": ln[1], "merchant_sku": ln[2],
                     "supplier_sku": ln[2].replace("SB-", "SP-"), "quantity": ln[5], "storefront_quantity": ln[5],
                     "title": ln[3], "spec": ln[4]})
            shipped_numbers: list[str] = []
            done_at = paid
            for sup_id, sup_lines in sorted(parts.items()):
                kind = self.kinds[sup_id]
                soid = self._next("supplier_orders")
                placed = paid + 600 + rng.random() * 7200
                api = kind != "file"
                if cancelled:  # refunded before it went out: withdrawn, never sent
                    sos.append(self._so(soid, oid, shop_id, poid, sup_id, sup_lines, "cancelled", None, None,
                                        None, None, api, paid, placed, "none"))
                    continue
                batch_id = self._batch_id(sup_id, placed, batches) if kind == "file" else None
                shipped = placed + 3600 * (4 + rng.random() * 40)
                ref = f"{sup_id[:2].upper()}{soid:012d}"
                sos.append(self._so(soid, oid, shop_id, poid, sup_id, sup_lines, "shipped", batch_id, ref,
                                    placed, shipped, api, paid, shipped, "none"))
                carrier = str(self.pick_carrier()[0])
                tno = f"{carrier[:2].upper()}{rng.randrange(10**11, 10**12)}"
                shipped_numbers.append(tno)
                sid = self._next("shipments")
                picked = shipped + 3600 * (1 + rng.random() * 10)
                delivered = picked + 3600 * (20 + rng.random() * 80 + (72 if province in _FAR else 0))
                uploaded = shipped + 60 + rng.random() * 600
                done_at = max(done_at, delivered)
                ships.append(self._ship(sid, oid, soid, carrier, tno, sup_id, uploaded, shipped, picked, delivered,
                                        province))
                steps = [picked, picked + (delivered - picked) * 0.3, picked + (delivered - picked) * 0.6,
                         delivered - 3600 * (1 + rng.random() * 4), delivered]
                for (state, words), at in zip(_EVENTS, steps, strict=True):
                    digest = hashlib.sha1(f"{sid}|{at}|{words}".encode(), usedforsecurity=False).hexdigest()
                    events.append((self._next("tracking_events"), sid, ts(at), state, words, city, digest,
                                   "kuaidi100"))
            state = "cancelled" if cancelled else "shipped"
            status = "cancelled" if cancelled else "completed"
            finished = paid + 1800 if cancelled else done_at
            orders.append(self._order(oid, shop_id, platform, poid, status, state, created, paid, finished,
                                      receiver, shipped_numbers, order_lines))
        return {"orders": (ORDER_COLS, orders), "order_lines": (LINE_COLS, lines),
                "export_batches": (BATCH_COLS, batches), "supplier_orders": (SO_COLS, sos),
                "shipments": (SHIP_COLS, ships), "tracking_events": (EVENT_COLS, events)}

    def _order(self, oid: int, shop_id: str, platform: str, poid: str, status: str, state: str, created: float,
               paid: float, finished: float, receiver: dict[str, Any], numbers: list[str],
               lines: list[tuple[Any, ...]]) -> tuple[Any, ...]:
        ts = self.ts
        raw = {"order_id": poid, "seeded": True, "lines": len(lines)}
        values = {
            "id": oid, "shop_id": shop_id, "platform_order_id": poid,
            "platform_status": "4" if status == "cancelled" else PLATFORM_STATUS.get(platform, "shipped"),
            "status": status, "ready_to_ship": self._bool(False), "not_ready_reason": None,
            "refund_state": "refunded" if status == "cancelled" else "none", "payment_mode": "prepaid",
            "paid_at": ts(paid), "ship_by": ts(paid + 48 * 3600), "platform_created_at": ts(created),
            "platform_updated_at": ts(finished), "buyer_note": "", "seller_memo": "",
            "receiver": jsoncodec.dumps(receiver), "shipped_tracking": jsoncodec.dumps(numbers),
            "raw": jsoncodec.dumps(raw), "payload_hash": hashlib.sha1(poid.encode(), usedforsecurity=False).hexdigest(),
            "state": state, "hold_reason": None, "recheck_at": None, "cod_confirmed_at": None,
            "cod_confirmed_by": None, "last_error": None, "first_seen_at": ts(paid + 20),
            "updated_at": ts(finished),
        }
        return self._row("orders", ORDER_COLS, values)

    def _row(self, table: str, cols: tuple[str, ...], values: dict[str, Any]) -> tuple[Any, ...]:
        defaults = DEFAULTS[table]
        out = []
        for c in cols:
            v = values[c] if c in values else defaults[c]
            out.append(int(v) if self.sqlite and isinstance(v, bool) else v)
        return tuple(out)

    def _bool(self, v: bool | None) -> Any:
        return v if v is None or not self.sqlite else int(v)

    def _so(self, soid: int, oid: int, shop_id: str, poid: str, sup_id: str, lines: list[dict[str, Any]],
            state: str, batch_id: int | None, ref: str | None, placed: float | None, shipped: float | None,
            api: bool, created: float, updated: float, cancel_state: str) -> tuple[Any, ...]:
        ts = self.ts
        values = {
            "id": soid, "order_id": oid, "supplier_id": sup_id,
            "idempotency_key": idempotency_key(shop_id, poid, sup_id), "kind": "normal",
            "lines": jsoncodec.dumps(lines), "state": state, "batch_id": batch_id, "supplier_ref": ref,
            "placed_at": ts(placed), "shipped_at": ts(shipped), "attempts": 1 if placed else 0, "last_error": None,
            "created_at": ts(created), "updated_at": ts(updated),
            "first_attempt_at": ts(placed) if api else None, "paid": self._bool(True if api and placed else None),
            "next_check_at": None, "claimed_by": None, "claim_until": None, "cancel_state": cancel_state,
            "cancel_detail": None, "reship_of": None, "faults": 0,
        }
        return self._row("supplier_orders", SO_COLS, values)

    def _ship(self, sid: int, oid: int, soid: int, carrier: str, tno: str, sup_id: str, uploaded: float,
              shipped: float, picked: float, delivered: float, province: str) -> tuple[Any, ...]:
        ts = self.ts
        values = {
            "id": sid, "order_id": oid, "supplier_order_id": soid, "carrier": carrier, "carrier_text": carrier,
            "tracking_no": tno, "lines": None, "source": f"seed:{sup_id}", "writeback_state": "uploaded",
            "writeback_attempts": 1, "writeback_error": None, "writeback_faults": 0, "next_attempt_at": None,
            "claimed_by": None, "claim_until": None, "uploaded_at": ts(uploaded), "logistics_state": "delivered",
            "last_event_at": ts(delivered), "created_at": ts(shipped), "handed_over_at": ts(shipped),
            "picked_up_at": ts(picked), "delivered_at": ts(delivered), "track_verdict": None,
            "provider_state": "3", "track_final": self._bool(True), "last_checked_at": ts(delivered + 600),
            "next_check_at": None, "subscribed_at": ts(shipped + 600), "province": province,
        }
        return self._row("shipments", SHIP_COLS, values)


def main(db_url: str, n: int, *, days: int = 60, seed: int = 7) -> SeedSummary:
    """Seed ``n`` orders into ``db_url`` (migrated first), printing progress every chunk."""
    from syncd.store.db import open_database
    from syncd.store.migrate import upgrade

    db = open_database(db_url)
    try:
        upgrade(db)

        def report(done: int, secs: float) -> None:
            print(f"  seeded {done:,} of {n:,} orders ({secs:.0f} s)", flush=True)

        return seed_orders(db, n, days=days, seed=seed, report=report)
    finally:
        db.dispose()


def seed_only(args: Any) -> int:
    """``syncd bench --seed-orders N --seed-only``: seed into ``--postgres URL`` or the configured database."""
    from syncd.settings import load_settings

    n = int(args.seed_orders or 0)
    if n <= 0:
        raise SystemExit("syncd bench: --seed-only needs --seed-orders N (N > 0)")
    url = args.postgres
    if not url:
        settings = load_settings()
        if getattr(args, "config", None):
            settings.config_dir = Path(args.config)
        url = settings.db_url()
    shown = url.split("@")[-1]  # no password on the screen
    print(f"syncd bench: seeding {n:,} finished orders over 60 days into {shown}", flush=True)
    summary = main(url, n)
    print(f"seeded {summary.orders:,} orders in {summary.seconds:.0f} s ({summary.orders_per_second:,.0f} orders/s): "
          + ", ".join(f"{table} {rows:,}" for table, rows in summary.rows.items()), flush=True)
    return 0

"""How long the console's pages take to render over a given database: :func:`time_pages`.

The benchmark (``syncd bench``) seeds the database; this only signs in and asks each page ``repeat`` times through
the ASGI app in process (no network), after one warm-up request, and reports the best and the median wall time in ms,
and the median CPU time of this process (on SQLite that is the query too: a fair figure on a busy machine, where the
wall time counts the waits for a core). The console's target: the overview and the orders list under 300 ms with a
million orders, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import secrets
import statistics
import time
import warnings
from typing import Any

from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from syncd.console.app import Console
from syncd.console.auth import hash_password
from syncd.console.pages import Pages
from syncd.console.settings import ConsoleSettings
from syncd.store.db import Database
from syncd.store.models import Order, Shipment


def _paths(db: Database) -> dict[str, str]:
    """The pages to time, with a real order id, shop and tracking number of the database."""
    with db.read() as s:
        newest = s.scalar(select(func.max(Order.id))) or 0
        shop = s.scalar(select(Order.shop_id).where(Order.id == newest)) or ""
        platform_id = s.scalar(select(Order.platform_order_id).where(Order.id == newest)) or ""
        tracking = s.scalar(select(Shipment.tracking_no).order_by(Shipment.id.desc()).limit(1)) or ""
    return {"overview": "/", "orders": "/orders", "orders_held": "/orders?state=held",
            "orders_shop": f"/orders?shop={shop}", "search_order_id": f"/orders?q={platform_id}",
            "search_tracking": f"/orders?q={tracking}", "order_detail": f"/orders/{newest}", "alerts": "/alerts",
            "suppliers": "/suppliers", "reports_week": "/reports?by=supplier"}


def time_pages(engine: Engine, repeat: int = 5) -> dict[str, Any]:
    """Render each console page ``repeat`` times over ``engine``'s database: page → best and median ms, status."""
    with warnings.catch_warnings():  # starlette asks for httpx2 at import; httpx does the same job here
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    db = Database(engine, sessionmaker(engine, expire_on_commit=False))
    password = secrets.token_urlsafe(16)
    console = Console(Pages(db), ConsoleSettings(password_hash=SecretStr(hash_password(password)), trusted_header=None))
    out: dict[str, Any] = {}
    with TestClient(console.app(), follow_redirects=False) as client:
        if client.post("/login", data={"password": password}).status_code != 303:
            raise RuntimeError("could not sign in to the console")
        for name, path in _paths(db).items():
            status = client.get(path).status_code  # warm-up: caches, the template's compilation
            times, cpu = [], []
            for _ in range(repeat):
                start, start_cpu = time.perf_counter(), time.process_time()
                client.get(path)
                times.append((time.perf_counter() - start) * 1000)
                cpu.append((time.process_time() - start_cpu) * 1000)
            out[name] = {"path": path, "status": status, "best_ms": round(min(times), 1),
                         "median_ms": round(statistics.median(times), 1), "cpu_ms": round(statistics.median(cpu), 1)}
    return out

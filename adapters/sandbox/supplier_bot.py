"""A simulated drop-folder supplier: reads order sheets from an outbox, answers tracking numbers.

Like a small 一件代发 supplier (reference/suppliers-tracking-alerts.md §B): it answers each order
file once, some time after it appeared, with one reply sheet in its own format (xlsx or csv in
utf-8-sig / gb18030 / utf-8), its own header words (订单编号 / 快递公司 / 快递单号, or 外部订单号 /
物流公司 / 运单号, ...) and the carrier written as free text ("中通", "ZTO", "圆通速递", "顺丰"...).
With ``bad_row_rate`` some rows are wrong the way real replies are: an order number that was never
sent, an empty tracking number, a number Excel turned into ``7.73061E+14``, a carrier nobody knows.
Cancellation files (named ``取消-…``, with an 操作 column saying 取消 on each row) are not orders: it
notes the order numbers in them and leaves those orders out of later replies (a supplier that could
still stop them). A row marked 取消 is never answered, whatever file it comes in.
Answers are deterministic per (seed, supplier, order number).
:meth:`SupplierBot.drop_stock_file` drops a stock file (库存表: SKU, quantity, optional price in yuan) in the
inbox, in the bot's format and encoding and with its own header words (商家编码 / 规格编码 / SKU, 可售数量 /
库存 / 数量, 供货价 / 单价 …), as a supplier that sends its stock by file does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path

from syncd.adapters.sandbox.sheets import NAME_HEADERS, ORDER_HEADERS, pick, read_table, write_table

log = logging.getLogger(__name__)

_CST = timezone(timedelta(hours=8))
# (internal code, how suppliers write it, tracking prefix, digits after the prefix, weight)
CARRIER_FORMS: tuple[tuple[str, tuple[str, ...], str, int, int], ...] = (
    ("zhongtong", ("中通", "中通快递", "ZTO"), "7", 13, 30),
    ("yuantong", ("圆通速递", "YTO", "圆通"), "YT", 13, 25),
    ("yunda", ("韵达", "韵达快递"), "43", 11, 20),
    ("shunfeng", ("顺丰", "顺丰速运"), "SF", 12, 10),
    ("shentong", ("申通快递", "STO"), "77", 13, 10),
    ("jtexpress", ("极兔速递", "极兔"), "JT", 13, 5),
)
REPLY_HEADERS: tuple[tuple[str, str, str], ...] = (
    ("订单编号", "快递公司", "快递单号"),
    ("外部订单号", "物流公司", "运单号"),
    ("订单号", "快递名称", "物流单号"),
)
STOCK_HEADERS: tuple[tuple[str, str, str], ...] = (
    ("商家编码", "可售数量", "供货价"),
    ("规格编码", "库存", "单价"),
    ("SKU", "数量", "价格"),
)
BAD_KINDS = ("unknown_order", "empty_tracking", "sci_notation", "unknown_carrier")
_ORDER_SUFFIXES = (".xlsx", ".csv")


ACTION_HEADER = "操作"
CANCEL_ACTION = "取消"


def is_cancel_file(name: str) -> bool:
    """Cancellation lists are not order files (``取消-…``; older syncd versions wrote ``*-cancel.*``)."""
    stem = name.rsplit(".", 1)[0]
    return name.startswith(CANCEL_ACTION) or stem.endswith("-cancel") or "取消" in name


def is_cancel_row(row: dict[str, str]) -> bool:
    """A row whose 操作 column says 取消: the supplier must not ship it."""
    return row.get(ACTION_HEADER, "").strip() == CANCEL_ACTION


class SupplierBot:
    """One simulated supplier answering one outbox folder into one inbox folder."""

    def __init__(self, outbox_dir: str | Path, inbox_dir: str | Path, *, reply_delay: float = 2.0,
                 reply_format: str = "xlsx", encoding: str = "utf-8-sig", bad_row_rate: float = 0.0,
                 seed: int = 0, clock: Callable[[], float] = time.time, name: str | None = None,
                 numeric_cells: bool = True, max_files_per_poll: int = 100) -> None:
        if reply_format not in ("xlsx", "csv"):
            raise ValueError(f"reply_format must be xlsx or csv, not {reply_format!r}")
        if encoding not in ("utf-8-sig", "gb18030", "gbk", "utf-8"):
            raise ValueError(f"encoding must be utf-8-sig, gb18030, gbk or utf-8, not {encoding!r}")
        self.outbox = Path(outbox_dir)
        self.inbox = Path(inbox_dir)
        self.reply_delay, self.reply_format, self.encoding = reply_delay, reply_format, encoding
        self.bad_row_rate, self.seed, self.clock = bad_row_rate, seed, clock
        self.name = name or self.inbox.name
        self.numeric_cells = numeric_cells
        self.max_files_per_poll = max_files_per_poll
        self.answers: dict[str, tuple[str, str]] = {}
        self.damaged: dict[str, tuple[str, str, str]] = {}  # order_no → (bad kind, carrier text, tracking text)
        self.bad_rows: list[dict[str, str]] = []
        self.answered: dict[str, str] = {}  # outbox file name → reply file name ("" when nothing to answer)
        self.cancelled: set[str] = set()
        self._unreadable: set[str] = set()
        self.state_path = self.inbox.parent / ".sandbox-supplier-bot" / f"{self._safe(self.name)}.json"
        self._load_state()

    @staticmethod
    def _safe(text: str) -> str:
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in text) or "supplier"

    # ---- state ------------------------------------------------------------------------------------

    def _load_state(self) -> None:
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except ValueError:
            log.warning("supplier bot %s: unreadable state file %s, starting afresh", self.name, self.state_path)
            return
        self.answered = dict(state.get("answered", {}))
        self.cancelled = set(state.get("cancelled", []))
        self.answers = {k: (v[0], v[1]) for k, v in state.get("answers", {}).items()}

    def _save_state(self) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_name(f".{self.state_path.name}.part")
        tmp.write_text(json.dumps({"answered": self.answered, "cancelled": sorted(self.cancelled),
                                   "answers": {k: list(v) for k, v in self.answers.items()}},
                                  ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.state_path)

    # ---- deterministic choices ------------------------------------------------------------------------

    def _u(self, *parts: str) -> float:
        h = hashlib.sha256("|".join((str(self.seed), self.name, *parts)).encode()).digest()
        return int.from_bytes(h[:8], "big") / 2**64

    def _digits(self, n: int, *parts: str) -> str:
        h = hashlib.sha256("|".join((str(self.seed), self.name, "digits", *parts)).encode()).hexdigest()
        return str(int(h, 16))[-n:].zfill(n)

    def carrier_for(self, order_no: str) -> tuple[str, str, str]:
        """(internal code, carrier text as written, tracking number) for one order."""
        u = self._u("carrier", order_no) * sum(f[4] for f in CARRIER_FORMS)
        form = CARRIER_FORMS[-1]
        for form in CARRIER_FORMS:
            if u < form[4]:
                break
            u -= form[4]
        code, texts, prefix, n, _ = form
        text = texts[int(self._u("text", order_no) * len(texts))]
        tracking = prefix + self._digits(n, "tracking", order_no)
        return code, text, tracking

    # ---- the work ---------------------------------------------------------------------------------------

    def poll(self) -> list[Path]:
        """One bounded scan of the outbox; returns the reply files written."""
        if not self.outbox.is_dir():
            return []
        self.inbox.mkdir(parents=True, exist_ok=True)
        now = self.clock()
        candidates = []
        for path in self.outbox.iterdir():
            if (path.name.startswith((".", "~$")) or path.suffix.lower() not in _ORDER_SUFFIXES
                    or path.name in self.answered or not path.is_file()):
                continue
            try:
                candidates.append((path.stat().st_mtime, path.name, path))
            except FileNotFoundError:  # moved away by the daemon meanwhile
                continue
        candidates.sort()
        written: list[Path] = []
        changed = False
        for mtime, name, path in candidates[:self.max_files_per_poll]:
            if is_cancel_file(name):
                changed |= self._read_cancel(path)
                continue
            if now - mtime < self.reply_delay:
                continue
            try:
                reply = self._answer(path)
            except Exception:  # one unreadable file must not stop the supplier; look again next poll
                if name not in self._unreadable:
                    log.exception("supplier bot %s: cannot read %r", self.name, name)
                    self._unreadable.add(name)
                continue
            self.answered[name] = reply.name if reply else ""
            changed = True
            if reply:
                written.append(reply)
        if changed:
            self._save_state()
        return written

    def drop_stock_file(self, levels: Mapping[str, int], prices: Mapping[str, int] | None = None,
                        name: str | None = None) -> Path:
        """Write a stock file into the inbox now (atomically): one row per SKU, the price in yuan when given
        (fen in ``prices``). Returns its path."""
        self.inbox.mkdir(parents=True, exist_ok=True)
        headers = STOCK_HEADERS[int(self._u("stock-headers") * len(STOCK_HEADERS))]
        stamp = datetime.fromtimestamp(self.clock(), _CST).strftime("%Y%m%d-%H%M%S")
        path = self.inbox / (name or f"库存表-{self._safe(self.name)}-{stamp}.{self.reply_format}")
        rows: list[list[str | int]] = []
        for sku, level in levels.items():
            fen = (prices or {}).get(sku)
            price = "" if fen is None else f"{fen // 100}.{fen % 100:02d}"
            rows.append([sku, level if self.numeric_cells and self.reply_format == "xlsx" else str(level), price])
        write_table(path, headers, rows, self.reply_format, self.encoding)
        return path

    def _read_cancel(self, path: Path) -> bool:
        try:
            rows = read_table(path)
        except Exception:  # a half-written or foreign file: look again next time
            log.warning("supplier bot %s: cannot read cancel file %r yet", self.name, path.name, exc_info=True)
            return False
        marked = [r for r in rows if is_cancel_row(r)] if any(ACTION_HEADER in r for r in rows) else rows
        self.cancelled.update(o for o in (pick(r, ORDER_HEADERS).strip() for r in marked) if o)
        self.answered[path.name] = ""
        return True

    def _answer(self, path: Path) -> Path | None:
        rows = read_table(path)
        orders: dict[str, str] = {}  # order_no → receiver name, in file order
        for row in rows:
            order_no = pick(row, ORDER_HEADERS).strip()
            if is_cancel_row(row):
                self.cancelled.add(order_no)
                continue
            if order_no and order_no not in self.cancelled:
                orders.setdefault(order_no, pick(row, NAME_HEADERS))
        if not orders:
            return None
        stem = path.name.rsplit(".", 1)[0]
        h_order, h_carrier, h_tracking = REPLY_HEADERS[int(self._u("headers", path.name) * len(REPLY_HEADERS))]
        header = [h_order, "收件人", h_carrier, h_tracking, "发货时间"]
        shipped_at = datetime.fromtimestamp(self.clock(), _CST).strftime("%Y-%m-%d %H:%M:%S")
        out: list[list[str | int]] = []
        for order_no, receiver in orders.items():
            _, text, tracking = self.carrier_for(order_no)
            kind = ""
            if self.bad_row_rate > 0 and self._u("bad", order_no) < self.bad_row_rate:
                kind = BAD_KINDS[int(self._u("badkind", order_no) * len(BAD_KINDS))]
            if kind == "unknown_order":
                ghost = "9" + self._digits(18, "ghost", order_no)
                out.append([ghost, receiver, text, tracking + "9", shipped_at])
                self.bad_rows.append({"file": path.name, "kind": kind, "order_no": ghost})
            elif kind:
                text, tracking = self._damage(kind, order_no, text, tracking)
                self.damaged[order_no] = (kind, text, tracking)
                self.bad_rows.append({"file": path.name, "kind": kind, "order_no": order_no})
                out.append([order_no, receiver, text, tracking, shipped_at])
                continue
            self.answers[order_no] = (text, tracking)
            cell: str | int = tracking
            if (self.reply_format == "xlsx" and self.numeric_cells and tracking.isdigit()
                    and self._u("numeric", order_no) < 0.3):
                cell = int(tracking)  # typed in as a number by a person; 15 digits survive in xlsx
            out.append([order_no, receiver, text, cell, shipped_at])
        reply = self.inbox / f"{stem}_发货回单.{self.reply_format}"
        write_table(reply, header, out, self.reply_format, self.encoding)
        return reply

    def _damage(self, kind: str, order_no: str, text: str, tracking: str) -> tuple[str, str]:
        if kind == "empty_tracking":
            return text, ""
        if kind == "sci_notation":
            return text, f"{int('7' + self._digits(14, 'sci', order_no)):.5E}"  # e.g. 7.73061E+14
        return "火星快递", tracking

    def run(self, stop_event: threading.Event, interval: float = 1.0) -> None:
        """Poll until ``stop_event`` is set (waits with ``Event.wait``, so it stops at once)."""
        while not stop_event.is_set():
            try:
                self.poll()
            except Exception:  # keep the simulated supplier alive through a bad scan
                log.exception("supplier bot %s: poll failed", self.name)
            stop_event.wait(interval)

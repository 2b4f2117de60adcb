"""The simulated supplier answers each order sheet once, in its own format, like a real one (reference §B)."""

from __future__ import annotations

import csv
import io
import os
import re
import threading
from pathlib import Path

from openpyxl import Workbook, load_workbook

from syncd.adapters.sandbox.sheets import decode_csv
from syncd.adapters.sandbox.supplier_bot import REPLY_HEADERS, SupplierBot
from syncd.carriers import normalize
from tests.sandbox.helpers import FakeClock

HEADER = ["订单号", "收件人", "电话", "地址", "商品编码", "商品名称", "规格", "数量", "备注"]
ORDERS = ["6912345678901234561", "6912345678901234562", "6912345678901234563"]
TRACKING = re.compile(r"^[A-Z0-9]{8,20}$")


def _rows(orders=ORDERS):
    rows = []
    addr = "浙江省杭州市西湖区文新街道某路1号"
    for i, o in enumerate(orders):
        rows.append([o, f"张{i}", "138****0000", addr, "YW-M100-WHT", "陶瓷马克杯", "白色", "1", ""])
        if i == 0:  # a two-line order: one reply row
            rows.append([o, f"张{i}", "138****0000", addr, "YW-H010", "挂钩", "10个", "2", ""])
    return rows


def write_xlsx(path: Path, rows, mtime: float) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    for r in rows:
        ws.append(r)
    wb.save(path)
    os.utime(path, (mtime, mtime))
    return path


def write_csv(path: Path, rows, mtime: float, encoding="gb18030") -> Path:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows([HEADER, *rows])
    path.write_bytes(buf.getvalue().encode(encoding))
    os.utime(path, (mtime, mtime))
    return path


def read_reply(path: Path, encoding: str | None = None) -> list[dict[str, str]]:
    if path.suffix == ".xlsx":
        wb = load_workbook(path, read_only=True)
        rows = [["" if v is None else str(v) for v in r] for r in wb.worksheets[0].iter_rows(values_only=True)]
        wb.close()
    else:
        text = path.read_bytes().decode(encoding) if encoding else decode_csv(path.read_bytes())
        rows = list(csv.reader(io.StringIO(text)))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def _dirs(tmp_path: Path) -> tuple[Path, Path]:
    outbox, inbox = tmp_path / "supplier" / "outbox", tmp_path / "supplier" / "inbox"
    outbox.mkdir(parents=True)
    inbox.mkdir(parents=True)
    return outbox, inbox


def _columns(row: dict[str, str]) -> tuple[str, str, str]:
    for headers in REPLY_HEADERS:
        if all(h in row for h in headers):
            return headers
    raise AssertionError(f"no known header set in {list(row)}")


def test_answers_an_xlsx_outbox_once_with_header_aliases(tmp_path):
    outbox, inbox = _dirs(tmp_path)
    clock = FakeClock()
    write_xlsx(outbox / "yiwu-20261122-b000001.xlsx", _rows(), clock() - 10)
    bot = SupplierBot(outbox, inbox, reply_delay=2, reply_format="xlsx", clock=clock, seed=3, name="yiwu")
    written = bot.poll()
    assert [p.name for p in written] == ["yiwu-20261122-b000001_发货回单.xlsx"]
    rows = read_reply(written[0])
    h_order, h_carrier, h_tracking = _columns(rows[0])
    assert [r[h_order] for r in rows] == ORDERS  # grouped: one row per order
    for r in rows:
        assert TRACKING.match(r[h_tracking])
        code = normalize(r[h_carrier])
        assert code is not None
        assert r[h_tracking].startswith("SF") == (code == "shunfeng")
        assert bot.answers[r[h_order]] == (r[h_carrier], r[h_tracking])
    assert bot.poll() == []
    assert sorted(p.name for p in inbox.iterdir()) == ["yiwu-20261122-b000001_发货回单.xlsx"]


def test_answers_a_gb18030_csv_in_gb18030_and_not_again_after_a_restart(tmp_path):
    outbox, inbox = _dirs(tmp_path)
    clock = FakeClock()
    write_csv(outbox / "gz-b000007.csv", _rows(), clock() - 10)
    kw = {"reply_delay": 2, "reply_format": "csv", "encoding": "gb18030", "clock": clock, "name": "gz"}
    bot = SupplierBot(outbox, inbox, **kw)
    [reply] = bot.poll()
    raw = reply.read_bytes()
    try:
        raw.decode("utf-8")
        raise AssertionError("reply should be GB18030, not UTF-8")
    except UnicodeDecodeError:
        pass
    rows = read_reply(reply, "gb18030")
    h_order, _, _ = _columns(rows[0])
    assert {r[h_order] for r in rows} == set(ORDERS)
    restarted = SupplierBot(outbox, inbox, **kw)
    assert restarted.poll() == []
    assert restarted.answers == bot.answers
    assert len(list(inbox.iterdir())) == 1
    assert (tmp_path / "supplier" / ".sandbox-supplier-bot").is_dir()


def test_skips_files_younger_than_the_reply_delay(tmp_path):
    outbox, inbox = _dirs(tmp_path)
    clock = FakeClock()
    write_xlsx(outbox / "b1.xlsx", _rows(), clock())
    bot = SupplierBot(outbox, inbox, reply_delay=5, clock=clock)
    clock.advance(4.9)
    assert bot.poll() == []
    clock.advance(0.1)
    assert len(bot.poll()) == 1


def test_cancel_files_are_not_answered_and_their_orders_are_left_out(tmp_path):
    outbox, inbox = _dirs(tmp_path)
    clock = FakeClock()
    write_csv(outbox / "b2-cancel.csv", [[ORDERS[1], "", "", "", "", "", "", "", ""]], clock(), "utf-8-sig")
    write_xlsx(outbox / "取消单-3.xlsx", [[ORDERS[2], "", "", "", "", "", "", "", ""]], clock())
    bot = SupplierBot(outbox, inbox, reply_delay=0, clock=clock)
    assert bot.poll() == []
    assert bot.cancelled == {ORDERS[1], ORDERS[2]}
    clock.advance(10)
    write_xlsx(outbox / "b3.xlsx", _rows(), clock() - 5)
    [reply] = bot.poll()
    rows = read_reply(reply)
    h_order, _, _ = _columns(rows[0])
    assert [r[h_order] for r in rows] == [ORDERS[0]]


def test_bad_rows_are_the_kinds_real_suppliers_send(tmp_path):
    outbox, inbox = _dirs(tmp_path)
    clock = FakeClock()
    many = [f"69000000000000{i:05d}" for i in range(80)]
    write_csv(outbox / "big.csv", _rows(many), clock() - 10, "utf-8-sig")
    bot = SupplierBot(outbox, inbox, reply_delay=0, reply_format="csv", clock=clock, bad_row_rate=0.5, seed=1)
    [reply] = bot.poll()
    rows = read_reply(reply, "utf-8-sig")
    h_order, h_carrier, h_tracking = _columns(rows[0])
    assert {b["kind"] for b in bot.bad_rows} == {"unknown_order", "empty_tracking", "sci_notation", "unknown_carrier"}
    by_order = {r[h_order]: r for r in rows}
    assert any(o not in many for o in by_order)
    for order_no, (kind, carrier, _) in bot.damaged.items():
        assert order_no not in bot.answers
        row = by_order[order_no]
        if kind == "empty_tracking":
            assert row[h_tracking] == ""
        elif kind == "sci_notation":
            assert re.fullmatch(r"\d\.\d{5}E\+\d\d", row[h_tracking])
        else:
            assert row[h_carrier] == "火星快递" and normalize(carrier) is None
    assert len(bot.answers) + len(bot.damaged) == len(many)


def test_no_temp_files_are_left_and_hidden_or_lock_files_are_ignored(tmp_path):
    outbox, inbox = _dirs(tmp_path)
    clock = FakeClock()
    write_xlsx(outbox / ".partial.xlsx", _rows(), clock() - 10)
    write_xlsx(outbox / "~$b4.xlsx", _rows(), clock() - 10)
    (outbox / "notes.txt").write_text("hi")
    bot = SupplierBot(outbox, inbox, reply_delay=0, clock=clock)
    assert bot.poll() == []
    write_xlsx(outbox / "b4.xlsx", _rows(), clock() - 10)
    assert len(bot.poll()) == 1
    assert not [p for p in inbox.iterdir() if p.name.startswith(".")]


def test_answers_are_deterministic_per_seed(tmp_path):
    outbox, inbox = _dirs(tmp_path)
    a = SupplierBot(outbox, inbox, seed=1, name="s")
    b = SupplierBot(outbox, inbox, seed=1, name="s")
    c = SupplierBot(outbox, inbox, seed=2, name="s")
    assert [a.carrier_for(o) for o in ORDERS] == [b.carrier_for(o) for o in ORDERS]
    assert [a.carrier_for(o) for o in ORDERS] != [c.carrier_for(o) for o in ORDERS]


def test_run_stops_when_the_event_is_set(tmp_path):
    outbox, inbox = _dirs(tmp_path)
    clock = FakeClock()
    write_xlsx(outbox / "b5.xlsx", _rows(), clock() - 10)
    bot = SupplierBot(outbox, inbox, reply_delay=0, clock=clock)
    stop = threading.Event()
    polled = threading.Event()
    original = bot.poll

    def poll_and_signal():
        out = original()
        polled.set()
        return out

    bot.poll = poll_and_signal  # type: ignore[method-assign]
    t = threading.Thread(target=bot.run, args=(stop, 30.0), daemon=True)
    t.start()
    assert polled.wait(10)
    stop.set()
    t.join(5)
    assert not t.is_alive()
    assert len(bot.answers) == len(ORDERS)


def test_cancellation_file_as_syncd_writes_it_is_read_by_its_操作_column(tmp_path):
    from datetime import UTC, datetime

    from syncd.adapters.dropfolder import DropFolderConfig, create
    from syncd.domain import OutboxBatch, OutboxRow
    from syncd.registry import AdapterContext

    outbox, inbox = _dirs(tmp_path)
    config = DropFolderConfig.model_validate({"id": "acme", "kind": "file", "outbox_dir": str(outbox),
                                              "inbox_dir": str(inbox)})
    adapter = create(config, AdapterContext(http=None, tokens=None, data_dir=tmp_path))  # type: ignore[arg-type]
    line = OutboxRow(order_no=ORDERS[1], sub_order_no="1", receiver_name="张*", receiver_phone="138****0000",
                     province="", city="", district="", address="", supplier_sku="A-1", title="", spec="",
                     quantity=1, remark="取消订单，请勿发货", shop="", paid_at=None)
    name = adapter.write_batch(OutboxBatch(7, "acme", datetime(2026, 12, 6, tzinfo=UTC), "acme-b7-cancel", [line],
                                           kind="cancel"))
    clock = FakeClock()
    os.utime(outbox / name, (clock(), clock()))
    bot = SupplierBot(outbox, inbox, reply_delay=0, clock=clock)
    assert bot.poll() == []
    assert bot.cancelled == {ORDERS[1]}


def test_row_marked_取消_in_an_order_file_is_never_answered(tmp_path):
    outbox, inbox = _dirs(tmp_path)
    clock = FakeClock()
    wb = Workbook()
    ws = wb.active
    ws.append(["操作", *HEADER])
    ws.append(["取消", ORDERS[0], "", "", "", "", "", "", "", ""])
    ws.append(["", ORDERS[1], "", "", "", "", "", "", "", ""])
    wb.save(outbox / "b9.xlsx")
    os.utime(outbox / "b9.xlsx", (clock() - 5, clock() - 5))
    [reply] = SupplierBot(outbox, inbox, reply_delay=0, clock=clock).poll()
    rows = read_reply(reply)
    h_order, _, _ = _columns(rows[0])
    assert [r[h_order] for r in rows] == [ORDERS[1]]


# ---- stock files (issue 19) -------------------------------------------------------------------------------


def _inbox_file(path: Path):
    import hashlib

    from syncd.domain import InboxFile

    data = path.read_bytes()
    return InboxFile(name=path.name, path=str(path), sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def test_a_dropped_stock_file_is_read_by_the_drop_folder_adapter(tmp_path):
    import httpx

    from syncd.adapters.dropfolder import DropFolderConfig, create
    from syncd.registry import AdapterContext
    from syncd.stockmodel import SupplierStock

    for fmt, encoding, seed in (("xlsx", "utf-8-sig", 1), ("csv", "gb18030", 2), ("csv", "utf-8-sig", 5)):
        outbox, inbox = tmp_path / fmt / encoding / "outbox", tmp_path / fmt / encoding / "inbox"
        bot = SupplierBot(outbox, inbox, reply_format=fmt, encoding=encoding, seed=seed, clock=FakeClock())
        path = bot.drop_stock_file({"YW-M100-WHT": 35, "YW-H010": 0, "6901234567890": 12},
                                   {"YW-M100-WHT": 1990, "YW-H010": 305})
        with httpx.Client() as http:
            config = DropFolderConfig.model_validate({"id": "yiwu", "kind": "file", "outbox_dir": str(outbox),
                                                      "inbox_dir": str(inbox)})
            adapter = create(config, AdapterContext(http=http, tokens=None, data_dir=tmp_path))
            parsed = adapter.parse_inbox(_inbox_file(path))

        assert parsed.file_error is None and parsed.kind == "stock" and parsed.errors == []
        assert parsed.stock == [SupplierStock("YW-M100-WHT", 35, 1990), SupplierStock("YW-H010", 0, 305),
                                SupplierStock("6901234567890", 12, None)]

"""The Sandbox bundle and ``python -m adapters.sandbox serve``."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from syncd.adapters.sandbox import Sandbox, SupplierSpec
from tests.sandbox.helpers import FakeClock, SignedClient
from tests.sandbox.test_supplier_bot import write_xlsx

ROOT = Path(__file__).resolve().parents[2]


def test_sandbox_serves_douyin_and_runs_the_supplier_bots(tmp_path):
    clock = FakeClock()
    spec = SupplierSpec("yiwu-goods", tmp_path / "yiwu" / "outbox", tmp_path / "yiwu" / "inbox")
    (tmp_path / "yiwu" / "outbox").mkdir(parents=True)
    with Sandbox(orders=30, seed=2, suppliers=[spec], fault_rate=0.0, clock=clock, bot_interval=None) as sb:
        assert sb.douyin_url == sb.url + "/douyin"
        with httpx.Client(base_url=sb.douyin_url, timeout=10) as http:
            client = SignedClient(http, clock)
            client.login()
            data = client.call("order.searchList", {"update_time_start": int(clock()) - 86400 * 2, "size": 100})
            assert data["data"]["total"] == 30
        write_xlsx(tmp_path / "yiwu" / "outbox" / "b1.xlsx", [["6900000000000000001", "张三"]], clock() - 60)
        assert len(sb.bots["yiwu-goods"].poll()) == 1
        state = sb.state()
        assert state["douyin"]["orders_total"] == 30
        assert state["douyin"]["calls"]["order.searchList"] == 1
        assert state["suppliers"]["yiwu-goods"] == {"answered_files": 1, "answers": 1, "bad_rows": 0, "cancelled": 0}
    with pytest.raises(RuntimeError):
        _ = sb.url  # stopped


def test_supplier_spec_parses_the_cli_form():
    assert SupplierSpec.parse("gz:/o:/i:csv:gb18030") == SupplierSpec("gz", "/o", "/i", "csv", "gb18030")
    assert SupplierSpec.parse("gz:/o:/i") == SupplierSpec("gz", "/o", "/i")
    with pytest.raises(ValueError):
        SupplierSpec.parse("gz:/o")


def _first_line(proc: subprocess.Popen, timeout: float) -> str:
    sel = selectors.DefaultSelector()
    assert proc.stdout is not None
    sel.register(proc.stdout, selectors.EVENT_READ)
    assert sel.select(timeout), "no output from the sandbox"
    return proc.stdout.readline().decode()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_prints_one_line_serves_and_exits_cleanly_on_signal(tmp_path, sig):
    outbox, inbox = tmp_path / "out", tmp_path / "in"
    with subprocess.Popen(
        [sys.executable, "-m", "syncd.adapters.sandbox", "serve", "--port", "0", "--orders", "20", "--seed", "1",
         "--fault-rate", "0", "--supplier", f"gz-apparel:{outbox}:{inbox}:csv:gb18030"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as proc:
        try:
            line = _first_line(proc, 30)
            m = re.fullmatch(r"sandbox listening on (http://127\.0\.0\.1:\d+)\n", line)
            assert m, line
            state = httpx.get(m.group(1) + "/douyin/_sandbox/state", timeout=10).json()
            assert state["orders_total"] == 20
            proc.send_signal(sig)
            assert proc.wait(timeout=15) == 0
            assert proc.stdout is not None and proc.stdout.read() == b""
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)

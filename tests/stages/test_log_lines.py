"""What a person reads in the log: each file written or imported is told once, not once per layer."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from pathlib import Path

import pytest

from syncd import clock
from syncd.store.db import Database
from tests.fakes import make_order
from tests.stages.harness import build


def _lines_naming(records: list[logging.LogRecord], name: str) -> list[str]:
    return [r.getMessage() for r in records if r.levelno >= logging.INFO and name in r.getMessage()]


def test_forward_and_collect_given_one_batch_each_name_its_file_in_one_line(db: Database, tmp_path: Path,
                                                                              caplog: pytest.LogCaptureFixture):
    h = build(db, tmp_path)
    h.shop.put(make_order("4201", clock.now() - timedelta(minutes=20)))
    h.shop.put(make_order("4202", clock.now() - timedelta(minutes=19)))
    with caplog.at_level(logging.INFO):
        h.cycle()
        (written,) = [p.name for p in h.outbox("acme").iterdir() if p.is_file()]
        h.reply("acme", "ok.csv", [("4201", "中通", "ZT42010000")])
        h.reply("acme", "bad.csv", [("4202", "中通", "ZT42020000"), ("9999", "中通", "ZT99990000")])
        h.stage("collect")
    assert len(_lines_naming(caplog.records, written)) == 1, caplog.text
    assert len(_lines_naming(caplog.records, "ok.csv")) == 1, caplog.text
    (bad,) = _lines_naming(caplog.records, "bad.csv")
    assert re.search(r"1 rows rejected, see .*bad\.csv\.errors\.csv", bad)

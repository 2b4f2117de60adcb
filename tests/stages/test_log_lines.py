"""What a person reads in the log: each file written or imported is told once, not once per layer."""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta
from pathlib import Path

import pytest

from syncd import clock
from syncd.errors import ReauthorizationRequired
from syncd.logs import ContextFilter, JsonFormatter
from syncd.stages.runner import StageReport, scope
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


class _Lines(logging.Handler):
    """The JSON lines the daemon would write: JsonFormatter behind the context filter, as setup_logging does."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.addFilter(ContextFilter())
        self.lines: list[dict[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def json_lines():
    handler, root = _Lines(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_stage_lines_given_json_logs_carry_the_stage_and_the_shop_supplier_or_order_they_are_about(
        db: Database, tmp_path: Path, json_lines: list[dict[str, str]]):
    h = build(db, tmp_path)
    h.shop.put(make_order("4301", clock.now() - timedelta(minutes=20)))
    h.shop.put(make_order("4302", clock.now() - timedelta(minutes=19), skus=("NO-SUCH-SKU",)))
    h.cycle()
    h.reply("acme", "r.csv", [("4301", "中通", "ZT43010000")])
    h.stage("collect")
    (held,) = [ln for ln in json_lines if " held: " in ln["message"]]
    assert (held["stage"], held["shop"], held["order"]) == ("route", "shop1", "shop1/4302")
    (wrote,) = [ln for ln in json_lines if ln["message"].startswith("supplier acme: wrote ")]
    assert wrote["stage"] == "forward" and wrote["supplier"] == "acme" and "shop" not in wrote
    (imported,) = [ln for ln in json_lines if "'r.csv' imported" in ln["message"]]
    assert imported["stage"] == "collect" and imported["supplier"] == "acme"
    # a line outside any stage carries none of the fields
    logging.getLogger("syncd.test").info("between runs")
    assert not {"stage", "shop", "supplier", "order"} & set(json_lines[-1])


def test_shop_scope_given_a_line_logged_by_an_adapter_inside_it_carries_the_stage_and_shop(
        db: Database, tmp_path: Path, json_lines: list[dict[str, str]]):
    h = build(db, tmp_path)
    report = StageReport("pull")
    with scope(h.rt, report, "shop1", shop="shop1"):
        logging.getLogger("syncd.adapters.douyin").info("token refreshed")
    (line,) = [ln for ln in json_lines if ln["message"] == "token refreshed"]
    assert (line["stage"], line["shop"], line["logger"]) == ("pull", "shop1", "syncd.adapters.douyin")


def test_pull_given_a_shop_that_needs_reauthorising_says_so_in_one_line(db: Database, tmp_path: Path,
                                                                        caplog: pytest.LogCaptureFixture):
    h = build(db, tmp_path)
    h.shop.fail_list.append(ReauthorizationRequired("shop shop1: refresh token expired; authorise the app again"))
    with caplog.at_level(logging.INFO):
        h.stage("pull")
    about = [r for r in caplog.records if r.levelno >= logging.WARNING and "refresh token expired" in r.getMessage()]
    assert len(about) == 1, caplog.text
    assert "paused" in about[0].getMessage()

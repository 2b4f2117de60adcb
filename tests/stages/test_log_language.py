"""Operator-facing log lines follow the configured language (issue 17): the hold edge and the failing edge."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from syncd import clock, i18n
from syncd.store.db import Database
from tests.fakes import make_order, transient
from tests.stages.harness import build


def test_log_lines_given_chinese_tell_the_hold_and_the_failing_edge_in_chinese(db: Database, tmp_path: Path,
                                                                                 caplog: pytest.LogCaptureFixture):
    h = build(db, tmp_path)
    h.shop.put(make_order("901", clock.now() - timedelta(minutes=5), skus=("SKU-NONE",)))
    caplog.set_level(logging.INFO)
    with i18n.use("zh-CN"):
        h.stage("pull")
        h.stage("route")
        h.shop.fail_list.append(transient())
        h.stage("pull")
    lines = [r.getMessage() for r in caplog.records]
    assert "订单 shop1/901 已暂扣：SKU 未配置路由（SKU SKU-NONE 没有配置路由）" in lines
    assert any(line.startswith("pull shop1 出错：") for line in lines)

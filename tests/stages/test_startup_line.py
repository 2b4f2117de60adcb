"""The daemon's one start-up line: what it is, where its configuration and database are, and what it serves."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from syncd.daemon import run_daemon, safe_db_url, startup_line
from syncd.store.db import Database
from tests.stages.harness import build


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://syncd:s3cr3t-pw@db:5432/syncd", "postgresql://syncd:***@db:5432/syncd"),
    ("postgresql+psycopg://syncd@db/syncd?password=s3cr3t-pw&sslmode=require",
     "postgresql+psycopg://syncd@db/syncd?password=***&sslmode=require"),
    ("sqlite:////data/syncd.db", "sqlite:////data/syncd.db"),
    ("not a url s3cr3t-pw", "(a database URL that cannot be parsed)"),
])
def test_safe_db_url_given_a_password_anywhere_shows_everything_but_it(url: str, shown: str):
    assert safe_db_url(url) == shown


def test_startup_line_names_version_config_database_shops_suppliers_and_callbacks(db: Database, tmp_path: Path):
    h = build(db, tmp_path)
    h.rt.settings.database_url = "postgresql://syncd:s3cr3t-pw@db:5432/syncd"
    line = startup_line(h.rt, (8081, ["/callbacks/kuaidi100"]))
    assert line.startswith("syncd 0.1.0 starting: config ")
    assert str(h.rt.settings.config_dir.resolve()) in line
    assert "database postgresql://syncd:***@db:5432/syncd" in line and "s3cr3t-pw" not in line
    assert "1 shop(s) [shop1]" in line and "2 supplier(s) [acme, beta]" in line
    assert line.endswith("callback port 8081 serves /callbacks/kuaidi100")


def test_run_daemon_logs_one_startup_line_at_info(db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture):
    h = build(db, tmp_path)
    with caplog.at_level(logging.INFO, logger="syncd.daemon"):
        run_daemon(h.rt, install_signals=False, until=lambda: True)
    starts = [r for r in caplog.records if r.name == "syncd.daemon" and "starting" in r.getMessage()]
    assert len(starts) == 1 and starts[0].levelno == logging.INFO
    assert starts[0].getMessage() == startup_line(h.rt)

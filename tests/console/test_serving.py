"""The console on the daemon's admin port, and ``syncd console hash-password``."""

from __future__ import annotations

import io

import httpx
import pytest

from syncd.cli import main
from syncd.console.auth import PasswordHash
from syncd.httpd import Listener, Readiness
from syncd.store.db import Database
from tests.console.conftest import PASSWORD, make_console
from tests.console.seed import Seeded


def test_admin_listener_given_the_console_serves_it_beside_health_and_metrics(db: Database, seeded: Seeded):
    listener = Listener(readiness=lambda: Readiness(()), metrics=lambda: "m 1\n",
                        console=make_console(db).app())
    listener.start()
    try:
        with httpx.Client(base_url=listener.url, follow_redirects=False) as c:
            assert c.get("/healthz").text == "ok\n"
            assert c.get("/metrics").text == "m 1\n"
            assert c.get("/").headers["location"].startswith("/login")
            assert c.post("/login", data={"password": PASSWORD}).status_code == 303
            assert "A3" in c.get("/orders").text
        with pytest.raises(ValueError, match="console serves every path"):
            listener.register("POST", "/callbacks/x", lambda *a: (200, {}, b""))
    finally:
        listener.stop()


def test_hash_password_given_a_password_on_stdin_prints_a_hash_that_verifies(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("a long passphrase\n"))
    assert main(["console", "hash-password"]) == 0
    out = capsys.readouterr().out.strip()
    assert "a long passphrase" not in out
    assert PasswordHash.parse(out).verify("a long passphrase")


def test_hash_password_given_a_short_password_refuses_and_prints_no_hash(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["console", "hash-password"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "8 to 1024 bytes" in captured.err


def test_time_pages_given_a_database_renders_every_page_and_reports_times(db: Database, seeded: Seeded):
    from syncd.console.bench import time_pages

    result = time_pages(db.engine, repeat=1)
    assert {"overview", "orders", "order_detail", "search_tracking", "alerts", "suppliers"} <= set(result)
    assert {r["status"] for r in result.values()} == {200}
    assert result["order_detail"]["path"] == f"/orders/{seeded.fresh}"
    assert all(r["best_ms"] > 0 for r in result.values())


def test_demo_console_hint_given_a_folder_prints_a_password_whose_hash_it_stored(tmp_path):
    import re

    from syncd.demo import console_hint

    text = console_hint(tmp_path)
    password = re.search(r"one-time password (\S+)", text).group(1)
    env = (tmp_path / "console.env").read_text()
    assert password not in env and (tmp_path / "console.env").stat().st_mode & 0o077 == 0
    assert PasswordHash.parse(env.split("=", 1)[1]).verify(password)
    assert "env $(cat console.env) syncd --config config run" in text and "http://127.0.0.1:8080/" in text

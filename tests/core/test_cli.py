"""The command line as an operator uses it (in-process, against a SQLite database)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

from syncd.cli import EXIT_CHECK_FAILED, EXIT_NOT_FOUND, EXIT_REFUSED, EXIT_STAGE_FAILED, main
from syncd.store.db import open_database
from syncd.store.models import ExportBatch, Order


def test_check_config_given_a_valid_directory_says_ok(env: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["check-config"]) == 0
    assert "OK — 3 shop(s), 4 supplier(s)" in capsys.readouterr().out


def test_check_config_given_errors_prints_each_as_file_key_message_and_exits_6(env: Path, capsys):
    (env / "syncd.yaml").write_text("intervals:\n  pul: 5\nbatch_size: 0\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        main(["check-config"])
    assert exc.value.code == EXIT_CHECK_FAILED
    err = capsys.readouterr().err.splitlines()
    assert "syncd.yaml: intervals.pul: unknown key (typo?); did you mean 'pull'?" in err
    assert any(line.startswith("syncd.yaml: batch_size: ") for line in err)
    assert err[-1].startswith("2 configuration problem(s)")


def test_check_config_given_another_directory_by_flag_reads_that_one(env: Path, tmp_path: Path, capsys):
    with pytest.raises(SystemExit):
        main(["--config", str(tmp_path / "nowhere"), "check-config"])
    assert "config directory does not exist" in capsys.readouterr().err


def test_health_given_no_stage_ran_yet_is_unhealthy(env: Path, capsys):
    assert main(["db", "upgrade"]) == 0
    assert main(["health"]) == EXIT_CHECK_FAILED
    assert "no stage has run yet" in capsys.readouterr().err


@contextmanager
def _daemon(tmp_path: Path) -> Iterator[None]:
    """A daemon's lock on the test database, as ``syncd run`` holds it."""
    from syncd.store.db import DaemonLock

    lock = DaemonLock(f"sqlite:///{(tmp_path / 'data' / 'syncd.db').resolve()}")
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _seed(tmp_path: Path) -> int:
    from syncd import clock
    from syncd.store.orders import upsert_orders
    from tests.fakes import make_order

    db = open_database(f"sqlite:///{(tmp_path / 'data' / 'syncd.db').resolve()}")
    with db.begin() as s:
        upsert_orders(s, "douyin-demo", [make_order("6917000000000000001", clock.now())], clock.now())
    with db.begin() as s:
        oid = s.scalar(select(Order.id))
    db.dispose()
    return int(oid)


def test_orders_hold_show_release_move_the_order_and_report_it(env: Path, tmp_path: Path, capsys):
    main(["db", "upgrade"])
    _seed(tmp_path)
    assert main(["orders", "hold", "6917000000000000001", "--reason", "buyer called"]) == 0
    capsys.readouterr()
    assert main(["orders", "show", "douyin-demo/6917000000000000001", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["state"], shown["hold_reason"]) == ("held", "manual")
    assert shown["receiver"]["phone"] == "138****0000"
    assert main(["orders", "release", "#1"]) == 0
    assert "released → new" in capsys.readouterr().out
    assert main(["orders", "release", "#1"]) == EXIT_REFUSED
    assert main(["orders", "show", "404"]) == EXIT_NOT_FOUND


def test_status_json_counts_orders_and_holds(env: Path, tmp_path: Path, capsys):
    main(["db", "upgrade"])
    _seed(tmp_path)
    main(["orders", "hold", "6917000000000000001", "--reason", "x"])
    capsys.readouterr()
    assert main(["status", "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["orders"] == [{"shop": "douyin-demo", "state": "held", "orders": 1}]
    assert st["holds"] == [{"reason": "manual", "orders": 1}]
    assert main(["status"]) == 0
    assert "manual" in capsys.readouterr().out


def test_suppliers_reexport_given_an_unknown_batch_says_so(env: Path, capsys):
    main(["db", "upgrade"])
    assert main(["suppliers", "reexport", "99"]) == EXIT_NOT_FOUND
    assert "there is no batch 99" in capsys.readouterr().err


def test_once_given_an_unreachable_shop_runs_every_stage_and_exits_7(env: Path, tmp_path: Path, capsys):
    (env / "syncd.yaml").write_text(
        "retry: {attempts: 1, max_seconds: 1, initial_wait: 0, max_wait: 0}\nhttp: {timeout_seconds: 2}\n",
        encoding="utf-8",
    )
    assert main(["once"]) == EXIT_STAGE_FAILED
    out = capsys.readouterr().out
    assert "pull" in out and "FAILED" in out and "writeback" in out
    assert main(["health"]) == EXIT_CHECK_FAILED  # the stages ran (and failed), but no daemon runs now
    assert "no syncd daemon runs on this database" in capsys.readouterr().err
    db = open_database(f"sqlite:///{(tmp_path / 'data' / 'syncd.db').resolve()}")
    with db.begin() as s:
        assert s.scalar(select(ExportBatch.id)) is None
    db.dispose()


def test_parse_local_time_reads_a_sellers_date_as_asia_shanghai():
    from datetime import UTC, datetime

    from syncd.cli import parse_local_time

    assert parse_local_time("2026-11-22") == datetime(2026, 11, 21, 16, 0, tzinfo=UTC)
    assert parse_local_time("2026-11-22 08:30") == datetime(2026, 11, 22, 0, 30, tzinfo=UTC)
    import argparse

    with pytest.raises(argparse.ArgumentTypeError):
        parse_local_time("22/11/2026")


def test_shops_resync_given_an_unknown_shop_or_backwards_range_says_so(env: Path, capsys):
    main(["db", "upgrade"])
    assert main(["shops", "resync", "nope", "--from", "2026-11-01"]) == EXIT_NOT_FOUND
    assert "no enabled shop 'nope'" in capsys.readouterr().err
    assert main(["shops", "resync", "douyin-demo", "--from", "2026-11-20", "--to", "2026-11-19"]) == 2
    assert "--to must be after --from" in capsys.readouterr().err


def test_health_given_stages_quiet_for_20_minutes_is_unhealthy_whatever_the_daily_sweep(env: Path, tmp_path: Path,
                                                                                         capsys):
    from datetime import timedelta

    import time_machine

    from syncd import clock

    (env / "syncd.yaml").write_text("retry: {attempts: 1, max_seconds: 1, initial_wait: 0, max_wait: 0}\n"
                                    "http: {timeout_seconds: 2}\n", encoding="utf-8")
    main(["once"])
    with _daemon(tmp_path):
        assert main(["health"]) == 0
        with time_machine.travel(clock.now() + timedelta(minutes=20)):
            assert main(["health"]) == EXIT_CHECK_FAILED
    assert "no stage ran for" in capsys.readouterr().err


def _open_alert(tmp_path: Path) -> int:
    from sqlalchemy import insert

    from syncd import clock
    from syncd.store.models import Alert

    db = open_database(f"sqlite:///{(tmp_path / 'data' / 'syncd.db').resolve()}")
    now = clock.now()
    with db.begin() as s:
        alert_id = int(s.execute(insert(Alert).returning(Alert.id), [
            {"rule": "no_pickup", "subject": "shipment:7", "open": True, "severity": "critical",
             "title": "No pickup scan: parcel 中通 7301 of order 1 (shop douyin-demo)", "detail": "ask the supplier",
             "shop_id": "douyin-demo", "opened_at": now, "last_seen_at": now}]).scalar_one())
    db.dispose()
    return alert_id


def test_alerts_lists_open_ones_and_ack_silences_one(env: Path, tmp_path: Path, capsys):
    assert main(["alerts"]) == 0
    assert "no open alert" in capsys.readouterr().out
    alert_id = _open_alert(tmp_path)
    assert main(["alerts", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(a["id"], a["rule"], a["acked_at"]) for a in listed] == [(alert_id, "no_pickup", None)]
    assert main(["alerts", "ack", str(alert_id), "--by", "xiaowang"]) == 0
    assert f"alert #{alert_id} acknowledged" in capsys.readouterr().out
    assert main(["alerts", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["acked_by"] == "xiaowang"
    assert main(["alerts", "ack", "999"]) == EXIT_NOT_FOUND
    assert "no alert #999" in capsys.readouterr().err


def test_alerts_test_sends_to_the_channel_and_names_an_unknown_one(env: Path, capsys):
    import httpx
    import respx

    with respx.mock(assert_all_called=True, assert_all_mocked=True) as mock:
        robot = mock.post(url__startswith="http://127.0.0.1:9/robots/dingtalk/robot/send").mock(
            return_value=httpx.Response(200, json={"errcode": 0, "errmsg": "ok"}))
        assert main(["alerts", "test", "sandbox-dingtalk"]) == 0
    assert "test message delivered to sandbox-dingtalk (dingtalk)" in capsys.readouterr().out
    assert robot.call_count == 1 and "syncd test message" in robot.calls[0].request.content.decode()
    assert main(["alerts", "test", "nope"]) == EXIT_NOT_FOUND
    assert "no alert channel 'nope'" in capsys.readouterr().err


def test_alerts_test_given_the_robots_own_error_code_fails_with_its_words(env: Path, capsys):
    import httpx
    import respx

    with respx.mock(assert_all_called=True, assert_all_mocked=True) as mock:
        mock.post(url__startswith="http://127.0.0.1:9/robots/dingtalk/robot/send").mock(
            return_value=httpx.Response(200, json={"errcode": 310000, "errmsg": "sign not match"}))
        assert main(["alerts", "test", "sandbox-dingtalk"]) == EXIT_REFUSED
    err = capsys.readouterr().err
    assert "310000" in err and "SECsandbox" not in err


def test_orders_manual_actions_are_audited_with_the_os_user_and_the_reason(env: Path, tmp_path: Path, capsys,
                                                                         monkeypatch: pytest.MonkeyPatch):
    from syncd.store.models import AuditEntry

    monkeypatch.setattr("getpass.getuser", lambda: "xiaowang")
    main(["db", "upgrade"])
    _seed(tmp_path)
    assert main(["orders", "hold", "#1", "--reason", "buyer called"]) == 0
    assert main(["orders", "release", "#1", "--by", "li", "--why", "buyer confirmed"]) == 0
    assert main(["orders", "confirm-cod", "#1"]) == EXIT_REFUSED
    assert "not cash on delivery" in capsys.readouterr().err
    db = open_database(f"sqlite:///{(tmp_path / 'data' / 'syncd.db').resolve()}")
    with db.begin() as s:
        rows = [(a.actor, a.action, a.detail) for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    db.dispose()
    assert [(actor, action) for actor, action, _ in rows] == [("xiaowang", "hold"), ("li", "release")]
    assert "why: buyer called" in rows[0][2] and "why: buyer confirmed" in rows[1][2]
    capsys.readouterr()
    assert main(["orders", "show", "#1", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(a["by"], a["action"]) for a in shown["audit"]] == [("xiaowang", "hold"), ("li", "release")]


def test_alerts_ack_given_an_alert_acknowledged_already_refuses_and_audits_the_first(env: Path, tmp_path: Path,
                                                                                     capsys):
    from syncd.store.models import AuditEntry

    main(["db", "upgrade"])
    alert_id = _open_alert(tmp_path)
    assert main(["alerts", "ack", str(alert_id), "--by", "li", "--reason", "supplier is on it"]) == 0
    assert main(["alerts", "ack", str(alert_id), "--by", "wang"]) == EXIT_REFUSED
    assert "acknowledged already by li" in capsys.readouterr().err
    db = open_database(f"sqlite:///{(tmp_path / 'data' / 'syncd.db').resolve()}")
    with db.begin() as s:
        ((actor, action, detail),) = s.execute(select(AuditEntry.actor, AuditEntry.action, AuditEntry.detail))
    db.dispose()
    assert (actor, action) == ("li", "ack_alert") and "supplier is on it" in detail

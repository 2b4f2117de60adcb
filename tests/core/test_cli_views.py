"""The operator's views (orders list, orders show, health) and the command line's shape (options, exit codes)."""

from __future__ import annotations

import argparse
import json
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine

from syncd import clock
from syncd.cli import (
    EXIT_CHECK_FAILED,
    EXIT_CODES,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    build_parser,
    main,
)
from syncd.store.db import Database, open_database
from syncd.store.models import AuditEntry, Hold, Order, Shipment, StageRun, SupplierOrder
from tests.core.test_cli import _daemon

NOW = clock.now().replace(microsecond=0)


def _db(tmp_path: Path) -> Database:
    return open_database(f"sqlite:///{(tmp_path / 'data' / 'syncd.db').resolve()}")


def _seed(tmp_path: Path) -> dict[str, int]:
    """Three orders of douyin-demo: one placed at 1688 with a parcel (ship-by in 2 h), one held for an unmapped
    SKU (ship-by passed), one new seen two days ago; and audit rows in the three spellings of the past."""
    from syncd.store.orders import upsert_orders
    from tests.fakes import make_order

    assert main(["db", "upgrade"]) == 0
    db = _db(tmp_path)
    with db.begin() as s:
        upsert_orders(s, "douyin-demo", [make_order("P1", NOW), make_order("H2", NOW), make_order("N3", NOW)], NOW)
    with db.begin() as s:
        ids = {o.platform_order_id: o.id for o in s.query(Order)}
        placed, held, new = (s.get(Order, ids[k]) for k in ("P1", "H2", "N3"))
        assert placed and held and new
        placed.state, placed.ship_by = "placed", NOW + timedelta(hours=2)
        held.state, held.hold_reason, held.ship_by = "held", "unmapped_sku", NOW - timedelta(hours=1)
        s.add(Hold(order_id=held.id, reason="unmapped_sku", detail="no route for SKU-A", auto=True, created_at=NOW))
        new.first_seen_at = NOW - timedelta(days=2)
        so = SupplierOrder(order_id=placed.id, supplier_id="sandbox-1688", idempotency_key="k-P1", kind="normal",
                           lines=[{"supplier_sku": "1688-SKU-A", "quantity": 2, "merchant_sku": "SKU-A"}],
                           state="placed", supplier_ref="2938475610001", placed_at=NOW, paid=False, attempts=1,
                           cancel_state="none", created_at=NOW, updated_at=NOW)
        s.add(so)
        s.flush()
        s.add(Shipment(order_id=placed.id, supplier_order_id=so.id, carrier="zto", tracking_no="73100000001",
                       writeback_state="uploaded", logistics_state="in_transit", picked_up_at=NOW, created_at=NOW))
        for subject, action in (("douyin-demo/P1", "place_order"), ("order P1", "upload_tracking"),
                                ("order douyin-demo/P1", "hold"), ("2938475610001", "pay_order"),
                                ("order other-shop/P1", "hold")):
            s.add(AuditEntry(at=NOW, system="x", action=action, subject=subject, outcome="ok", detail="", actor="a"))
    db.dispose()
    return ids


def _listed(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    capsys.readouterr()
    assert main(["orders", "list", "--json", *argv]) == EXIT_OK
    return [r["order"] for r in json.loads(capsys.readouterr().out)]


def test_orders_list_given_each_filter_lists_only_the_matching_orders(env: Path, tmp_path: Path, capsys):
    _seed(tmp_path)
    assert _listed(capsys) == ["N3", "H2", "P1"]
    assert _listed(capsys, "--state", "held") == ["H2"]
    assert _listed(capsys, "--hold-reason", "unmapped_sku") == ["H2"]
    assert _listed(capsys, "--shop", "pdd-demo") == []
    assert _listed(capsys, "--supplier", "sandbox-1688") == ["P1"]
    assert _listed(capsys, "--since", clock.local_text(NOW - timedelta(hours=1))) == ["H2", "P1"]
    assert _listed(capsys, "--late") == ["H2", "P1"]  # past, then due within 12 h; N3 has two days left
    assert _listed(capsys, "--late", "1") == ["H2"]
    assert _listed(capsys, "--limit", "1") == ["N3"]


def test_orders_list_prints_a_table_with_beijing_times_and_marks_late_orders(env: Path, tmp_path: Path, capsys):
    _seed(tmp_path)
    capsys.readouterr()
    assert main(["orders", "list", "--state", "held"]) == EXIT_OK
    header, _rule, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["#", "shop", "order", "state", "hold", "paid", "ship", "by", "suppliers", "goods",
                              "why"]
    assert "unmapped_sku" in row and "LATE" in row and "商品SKU-A" in row
    assert row.endswith("no route for SKU-A")  # which SKU, without opening the order
    assert clock.local_text(NOW - timedelta(hours=1)) in row  # ship-by in Beijing time, to the second
    assert "+00:00" not in row and "T" not in row.split()[5]


def test_orders_list_given_no_match_says_so(env: Path, tmp_path: Path, capsys):
    _seed(tmp_path)
    capsys.readouterr()
    assert main(["orders", "list", "--shop", "nope"]) == EXIT_OK
    assert capsys.readouterr().out.strip() == "no order matches"


def test_orders_show_reads_the_whole_audit_trail_of_the_order_whatever_its_spelling(env: Path, tmp_path: Path,
                                                                                   capsys):
    _seed(tmp_path)
    capsys.readouterr()
    assert main(["orders", "show", "douyin-demo/P1", "--json"]) == EXIT_OK
    shown = json.loads(capsys.readouterr().out)
    # SHOP/ID of the supplier stages, "order ID" of the write-back, "order SHOP/ID", and the 1688 payment;
    # never another shop's order of the same number
    assert [a["action"] for a in shown["audit"]] == ["place_order", "upload_tracking", "hold", "pay_order"]
    assert shown["supplier_orders"][0]["supplier_order"] == "2938475610001"
    assert shown["shipments"][0]["logistics"] == "in_transit"


def test_orders_show_prints_a_readable_order_by_default(env: Path, tmp_path: Path, capsys):
    _seed(tmp_path)
    capsys.readouterr()
    assert main(["orders", "show", "douyin-demo/P1"]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith("order douyin-demo/P1")
    assert "2938475610001" in out  # the supplier's own order number
    assert "73100000001" in out and "in_transit" in out and "zto" in out
    assert "张*" in out and "138****0000" in out and "#P#" not in out  # masked, never the sealed value
    assert "audit trail:" in out and "pay_order" in out
    assert clock.local_text(NOW) in out and NOW.isoformat() not in out


def test_orders_show_given_an_unknown_order_exits_not_found(env: Path, tmp_path: Path, capsys):
    _seed(tmp_path)
    assert main(["orders", "show", "nope"]) == EXIT_NOT_FOUND


def test_stage_audit_rows_name_the_order_as_the_manual_actions_do():
    from syncd.store.audit import order_subject, order_subjects

    assert order_subject("douyin-demo", "P1") == "order douyin-demo/P1"
    assert order_subjects("douyin-demo", "P1")[0] == order_subject("douyin-demo", "P1")


def _ran(tmp_path: Path, *, failures: int, since: timedelta) -> None:
    db = _db(tmp_path)
    with db.begin() as s:
        s.add(StageRun(stage="pull", scope="douyin-demo", last_started_at=NOW, last_success_at=NOW - since,
                       last_error_at=NOW, last_error="TransientError: shop down", consecutive_failures=failures))
    db.dispose()


def test_health_given_no_daemon_running_is_unhealthy_though_a_stage_ran_just_now(env: Path, tmp_path: Path,
                                                                                  capsys):
    main(["db", "upgrade"])
    _ran(tmp_path, failures=0, since=timedelta(0))
    with time_machine.travel(NOW):
        with _daemon(tmp_path):
            assert main(["health"]) == EXIT_OK
        assert "healthy: running" in capsys.readouterr().out
        assert main(["health"]) == EXIT_CHECK_FAILED
    assert "no syncd daemon runs on this database" in capsys.readouterr().err


def test_health_given_a_stage_failing_past_its_limit_is_unhealthy_and_names_it(env: Path, tmp_path: Path, capsys):
    main(["db", "upgrade"])
    _ran(tmp_path, failures=12, since=timedelta(minutes=12))
    capsys.readouterr()
    with time_machine.travel(NOW), _daemon(tmp_path):
        assert main(["health", "--json"]) == EXIT_CHECK_FAILED
    answer = json.loads(capsys.readouterr().out)
    assert answer["failed"] == ["stage_failing"]
    assert "pull douyin-demo failing for 720 s" in json.dumps(answer)


def test_config_and_json_are_accepted_after_the_subcommand_too(env: Path, tmp_path: Path, capsys):
    _seed(tmp_path)
    capsys.readouterr()
    assert main(["status", "--json", "--config", str(env)]) == EXIT_OK
    assert {"shop": "douyin-demo", "state": "held", "orders": 1} in json.loads(capsys.readouterr().out)["orders"]
    assert main(["--json", "orders", "show", "#1"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["order"] == "P1"
    args = build_parser().parse_args(["--config", "a", "orders", "list", "--config", "b"])
    assert args.config == "b"  # the later one wins, as with any repeated option
    assert build_parser().parse_args(["--config", "a", "orders", "list"]).config == "a"


def test_json_given_to_a_command_without_a_json_form_is_a_usage_error(env: Path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--json", "db", "upgrade"])
    assert exc.value.code == EXIT_USAGE
    assert "db upgrade has no --json form" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["alerts", "--json", "ack", "1"])  # `alerts` lists as JSON; `alerts ack` does not
    assert exc.value.code == EXIT_USAGE
    assert "alerts ack has no --json form" in capsys.readouterr().err


def _parsers(p: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    out = [p]
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                out += _parsers(sub)
    return out


def test_every_option_and_argument_of_every_command_has_help_text():
    missing = [f"{p.prog}: {a.dest}" for p in _parsers(build_parser()) for a in p._actions
               if not a.help and not isinstance(a, argparse._SubParsersAction)]
    assert missing == []


def test_help_lists_every_exit_code_and_the_codes_differ(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "exit codes:" in out
    for code, text in EXIT_CODES.items():
        assert f"  {code}  {text}" in out
    assert len(set(EXIT_CODES)) == len(EXIT_CODES) == 9


def test_refusals_a_person_reads_give_beijing_time_to_the_second(env: Path, tmp_path: Path, capsys):
    from tests.core.test_cli import _open_alert

    main(["db", "upgrade"])
    alert_id = _open_alert(tmp_path)
    with time_machine.travel(NOW, tick=False):
        assert main(["alerts", "ack", str(alert_id), "--by", "li"]) == EXIT_OK
        capsys.readouterr()
        assert main(["alerts", "ack", str(alert_id), "--by", "wang"]) == EXIT_REFUSED
    err = capsys.readouterr().err
    assert f"acknowledged already by li at {clock.local_text(NOW)};" in err and "+00:00" not in err


def test_parsed_arguments_carry_config_and_json_whichever_side_they_are_on():
    args = build_parser().parse_args(["orders", "list"])
    assert (args.config, args.json) == (None, False)
    assert build_parser().parse_args(["orders", "show", "#1", "--json"]).json is True
    assert build_parser().parse_args(["--json", "orders", "show", "#1"]).json is True


def test_status_given_a_broken_configuration_still_answers_from_the_database(env: Path, tmp_path: Path, capsys):
    _seed(tmp_path)
    (env / "syncd.yaml").write_text("batch_size: 0\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["status"]) == EXIT_OK
    assert "held" in capsys.readouterr().out


def test_suppliers_unpaid_prints_a_table_with_the_suppliers_order_number_and_beijing_time(env: Path, tmp_path: Path,
                                                                                         capsys):
    _seed(tmp_path)
    capsys.readouterr()
    assert main(["suppliers", "unpaid"]) == EXIT_OK
    header, _rule, row = capsys.readouterr().out.splitlines()
    assert header.split()[:2] == ["supplier", "supplier"]
    assert row.split()[:3] == ["sandbox-1688", "2938475610001", "douyin-demo/P1"]
    assert clock.local_text(NOW) in row


def test_orders_views_given_chinese_show_why_an_order_is_held_in_chinese(env: Path, tmp_path: Path, capsys,
                                                                         monkeypatch):
    ids = _seed(tmp_path)
    db = _db(tmp_path)
    with db.begin() as s:
        held = s.get(Order, ids["H2"])
        assert held is not None
        s.add(Hold(order_id=held.id, reason="address_incomplete", auto=True, created_at=NOW,
                   detail="after decryption: receiver lacks phone, street address"))
        s.query(Hold).filter(Hold.reason == "unmapped_sku").update({"released_at": NOW})
    db.dispose()
    monkeypatch.setenv("SYNCD_LANG", "zh-CN")
    capsys.readouterr()
    assert main(["orders", "list", "--state", "held"]) == EXIT_OK
    listed = capsys.readouterr().out
    assert "解密后发现：收件信息缺少收件人电话" in listed  # the column is clipped at 40 columns
    assert main(["orders", "show", "H2"]) == EXIT_OK
    assert "解密后发现：收件信息缺少收件人电话、详细地址" in capsys.readouterr().out
    assert main(["orders", "list", "--state", "held", "--json"]) == EXIT_OK
    assert "after decryption: receiver lacks phone, street address" in capsys.readouterr().out  # JSON: as stored


def test_health_given_chinese_says_why_in_chinese(env: Path, tmp_path: Path, capsys, monkeypatch):
    main(["db", "upgrade"])
    _ran(tmp_path, failures=0, since=timedelta(0))
    monkeypatch.setenv("SYNCD_LANG", "zh-CN")
    capsys.readouterr()
    with time_machine.travel(NOW):
        assert main(["health"]) == EXIT_CHECK_FAILED
    assert "这个数据库上没有 syncd 常驻进程在运行" in capsys.readouterr().err

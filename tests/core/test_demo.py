"""``syncd demo``: what it leaves behind and how it reports (the live run itself is the e2e suite's business)."""

from __future__ import annotations

import argparse
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from syncd import demo
from syncd.sandboxrun import Progress


class _Sandbox:
    def __init__(self, **_: Any) -> None:
        pass

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


def _fake_run(seen: list[Path]) -> Any:
    def run(args: argparse.Namespace, root: Path, data_dir: Path, sandbox: Any) -> int:
        data_dir.mkdir(parents=True)
        (data_dir / "syncd.db").write_bytes(b"")
        seen.append(root)
        return 0
    return run


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    roots: list[Path] = []
    fake = SimpleNamespace(SupplierSpec=lambda *a: a, Sandbox=_Sandbox)
    monkeypatch.setattr(demo.importlib, "import_module", lambda name: fake)
    monkeypatch.setattr(demo, "_run", _fake_run(roots))
    return roots


def test_demo_without_keep_deletes_its_folder(seen: list[Path], capsys: pytest.CaptureFixture[str]):
    assert demo.main(argparse.Namespace(orders=1, seconds=1, keep=False)) == 0
    assert not seen[0].exists()
    assert "syncd --config config" not in capsys.readouterr().out


def test_demo_with_keep_leaves_its_folder_and_prints_the_commands_to_look_around(seen: list[Path], capsys):
    assert demo.main(argparse.Namespace(orders=1, seconds=1, keep=True)) == 0
    root = seen[0]
    try:
        assert (root / "var" / "syncd.db").exists()  # where `syncd --config config` run in root looks
        out = capsys.readouterr().out
        assert f"cd {root}" in out
        for command in ("status", "orders list", "alerts"):
            assert f"syncd --config config {command}" in out
    finally:
        import shutil

        shutil.rmtree(root)


def test_demo_progress_counts_orders_and_labels_parcels_as_parcels():
    line = demo.progress_line(Progress(total=300, new=0, routed=1, placed=2, shipped=290, held=5, cancelled=2,
                                       tracking=310, uploaded=305))
    orders, parcels = line.split("||")
    assert orders.startswith("orders    300") and "310" not in orders
    assert parcels.strip() == "parcels: with tracking   310, on the storefront   305"


def test_demo_call_counts_are_a_table_one_api_per_line_most_called_first():
    out = demo.calls_table({("pdd", "pdd.order.list.get"): 3, ("1688", "alibaba.trade.get.buyerView"): 12})
    lines = out.splitlines()
    assert len(lines) == 4
    assert lines[2].split() == ["1688", "alibaba.trade.get.buyerView", "12"]
    assert lines[3].split() == ["pdd", "pdd.order.list.get", "3"]


def test_look_around_given_chinese_reads_chinese_and_keeps_the_commands(tmp_path: Path):
    from syncd import i18n

    with i18n.use("zh-CN"):
        text = demo.look_around(tmp_path)
    assert "演示数据保留在" in text and "Look around" not in text
    assert "syncd --config config orders list --state held" in text
    assert "被拒的行" in text

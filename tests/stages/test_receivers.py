"""Receivers for the suppliers: a shop's decrypt calls filled with its other routed orders, kept in memory briefly."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import time_machine
from sqlalchemy import select

from syncd import clock
from syncd.domain import Receiver, ReceiverRef
from syncd.receivers import KEPT_FOR
from syncd.store.db import Database
from syncd.store.models import Order
from tests.fakes import make_order
from tests.stages.harness import Harness, build


def _routed(db: Database, tmp_path: Path, pids: Sequence[str], *, per_call: int | None = 4,
            skus: Sequence[str] = ("SKU-A",)) -> tuple[Harness, list[list[str]]]:
    """Orders ``pids`` pulled and routed; the storefront takes ``per_call`` orders a decrypt call and records each."""
    h = build(db, tmp_path)
    for pid in pids:
        h.shop.put(make_order(pid, clock.now() - timedelta(minutes=5), skus=skus))
    h.stage("pull")
    h.stage("route")
    calls: list[list[str]] = []
    real = h.shop.decrypt

    def decrypt(refs: Sequence[tuple[str, ReceiverRef]]) -> dict[str, Receiver | str]:
        calls.append([pid for pid, _ in refs])
        return real(refs)

    h.shop.decrypt = decrypt  # type: ignore[method-assign]
    if per_call is not None:
        h.shop.decrypt_orders_per_call = per_call  # type: ignore[attr-defined]
    return h, calls


def _orders(db: Database, *pids: str) -> list[Order]:
    with db.read() as s:
        by_pid = {o.platform_order_id: o for o in s.scalars(select(Order))}
    return [by_pid[p] for p in pids]


def test_decrypt_fills_the_call_with_the_shops_newest_routed_orders_and_later_runs_find_theirs_kept(
        db: Database, tmp_path: Path) -> None:
    h, calls = _routed(db, tmp_path, ["101", "102", "103", "104", "105", "106"])

    first = h.rt.receivers.decrypt(h.rt, _orders(db, "101"))
    later = h.rt.receivers.decrypt(h.rt, _orders(db, "105", "106", "104"))
    rest = h.rt.receivers.decrypt(h.rt, _orders(db, "102", "103"))

    assert calls == [["101", "106", "105", "104"], ["102", "103"]]  # no call added, none asked twice
    assert all(isinstance(r, Receiver) for got in (first, later, rest) for r in got.values())
    assert [r.detail for r in later.values()] == ["幸福路105号", "幸福路106号", "幸福路104号"]


def test_decrypt_given_an_order_split_between_two_suppliers_asks_once_for_both_exports(
        db: Database, tmp_path: Path) -> None:
    h, calls = _routed(db, tmp_path, ["201"], skus=("SKU-A", "SKU-B"))  # acme and beta each get a line

    h.stage("forward")

    assert {r["订单号"] for r in h.exported_rows("acme")} == {r["订单号"] for r in h.exported_rows("beta")} == {"201"}
    assert calls == [["201"]]


def test_decrypt_given_an_address_changed_since_decrypts_it_again(db: Database, tmp_path: Path) -> None:
    h, calls = _routed(db, tmp_path, ["301"])
    h.rt.receivers.decrypt(h.rt, _orders(db, "301"))
    with db.begin() as s:
        order = s.scalars(select(Order)).one()
        order.receiver = {**order.receiver, "address_cipher": "#A#301-new"}

    h.rt.receivers.decrypt(h.rt, _orders(db, "301"))

    assert calls == [["301"], ["301"]]


def test_decrypt_keeps_a_receiver_for_a_while_only(db: Database, tmp_path: Path) -> None:
    h, calls = _routed(db, tmp_path, ["401"])
    h.rt.receivers.decrypt(h.rt, _orders(db, "401"))
    with time_machine.travel(clock.now() + KEPT_FOR - timedelta(seconds=1), tick=False):
        h.rt.receivers.decrypt(h.rt, _orders(db, "401"))
    with time_machine.travel(clock.now() + KEPT_FOR, tick=False):
        h.rt.receivers.decrypt(h.rt, _orders(db, "401"))

    assert calls == [["401"], ["401"]]


def test_decrypt_keeps_no_failure(db: Database, tmp_path: Path) -> None:
    h, calls = _routed(db, tmp_path, ["501"])
    real = h.shop.decrypt

    def refusing_once(refs: Sequence[tuple[str, ReceiverRef]]) -> dict[str, Receiver | str]:
        got = real(refs)
        return {pid: "decrypt refused: 风控" for pid in got} if len(calls) == 1 else got

    h.shop.decrypt = refusing_once  # type: ignore[method-assign]

    assert list(h.rt.receivers.decrypt(h.rt, _orders(db, "501")).values()) == ["decrypt refused: 风控"]
    assert isinstance(next(iter(h.rt.receivers.decrypt(h.rt, _orders(db, "501")).values())), Receiver)
    assert calls == [["501"], ["501"]]


def test_decrypt_given_an_adapter_that_does_not_say_what_a_call_takes_adds_no_order(
        db: Database, tmp_path: Path) -> None:
    h, calls = _routed(db, tmp_path, ["601", "602"], per_call=None)

    h.rt.receivers.decrypt(h.rt, _orders(db, "601"))

    assert calls == [["601"]]


def test_decrypt_fills_the_call_from_older_routed_orders_when_the_newest_are_kept_already(
        db: Database, tmp_path: Path) -> None:
    pids = [str(n) for n in range(701, 713)]
    h, calls = _routed(db, tmp_path, pids, per_call=2)
    h.rt.receivers.decrypt(h.rt, _orders(db, *pids[3:]))  # 704..712, and 703 to fill the last call

    h.rt.receivers.decrypt(h.rt, _orders(db, "701"))

    assert calls == [[*pids[3:], "703"], ["701", "702"]]


def test_by_shop_given_one_shop_answering_slowly_hands_over_the_other_shops_orders_first(
        db: Database, tmp_path: Path) -> None:
    """A supplier's batch of orders from several shops: each shop's receivers come as its decryption answers, the
    slow shop's calls going on beside the others' — a shop whose API takes seconds holds up only its own orders."""
    import threading

    h, _ = _routed(db, tmp_path, ["401", "402", "403"])
    with db.begin() as s:
        first = s.scalars(select(Order).where(Order.platform_order_id == "401")).one()
        shop = first.shop_id
        first.shop_id = "slow-shop"
    answered = threading.Event()
    real = h.shop

    class SlowShop:
        decrypt_orders_per_call = 1

        def decrypt(self, refs: Sequence[tuple[str, ReceiverRef]]) -> dict[str, Receiver | str]:
            assert answered.wait(10), "the other shop's receivers were not handed over while this one was out"
            return real.decrypt(refs)

    h.rt.storefronts["slow-shop"] = SlowShop()  # type: ignore[assignment]
    got = []
    for shop_id, orders, answer in h.rt.receivers.by_shop(h.rt, _orders(db, "401", "402", "403"),
                                                          name="decrypt-test-slow"):
        got.append((shop_id, sorted(o.platform_order_id for o in orders), isinstance(answer, dict)))
        answered.set()  # the slow shop answers once another shop's orders were handed over
    assert got == [(shop, ["402", "403"], True), ("slow-shop", ["401"], True)]


def test_by_shop_given_a_claim_spread_over_eight_shops_answering_slowly_asks_them_all_at_once(
        db: Database, tmp_path: Path) -> None:
    """An agency's supplier claim holds orders of many shops, each needing its own decrypt call: with answers of
    0.25 s, four shops at a time kept a claim of 25 orders waiting over a second for its receivers (the fifty-shop
    replica bench: the wait for receivers was 40% of the placing thread's time). Eight go at once."""
    import threading

    pids = [str(n) for n in range(501, 509)]
    h, _ = _routed(db, tmp_path, pids, per_call=None)
    with db.begin() as s:
        for i, o in enumerate(s.scalars(select(Order).where(Order.platform_order_id.in_(pids)))):
            o.shop_id = f"shop-{i}"
    together = threading.Barrier(8, timeout=10)
    real = h.shop

    class SlowShop:
        decrypt_orders_per_call = 1

        def decrypt(self, refs: Sequence[tuple[str, ReceiverRef]]) -> dict[str, Receiver | str]:
            together.wait()  # answers only once all eight shops are asked
            return real.decrypt(refs)

    for i in range(8):
        h.rt.storefronts[f"shop-{i}"] = SlowShop()  # type: ignore[assignment]
    got = list(h.rt.receivers.by_shop(h.rt, _orders(db, *pids), name="decrypt-test-eight"))
    assert sorted(shop for shop, _o, answer in got if isinstance(answer, dict)) == [f"shop-{i}" for i in range(8)]

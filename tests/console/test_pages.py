"""Each page of the console over the seeded data set, each action audited with the signed-in user, masking."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from syncd import i18n
from syncd.store.db import Database
from syncd.store.models import Alert, AuditEntry, Order
from tests.console.conftest import Resyncs, TestClient, csrf_of
from tests.console.seed import COURIER_PHONE, Seeded


def _audit(db: Database, action: str) -> list[AuditEntry]:
    with db.read() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_overview_given_the_data_shows_counts_urgent_orders_alerts_stages_and_tokens(signed_in: TestClient,
                                                                                   seeded: Seeded):
    html = signed_in.get("/").text
    assert f'href="/orders/{seeded.late}"' in html  # past its ship-by: listed as urgent
    assert f'href="/orders/{seeded.fresh}"' not in html  # ship-by two days away
    assert "LATE" in html
    assert "failing (2 times)" in html  # forward acme
    assert "shop-a" in html and "expires soon" in html  # refresh token within a day
    assert '"funnel": [{"name": "pulled", "value": 5}, {"name": "sent to supplier", "value": 2}' in html
    assert '{"name": "shipped by supplier", "value": 1}, {"name": "tracking on the storefront", "value": 1}' in html


def test_overview_given_chinese_is_chinese(signed_in: TestClient):
    with i18n.use("zh-CN"):
        html = signed_in.get("/").text
    assert "总览" in html and "快到或已过最晚发货时间" in html and "近 7 天的履约漏斗" in html


def test_orders_list_given_no_filter_lists_newest_first(signed_in: TestClient, seeded: Seeded):
    html = signed_in.get("/orders").text
    assert html.index(f'href="/orders/{seeded.fresh}"') < html.index(f'href="/orders/{seeded.shipped}"')


@pytest.mark.parametrize(("query", "expected"), [
    ("state=held", {"held"}), ("shop=shop-b", {"fresh"}), ("supplier=acme", {"shipped", "placed"}),
    ("hold_reason=unmapped_sku", {"held"}), ("q=A3", {"late"}), ("q=SF123", {"shipped"}), ("q=4321", {"shipped"}),
    ("q=nothing-like-it", set()),
])
def test_orders_list_given_a_filter_or_search_lists_only_its_orders(signed_in: TestClient, seeded: Seeded, query: str,
                                                                    expected: set[str]):
    html = signed_in.get(f"/orders?{query}").text
    names = {"shipped", "placed", "held", "late", "fresh"}
    listed = {n for n in names if f'href="/orders/{getattr(seeded, n)}"' in html}
    assert listed == expected


def test_orders_list_given_a_bad_date_or_state_says_so_and_lists_anyway(signed_in: TestClient):
    r = signed_in.get("/orders?from=yesterday&state=lost")
    assert r.status_code == 200
    assert "dates are written YYYY-MM-DD" in r.text and "unknown state lost" in r.text


def test_orders_list_given_more_than_a_page_links_to_older_orders(signed_in: TestClient, seeded: Seeded, monkeypatch):
    monkeypatch.setattr("syncd.console.pages.PAGE_SIZE", 2)
    html = signed_in.get("/orders?shop=shop-a").text
    assert "before=" in html
    older = signed_in.get(f"/orders?shop=shop-a&before={seeded.held}").text
    assert f'href="/orders/{seeded.placed}"' in older and f'href="/orders/{seeded.held}"' not in older


def test_order_detail_given_a_shipped_order_shows_lines_parcels_and_timeline_masked(signed_in: TestClient,
                                                                                   seeded: Seeded):
    html = signed_in.get(f"/orders/{seeded.shipped}").text
    assert "SF123" in html and "PO-9" in html and "AC-1×1" in html
    assert "138****4321" in html and "张*" in html
    assert "快件到达杭州中转部" in html  # the scan is on the timeline...
    assert COURIER_PHONE not in html  # ...with the courier's number masked
    assert "139****5678" in html


def test_order_detail_given_an_unknown_id_answers_404(signed_in: TestClient):
    assert signed_in.get("/orders/999999").status_code == 404


def test_pages_given_personal_data_in_outside_text_never_show_a_full_phone(signed_in: TestClient, seeded: Seeded):
    for path in ["/", "/orders", f"/orders/{seeded.shipped}", "/alerts", "/suppliers"]:
        r = signed_in.get(path)
        assert r.status_code == 200, path
        assert COURIER_PHONE not in r.text, path


def test_release_given_a_held_order_releases_it_and_audits_the_user(signed_in: TestClient, db: Database,
                                                                    seeded: Seeded):
    token = csrf_of(signed_in.get(f"/orders/{seeded.held}").text)
    r = signed_in.post(f"/orders/{seeded.held}/release", data={"csrf": token, "reason": "route added"})
    assert r.status_code == 303 and r.headers["location"] == f"/orders/{seeded.held}"
    assert "Released: the order is now new." in signed_in.get(r.headers["location"]).text
    with db.read() as s:
        assert s.get(Order, seeded.held).state == "new"
    [entry] = _audit(db, "release")
    assert entry.actor == "console:admin" and "route added" in entry.detail and entry.subject == "order shop-a/A2"


def test_release_given_an_order_not_held_shows_the_refusal(signed_in: TestClient, db: Database, seeded: Seeded):
    token = csrf_of(signed_in.get("/").text)
    r = signed_in.post(f"/orders/{seeded.placed}/release", data={"csrf": token})
    assert "not held: nothing to release" in signed_in.get(r.headers["location"]).text
    assert _audit(db, "release") == []


def test_hold_given_a_reason_holds_and_audits_the_user(signed_in: TestClient, db: Database, seeded: Seeded):
    token = csrf_of(signed_in.get("/").text)
    signed_in.post(f"/orders/{seeded.placed}/hold", data={"csrf": token, "reason": "buyer called"})
    with db.read() as s:
        o = s.get(Order, seeded.placed)
        assert (o.state, o.hold_reason) == ("held", "manual")
    [entry] = _audit(db, "hold")
    assert entry.actor == "console:admin" and "buyer called" in entry.detail


def test_hold_given_no_reason_is_refused(signed_in: TestClient, db: Database, seeded: Seeded):
    token = csrf_of(signed_in.get("/").text)
    r = signed_in.post(f"/orders/{seeded.placed}/hold", data={"csrf": token, "reason": " "})
    assert "Say why the order is held." in signed_in.get(r.headers["location"]).text
    with db.read() as s:
        assert s.get(Order, seeded.placed).state == "placed"


def test_resync_given_an_order_reads_it_again_as_the_user(signed_in: TestClient, seeded: Seeded, resyncs: Resyncs):
    token = csrf_of(signed_in.get("/").text)
    r = signed_in.post(f"/orders/{seeded.fresh}/resync", data={"csrf": token, "reason": "buyer changed address"})
    assert resyncs.calls == [("shop-b", "B0", "console:admin", "buyer changed address")]
    assert "Read again from the storefront: changed." in signed_in.get(r.headers["location"]).text


def test_unknown_action_is_refused(signed_in: TestClient, seeded: Seeded):
    token = csrf_of(signed_in.get("/").text)
    r = signed_in.post(f"/orders/{seeded.fresh}/delete", data={"csrf": token})
    assert "Unknown action." in signed_in.get(r.headers["location"]).text


def test_alerts_given_open_and_resolved_shows_both_with_advice(signed_in: TestClient, seeded: Seeded):
    html = signed_in.get("/alerts").text
    assert f"#{seeded.stalled_alert}" in html and f"#{seeded.held_alert}" in html
    assert "file a trace with the carrier" in html  # what to do about stalled_in_transit
    assert "Resolved in the last 7 days" in html and "供应商发货慢：acme" in html
    assert html.index(f"#{seeded.stalled_alert}") < html.index(f"#{seeded.held_alert}")  # critical first


def test_ack_given_an_open_alert_acknowledges_it_and_audits_the_user(signed_in: TestClient, db: Database,
                                                                     seeded: Seeded):
    token = csrf_of(signed_in.get("/alerts").text)
    r = signed_in.post(f"/alerts/{seeded.held_alert}/ack", data={"csrf": token, "reason": "on it"})
    assert f"Alert #{seeded.held_alert} acknowledged" in signed_in.get(r.headers["location"]).text
    with db.read() as s:
        assert s.get(Alert, seeded.held_alert).acked_by == "console:admin"
    [entry] = _audit(db, "ack_alert")
    assert entry.actor == "console:admin" and "on it" in entry.detail
    r = signed_in.post(f"/alerts/{seeded.held_alert}/ack", data={"csrf": token})
    assert "acknowledged already" in signed_in.get(r.headers["location"]).text


def test_suppliers_given_the_data_shows_late_supplier_carriers_and_stalled_parcel(signed_in: TestClient,
                                                                                  seeded: Seeded):
    html = signed_in.get("/suppliers").text
    assert "acme" in html and '<span class="badge bad">1</span>' in html  # A1 placed 30 h ago, ships within 24 h
    assert "SF123" in html and "stalled in transit" in html and "快件到达杭州中转部" in html
    assert f'href="/orders/{seeded.shipped}"' in html


def test_reports_given_the_default_period_shows_every_section_of_syncd_report(signed_in: TestClient, seeded: Seeded):
    html = signed_in.get("/reports").text
    for title in ("Processing speed", "Shipped before the ship-by time", "Logistics", "Cost and margin"):
        assert title in html
    assert "acme" in html  # grouped by supplier by default
    assert 'value="supplier" selected' in html


def test_reports_given_a_grouping_and_period_uses_them(signed_in: TestClient, seeded: Seeded):
    html = signed_in.get("/reports?by=carrier&from=2026-01-01&to=2026-01-31").text
    assert 'value="carrier" selected' in html and 'value="2026-01-01"' in html
    assert "(nothing in this period)" in html


@pytest.mark.parametrize("query", ["by=colour", "from=2026-02-01&to=2026-01-01", "from=2025-01-01&to=2026-01-01",
                                   "from=someday"])
def test_reports_given_a_bad_grouping_or_period_says_so_and_shows_the_default(signed_in: TestClient, query: str):
    r = signed_in.get(f"/reports?{query}")
    assert r.status_code == 200
    assert "unknown grouping colour" in r.text or "spans at most 92 days" in r.text

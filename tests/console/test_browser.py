"""The console in a real browser: the machine's Debian chromium driven by Playwright (no browser download).

Signs in, opens each page, does each action, and fails on any JavaScript error, any failed request and any answer
of 400 or more. Screenshots of each page (laptop and phone width) go to ``$SYNCD_SCREENSHOTS`` (the committed set in
docs/console/ is made with ``SYNCD_SCREENSHOTS=docs/console``), else to the test's temporary folder.

Skipped with the reason shown when chromium or Playwright is missing, except under ``SYNCD_REQUIRE_BROWSER=1``
(.ci/run sets it after installing chromium), where that is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from syncd import clock, i18n
from syncd.httpd import Listener, Readiness
from syncd.store.db import Database, open_database
from syncd.store.migrate import upgrade
from tests.console.conftest import PASSWORD, Resyncs, make_console
from tests.console.seed import COURIER_PHONE, Seeded, seed

CHROMIUM = os.environ.get("SYNCD_CHROMIUM", "/usr/bin/chromium")
REQUIRED = os.environ.get("SYNCD_REQUIRE_BROWSER") == "1"
SHOTS = os.environ.get("SYNCD_SCREENSHOTS")  # read at import: the tests' own fixture clears SYNCD_* before each test


def _missing() -> str | None:
    if not shutil.which(CHROMIUM):
        return f"no chromium at {CHROMIUM} (apt-get install chromium fonts-wqy-microhei)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[dev]')"
    return None


MISSING = _missing()
if MISSING and REQUIRED:
    raise RuntimeError(f"SYNCD_REQUIRE_BROWSER=1 but {MISSING}")
pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"browser tests skipped: {MISSING}")


@dataclass
class Site:
    url: str
    db: Database
    ids: Seeded
    resyncs: Resyncs
    shots: Path


@dataclass
class Watch:
    """Everything that went wrong in the page: JS errors, failed requests, answers >= 400."""

    problems: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on("pageerror", lambda err: self.problems.append(f"JS error: {err}"))
        page.on("console", lambda msg: self.problems.append(f"console {msg.type}: {msg.text}")
                if msg.type == "error" else None)
        page.on("requestfailed", lambda req: self.problems.append(f"request failed: {req.url} {req.failure}"))
        page.on("response", lambda r: self.problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    db = open_database(f"sqlite:///{tmp_path / 'console.db'}")
    upgrade(db)
    ids = seed(db, clock.now())
    resyncs = Resyncs()
    listener = Listener(readiness=lambda: Readiness(()), metrics=lambda: "", console=make_console(db, resyncs).app())
    listener.start()
    shots = Path(SHOTS or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    try:
        with i18n.use("zh-CN"):
            yield Site(listener.url, db, ids, resyncs, shots)
    finally:
        listener.stop()
        db.dispose()


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield b
        finally:
            b.close()


def _page(browser: Any, watch: Watch, *, phone: bool = False) -> Any:
    size = {"width": 390, "height": 844} if phone else {"width": 1360, "height": 900}
    page = browser.new_context(viewport=size, locale="zh-CN", device_scale_factor=2 if phone else 1).new_page()
    watch.attach(page)
    return page


def _sign_in(page: Any, site: Site) -> None:
    page.goto(site.url + "/")
    assert page.url.startswith(site.url + "/login")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(site.url + "/")


def test_browser_given_a_signed_in_user_every_page_renders_without_errors(browser: Any, site: Site):
    watch = Watch()
    page = _page(browser, watch)
    page.goto(site.url + "/login")
    page.screenshot(path=str(site.shots / "login.png"))
    _sign_in(page, site)
    page.wait_for_selector("#chart-funnel svg")  # ECharts drew the funnel
    page.wait_for_selector("#chart-shops svg")
    assert "总览" in page.inner_text("h1")
    assert "快到或已过最晚发货时间" in page.inner_text("main")
    page.screenshot(path=str(site.shots / "overview.png"), full_page=True)

    page.goto(site.url + "/orders")
    assert page.locator("table#orders tr").count() == 1 + 5
    page.fill("input[name=q]", "SF123")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/orders?q=SF123*")
    assert page.locator("table#orders tr").count() == 2
    page.goto(site.url + "/orders")
    page.screenshot(path=str(site.shots / "orders.png"), full_page=True)

    page.goto(f"{site.url}/orders/{site.ids.shipped}")
    text = page.inner_text("main")
    assert "时间线" in text and "138****4321" in text and COURIER_PHONE not in page.content()
    page.screenshot(path=str(site.shots / "order.png"), full_page=True)

    page.goto(site.url + "/alerts")
    assert "处理建议" in page.inner_text("main")
    page.screenshot(path=str(site.shots / "alerts.png"), full_page=True)

    page.goto(site.url + "/suppliers")
    page.wait_for_selector("#chart-carriers svg")
    assert "SF123" in page.inner_text("table#parcels")
    page.screenshot(path=str(site.shots / "suppliers.png"), full_page=True)

    page.click("a[href='/reports?by=supplier']")
    page.wait_for_url("**/reports?by=supplier")
    assert "成本与毛利" in page.inner_text("main") and "acme" in page.inner_text("main")
    page.screenshot(path=str(site.shots / "reports.png"), full_page=True)
    assert watch.problems == []


def test_browser_given_each_action_it_is_done_and_shown(browser: Any, site: Site):
    watch = Watch()
    page = _page(browser, watch)
    _sign_in(page, site)

    page.goto(f"{site.url}/orders/{site.ids.held}")
    page.fill("form[action$='/release'] input[name=reason]", "已补路由")
    page.click("#release")
    page.wait_for_selector(".flash.ok")
    assert "已解除暂扣" in page.inner_text(".flash.ok")

    page.goto(f"{site.url}/orders/{site.ids.placed}")
    page.fill("form[action$='/hold'] input[name=reason]", "买家来电要求改地址")
    page.click("#hold")
    page.wait_for_selector(".flash.ok")
    assert "已暂扣" in page.inner_text(".flash.ok")

    page.fill("form[action$='/resync'] input[name=reason]", "核对地址")
    page.click("#resync")
    page.wait_for_selector(".flash.ok")
    assert site.resyncs.calls == [("shop-a", "A1", "console:admin", "核对地址")]

    page.goto(site.url + "/alerts")
    before = page.locator("button.ack").count()
    page.locator("button.ack").first.click()
    page.wait_for_selector(".flash.ok")
    assert page.locator("button.ack").count() == before - 1

    page.click("header .who button")
    page.wait_for_url("**/login")
    page.goto(site.url + "/orders")
    assert "/login" in page.url
    assert watch.problems == []


def test_browser_given_a_phone_width_the_pages_fit(browser: Any, site: Site):
    watch = Watch()
    page = _page(browser, watch, phone=True)
    _sign_in(page, site)
    page.wait_for_selector("#chart-funnel svg")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # no sideways scrolling of the page; wide tables scroll inside their card
    page.screenshot(path=str(site.shots / "overview-phone.png"), full_page=True)
    page.goto(f"{site.url}/orders/{site.ids.shipped}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(site.shots / "order-phone.png"), full_page=True)
    assert watch.problems == []

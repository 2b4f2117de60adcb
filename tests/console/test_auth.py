"""Sign-in, sessions, CSRF and the sign-in rate limit of the console."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from syncd.console.auth import AttemptLimit, BadHash, PasswordHash, Sessions, hash_password
from syncd.console.settings import ConsoleSettings
from syncd.store.db import Database
from syncd.store.models import Order
from tests.console.conftest import PASSWORD, TestClient, csrf_of, make_console, sign_in
from tests.console.seed import Seeded

PAGES = ["/", "/orders", "/orders/1", "/alerts", "/suppliers"]


def test_hash_password_given_the_password_verifies_and_another_does_not():
    stored = PasswordHash.parse(hash_password("s3cret"))
    assert stored.verify("s3cret")
    assert not stored.verify("s3cret ")
    assert not stored.verify("x" * 5000)  # bounded before it is hashed


@pytest.mark.parametrize("text", ["", "plain", "scrypt:16384:8:1:!!:!!", "scrypt:3:8:1:YWFh:YWFhYWFhYWFhYWFhYWFhYWFh",
                                  "scrypt:4194304:8:1:YWFh:YWFhYWFhYWFhYWFhYWFhYWFh"])
def test_password_hash_given_a_malformed_or_costly_hash_refuses_without_quoting_it(text: str):
    with pytest.raises(BadHash) as err:
        PasswordHash.parse(text)
    assert text not in str(err.value) or not text


def test_console_settings_given_a_bad_hash_name_the_variable_not_the_value():
    with pytest.raises(ValueError, match="password_hash") as err:
        ConsoleSettings(password_hash="scrypt:nonsense-secret")
    assert "nonsense-secret" not in str(err.value)


def test_sessions_given_the_ttl_passed_forget_the_session():
    now = [0.0]
    sessions = Sessions(ttl=60, monotonic=lambda: now[0])
    s = sessions.create("admin")
    assert sessions.get(s.token) is s
    now[0] = 61
    assert sessions.get(s.token) is None


def test_sessions_given_more_than_the_limit_drop_the_oldest():
    sessions = Sessions(limit=2)
    first, second, third = (sessions.create(u) for u in "abc")
    assert sessions.get(first.token) is None
    assert sessions.get(second.token) is second and sessions.get(third.token) is third


def test_attempt_limit_given_five_failures_refuses_until_the_first_leaves_the_window():
    now = [0.0]
    limit = AttemptLimit(max_failures=5, window=300, monotonic=lambda: now[0])
    for i in range(5):
        now[0] = float(i)
        assert limit.retry_after("1.2.3.4") == 0
        limit.failed("1.2.3.4")
    assert limit.retry_after("1.2.3.4") == 296
    assert limit.retry_after("5.6.7.8") == 0  # per client
    now[0] = 300.5
    assert limit.retry_after("1.2.3.4") == 0


@pytest.mark.parametrize("path", PAGES)
def test_page_given_no_session_redirects_to_sign_in(client: TestClient, path: str):
    r = client.get(path)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=")


def test_static_files_given_no_session_are_served(client: TestClient):
    r = client.get("/static/console.css")
    assert r.status_code == 200
    assert client.get("/static/echarts.min.js").status_code == 200


def test_action_given_no_session_is_refused_and_changes_nothing(client: TestClient, db: Database, seeded: Seeded):
    r = client.post(f"/orders/{seeded.held}/release", data={"reason": "x"})
    assert r.status_code == 403
    with db.read() as s:
        assert s.get(Order, seeded.held).state == "held"


def test_sign_in_given_a_wrong_password_answers_401_and_no_cookie(client: TestClient):
    r = sign_in(client, "wrong")
    assert r.status_code == 401
    assert "syncd_session" not in r.headers.get("set-cookie", "")
    assert client.get("/").status_code == 303


def test_sign_in_given_the_password_sets_a_strict_httponly_cookie_and_opens_the_pages(client: TestClient):
    r = sign_in(client)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
    assert client.get("/").status_code == 200


def test_sign_in_given_https_marks_the_cookie_secure(console):
    with TestClient(console.app(), base_url="https://testserver", follow_redirects=False) as c:
        assert "secure" in sign_in(c).headers["set-cookie"].lower()


def test_sign_in_given_next_returns_there_but_never_to_another_site(client: TestClient):
    r = client.post("/login", data={"password": PASSWORD, "next": "/orders?state=held"})
    assert r.headers["location"] == "/orders?state=held"
    client.post("/logout", data={"csrf": csrf_of(client.get("/").text)})
    r = client.post("/login", data={"password": PASSWORD, "next": "//evil.example/x"})
    assert r.headers["location"] == "/"


def test_sign_in_given_five_failures_refuses_the_right_password_too(client: TestClient, caplog):
    for _ in range(5):
        assert sign_in(client, "wrong").status_code == 401
    r = sign_in(client)
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    assert client.get("/").status_code == 303
    assert PASSWORD not in caplog.text and "wrong" not in caplog.text


def test_action_given_no_csrf_token_is_refused_and_the_order_stays_held(signed_in: TestClient, db: Database,
                                                                        seeded: Seeded):
    r = signed_in.post(f"/orders/{seeded.held}/release", data={"reason": "x"})
    assert r.status_code == 403
    r = signed_in.post(f"/orders/{seeded.held}/release", data={"reason": "x", "csrf": "guess"})
    assert r.status_code == 403
    with db.read() as s:
        assert s.get(Order, seeded.held).state == "held"


def test_action_given_another_sessions_csrf_token_is_refused(console, db: Database, seeded: Seeded):
    with TestClient(console.app(), follow_redirects=False) as a, \
            TestClient(console.app(), follow_redirects=False) as b:
        sign_in(a), sign_in(b)
        token_of_a = csrf_of(a.get("/").text)
        assert b.post(f"/orders/{seeded.held}/release", data={"csrf": token_of_a}).status_code == 403
    with db.read() as s:
        assert s.get(Order, seeded.held).state == "held"


def test_form_given_a_body_past_the_bound_is_refused(signed_in: TestClient):
    r = signed_in.post("/logout", content=b"a=" + b"x" * 20_000,
                       headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413


def test_sign_out_given_a_session_ends_it(signed_in: TestClient):
    token = csrf_of(signed_in.get("/").text)
    assert signed_in.post("/logout", data={"csrf": token}).status_code == 303
    assert signed_in.get("/").status_code == 303


def test_header_mode_given_the_header_from_a_trusted_proxy_signs_in_that_user(db: Database, seeded: Seeded):
    console = make_console(db, password_hash=None, trusted_header="X-Forwarded-User", trusted_proxies="testclient")
    with TestClient(console.app(), follow_redirects=False) as c:
        assert c.get("/").status_code == 303  # no header: no access
        r = c.get("/", headers={"X-Forwarded-User": "li.lei"})
        assert r.status_code == 200 and "li.lei" in r.text
        token = csrf_of(r.text)
        c.post(f"/orders/{seeded.held}/hold", data={"csrf": token, "reason": "check"},
               headers={"X-Forwarded-User": "li.lei"})
        assert c.get("/", headers={"X-Forwarded-User": "li.lei"}).status_code == 200


def test_header_mode_given_the_header_from_an_untrusted_client_ignores_it(db: Database, seeded: Seeded):
    console = make_console(db, password_hash=None, trusted_header="X-Forwarded-User")  # loopback only
    with TestClient(console.app(), follow_redirects=False) as c:
        assert c.get("/", headers={"X-Forwarded-User": "mallory"}).status_code == 303


def test_sign_in_page_given_no_password_configured_says_how_to_set_one(db: Database, seeded: Seeded):
    console = make_console(db, password_hash=None)
    with TestClient(console.app(), follow_redirects=False) as c:
        assert "hash-password" in c.get("/login").text
        assert sign_in(c).status_code == 403


def test_every_answer_carries_the_security_headers(signed_in: TestClient):
    r = signed_in.get("/")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"


def test_seeded_ids_match_the_orders(db: Database, seeded: Seeded):
    with db.read() as s:
        assert s.scalar(select(Order.platform_order_id).where(Order.id == seeded.held)) == "A2"

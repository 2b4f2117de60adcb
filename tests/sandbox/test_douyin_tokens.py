"""token.refresh follows the three documented cases (reference/storefronts.md §1.3)."""

from __future__ import annotations

LIST = {"update_time_start": 1_799_900_000, "page": 0, "size": 1}
HOUR = 3600


def _refresh(client, refresh_token):
    return client.call("token.refresh", {"grant_type": "refresh_token", "refresh_token": refresh_token})


def _ok_with(client, token):
    return client.call("order.searchList", LIST, token=token)


def test_refresh_more_than_an_hour_before_expiry_returns_the_same_pair_and_expiry(make_sim, clock):
    _, client = make_sim(token_ttl=10 * HOUR)
    first = client.login()["data"]
    clock.advance(5 * HOUR)
    again = _refresh(client, first["refresh_token"])
    assert again["code"] == 10000
    data = again["data"]
    assert (data["access_token"], data["refresh_token"]) == (first["access_token"], first["refresh_token"])
    assert data["expires_in"] == 5 * HOUR  # relative seconds; the absolute expiry did not move


def test_refresh_in_the_last_hour_gives_a_new_pair_and_the_old_one_lives_one_more_hour(make_sim, clock):
    _, client = make_sim(token_ttl=10 * HOUR)
    old = client.login()["data"]
    clock.advance(9 * HOUR + 30 * 60)
    new = _refresh(client, old["refresh_token"])["data"]
    assert new["access_token"] != old["access_token"] and new["refresh_token"] != old["refresh_token"]
    assert new["expires_in"] == 10 * HOUR
    clock.advance(HOUR - 1)  # past the old expiry, within the extra hour
    assert _ok_with(client, old["access_token"])["code"] == 10000
    assert _refresh(client, old["refresh_token"])["data"]["access_token"] == new["access_token"]
    clock.advance(1)
    assert _ok_with(client, old["access_token"])["sub_code"] == "isv.access-token-expired"
    assert _ok_with(client, new["access_token"])["code"] == 10000


def test_refresh_after_expiry_gives_a_new_pair_and_the_old_one_dies_at_once(make_sim, clock):
    _, client = make_sim(token_ttl=HOUR * 2)
    old = client.login()["data"]
    clock.advance(3 * HOUR)
    new = _refresh(client, old["refresh_token"])
    assert new["code"] == 10000
    assert new["data"]["access_token"] != old["access_token"]
    assert _ok_with(client, old["access_token"])["sub_code"] == "isv.access-token-no-existed"
    assert _ok_with(client, new["data"]["access_token"])["code"] == 10000
    assert _refresh(client, old["refresh_token"])["code"] == 50001


def test_refresh_token_lapses_after_its_lifetime(make_sim, clock):
    _, client = make_sim(token_ttl=HOUR, refresh_ttl=2 * HOUR)
    old = client.login()["data"]
    clock.advance(2 * HOUR)
    answer = _refresh(client, old["refresh_token"])
    assert (answer["code"], answer["sub_code"]) == (50001, "dop.token-generate-failed:token-expired")
    assert _refresh(client, "rt-unknown")["sub_code"] == "dop.token-generate-failed:token-invalid"


def test_refresh_needs_grant_type_refresh_token(douyin):
    _, client = douyin
    assert client.call("token.refresh", {"refresh_token": "x"})["code"] == 40002
    assert client.call("token.refresh", {"grant_type": "authorization_self", "refresh_token": "x"})["code"] == 40004

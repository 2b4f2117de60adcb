"""The robot signatures against the reference's vectors (§E.1, §E.3) and the webhook's own scheme."""

from __future__ import annotations

import base64
import hashlib
import hmac

from syncd.adapters.alerts.signing import dingtalk_sign, feishu_sign, webhook_signature


def test_dingtalk_sign_matches_the_reference_vector() -> None:
    assert dingtalk_sign("SECtest", 1700000000000) == "aZLLrriXgn05YbwaGR7knYsLeJADjr9NwLaNNKpxh4g="


def test_feishu_sign_matches_the_reference_vector() -> None:
    assert feishu_sign("SECtest", 1700000000) == "G7XpBpG8NgG02fJOAhX6FRAObIljmFoxVReo8I62pEk="


def test_feishu_sign_is_not_the_dingtalk_variant() -> None:
    # key = secret, msg = "ts\nsecret" is DingTalk's algorithm; Feishu refuses it with 19021
    wrong = "4a+I/5ws+NoapnHErfi4wLu5as2XKn44STmnPCuf/ew="
    assert dingtalk_sign("SECtest", 1700000000) == wrong
    assert feishu_sign("SECtest", 1700000000) != wrong


def test_dingtalk_sign_depends_on_milliseconds_and_the_secret() -> None:
    assert dingtalk_sign("SECtest", 1700000000001) != dingtalk_sign("SECtest", 1700000000000)
    assert dingtalk_sign("SECother", 1700000000000) != dingtalk_sign("SECtest", 1700000000000)


def test_webhook_signature_is_hex_hmac_of_timestamp_dot_body() -> None:
    body = '{"title":"订单"}'.encode()
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()

    signature = webhook_signature("s3cret", 1700000000, body)

    assert signature == "v1=" + expected
    assert signature == "v1=" + hmac.new(b"s3cret", b"1700000000." + body, "sha256").hexdigest()
    assert webhook_signature("s3cret", 1700000001, body) != signature


def test_webhook_signature_fixed_vector() -> None:
    # A vector receivers can check their implementation against (also in the module docstring's terms).
    got = webhook_signature("whsec", 1700000000, b'{"a":1}')
    mac = hmac.new(b"whsec", b'1700000000.{"a":1}', hashlib.sha256).digest()
    assert got == "v1=" + mac.hex()
    assert len(got) == 3 + 64 and base64.b16decode(got[3:].upper())

"""The worked examples of reference/storefronts.md §3.2 are test vectors."""

from __future__ import annotations

from typing import Any

import pytest

from syncd.adapters.taobao.signing import sign, sign_base
from tests.adapters.taobao.conftest import fixture

VECTORS: list[dict[str, Any]] = fixture("sign_vectors.json")["vectors"]


@pytest.mark.parametrize("vector", VECTORS, ids=[f"{v['params']['sign_method']}-{v['secret']}" for v in VECTORS])
def test_sign_given_reference_example_reproduces_its_signature(vector: dict[str, Any]) -> None:
    params = vector["params"]

    assert sign(params, vector["secret"], params["sign_method"]) == vector["sign"]


def test_sign_base_given_the_official_example_concatenates_sorted_key_values() -> None:
    vector = VECTORS[0]

    assert sign_base(vector["params"]) == vector["base"]


def test_sign_base_leaves_out_sign_and_empty_keys_and_values() -> None:
    assert sign_base({"b": "2", "a": "1", "sign": "XYZ", "empty": "", "": "orphan"}) == "a1b2"


def test_sign_given_another_secret_changes_for_every_method() -> None:
    params = VECTORS[0]["params"]
    for method in ("md5", "hmac", "hmac-sha256"):
        assert sign(params, "helloworld", method) != sign(params, "helloworld2", method)


def test_sign_is_upper_case_hex() -> None:
    for method, size in (("md5", 32), ("hmac", 32), ("hmac-sha256", 64)):
        value = sign({"a": "1"}, "s", method)
        assert len(value) == size and value == value.upper()


def test_sign_given_unknown_method_raises() -> None:
    with pytest.raises(ValueError, match="sha1"):
        sign({"a": "1"}, "s", "sha1")

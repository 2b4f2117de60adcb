"""syncd.jsoncodec: orjson on the hot paths, the standard library wherever orjson refuses."""

from __future__ import annotations

import json
import math

import pytest

from syncd import jsoncodec


def test_loads_given_a_page_decodes_it_with_ids_and_chinese_text_intact() -> None:
    body = json.dumps({"order_id": 6921234567890123456, "big": 18446744073709551615, "name": "张三"},
                      ensure_ascii=False).encode()
    assert jsoncodec.loads(body) == {"order_id": 6921234567890123456, "big": 18446744073709551615, "name": "张三"}


def test_loads_given_what_only_the_standard_library_accepts_decodes_it_as_before() -> None:
    assert math.isnan(jsoncodec.loads(b'{"x": NaN}')["x"])
    assert jsoncodec.loads('{"name": "张三"}'.encode("utf-16")) == {"name": "张三"}


@pytest.mark.parametrize("body", [b"", b"<html>502 Bad Gateway</html>", b'{"code": 0', b"\xff\xfe\x00"])
def test_loads_given_no_json_raises_value_error(body: bytes) -> None:
    with pytest.raises(ValueError):
        jsoncodec.loads(body)


def test_dumps_given_what_orjson_cannot_write_falls_back_on_the_standard_library() -> None:
    assert json.loads(jsoncodec.dumps({"a": 2**70, "b": "张"})) == {"a": 2**70, "b": "张"}
    assert json.loads(jsoncodec.dumps({"a": [1, None, True]})) == {"a": [1, None, True]}


def test_fingerprint_ignores_key_order_and_tells_content_apart() -> None:
    a = {"order_id": "1", "lines": [{"n": 1, "sku": "A"}], "memo": "加急"}
    same_other_order = {"memo": "加急", "lines": [{"sku": "A", "n": 1}], "order_id": "1"}
    assert jsoncodec.fingerprint(a) == jsoncodec.fingerprint(same_other_order)
    assert jsoncodec.fingerprint(a) != jsoncodec.fingerprint({**a, "memo": ""})
    assert jsoncodec.fingerprint({"a": 2**70}) != jsoncodec.fingerprint({"a": 2**70 + 1})  # the fallback path

"""The self-computed vectors of reference §C.1 (query) and §C.3 (push) are test vectors."""

from syncd.adapters.kuaidi100.signing import param_json, push_sign, push_sign_ok, query_sign

VECTOR_PARAM = '{"com":"yuantong","num":"YT0000000000000"}'


def test_query_sign_given_the_reference_vector_reproduces_it() -> None:
    assert query_sign(VECTOR_PARAM, "testKey", "TESTCUSTOMER") == "7FFBD67074FFF2021E2B51B3E8650797"


def test_push_sign_given_the_reference_vector_reproduces_it() -> None:
    assert push_sign(VECTOR_PARAM, "s") == "BBA3692F0241E1D6087763FAE6F56FAB"


def test_param_json_is_the_compact_text_the_vectors_sign() -> None:
    assert param_json({"com": "yuantong", "num": "YT0000000000000"}) == VECTOR_PARAM


def test_param_json_keeps_chinese_as_is() -> None:
    assert param_json({"to": "广东省深圳市"}) == '{"to":"广东省深圳市"}'


def test_push_sign_ok_accepts_the_right_signature_in_either_case() -> None:
    assert push_sign_ok(VECTOR_PARAM, "s", "BBA3692F0241E1D6087763FAE6F56FAB")
    assert push_sign_ok(VECTOR_PARAM, "s", "bba3692f0241e1d6087763fae6f56fab")


def test_push_sign_ok_refuses_another_salt_a_changed_param_and_garbage() -> None:
    assert not push_sign_ok(VECTOR_PARAM, "t", "BBA3692F0241E1D6087763FAE6F56FAB")
    assert not push_sign_ok(VECTOR_PARAM.replace("YT0", "YT1"), "s", "BBA3692F0241E1D6087763FAE6F56FAB")
    assert not push_sign_ok(VECTOR_PARAM, "s", "")
    assert not push_sign_ok(VECTOR_PARAM, "s", "不是签名")

"""The official worked example of reference/storefronts.md §2.2 is a test vector."""

from syncd.adapters.pdd.signing import flatten, sign, wire_value

VECTOR = {"access_token": "asd78172s8ds9a921j9qqwda12312w1w21211", "client_id": "1", "data_type": "XML",
          "order_status": "1", "page": "1", "page_size": "10", "timestamp": "1480411125",
          "type": "pdd.order.number.list.get"}


def test_sign_given_the_official_example_reproduces_its_signature() -> None:
    assert sign(VECTOR, "testSecret") == "E4DE3ED21002510DED352819E7AE6775"


def test_sign_given_the_same_params_in_another_order_gives_the_same_signature() -> None:
    assert sign(dict(reversed(list(VECTOR.items()))), "testSecret") == "E4DE3ED21002510DED352819E7AE6775"


def test_sign_leaves_out_the_sign_parameter_itself() -> None:
    assert sign({**VECTOR, "sign": "ANYTHING"}, "testSecret") == "E4DE3ED21002510DED352819E7AE6775"


def test_sign_given_typed_params_flattened_matches_the_string_vector() -> None:
    typed = {**VECTOR, "order_status": 1, "page": 1, "page_size": 10, "timestamp": 1480411125, "client_id": 1}
    assert sign(flatten(typed), "testSecret") == "E4DE3ED21002510DED352819E7AE6775"


def test_sign_is_upper_case_hex_of_32_characters() -> None:
    signature = sign({"type": "pdd.logistics.companies.get"}, "s")
    assert len(signature) == 32 and signature == signature.upper()


def test_wire_value_given_booleans_writes_them_in_lower_case() -> None:
    assert (wire_value(True), wire_value(False)) == ("true", "false")


def test_wire_value_given_lists_and_objects_writes_compact_json_without_escaping() -> None:
    value = [{"data_tag": "251122-1", "encrypted_data": "~a/b+c==~"}, {"名": "张三"}]
    assert wire_value(value) == '[{"data_tag":"251122-1","encrypted_data":"~a/b+c==~"},{"名":"张三"}]'


def test_flatten_leaves_out_none_and_keeps_zero_and_empty_text() -> None:
    assert flatten({"a": None, "b": 0, "c": "", "d": 1.5}) == {"b": "0", "c": "", "d": "1.5"}

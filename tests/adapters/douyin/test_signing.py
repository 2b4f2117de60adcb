"""The worked examples of reference/storefronts.md §1.2 are test vectors."""

from syncd.adapters.douyin.signing import canonical_param_json, sign

APP_KEY = "1234567890123456789"
SECRET = "test-secret-abc"


def test_canonical_param_json_sorts_keys_at_every_level_and_is_compact():
    params = {"size": 20, "page": 0, "update_time_start": 1699996400, "update_time_end": 1700000000,
              "order_by": "update_time", "combine_status": [{"order_status": "2"}]}
    assert canonical_param_json(params) == (
        '{"combine_status":[{"order_status":"2"}],"order_by":"update_time","page":0,"size":20,'
        '"update_time_end":1700000000,"update_time_start":1699996400}'
    )


def test_sign_hmac_sha256_reproduces_the_reference_vector():
    pj = ('{"combine_status":[{"order_status":"2"}],"order_by":"update_time","page":0,"size":20,'
          '"update_time_end":1700000000,"update_time_start":1699996400}')
    assert sign(APP_KEY, SECRET, "order.searchList", pj, "1700000000") == (
        "3367789d3b5ad3761ffe40d6e426825f8ed78189f8ff8626024d629f8643fd4c"
    )


def test_sign_md5_reproduces_the_reference_vector():
    pj = ('{"combine_status":[{"order_status":"2"}],"order_by":"update_time","page":0,"size":20,'
          '"update_time_end":1700000000,"update_time_start":1699996400}')
    assert sign(APP_KEY, SECRET, "order.searchList", pj, "1700000000", "md5") == "cb96ec7c650a86750d9f15478e798854"


def test_sign_does_not_escape_cjk_emoji_or_html_characters():
    params = {"batch_encrypt_list": [{"plain_text": "&<>='/ô汉😀", "auth_id": "12345",
                                      "is_support_index": False, "sensitive_type": 2}]}
    pj = canonical_param_json(params)
    assert pj == ('{"batch_encrypt_list":[{"auth_id":"12345","is_support_index":false,'
                  '"plain_text":"&<>=\'/ô汉😀","sensitive_type":2}]}')
    assert sign(APP_KEY, SECRET, "order.batchEncrypt", pj, "1700000000") == (
        "77e0cb65808cccd3bf36bebad41645cba1071a202e71d0c602445311c6ae8db5"
    )
